"""Inner codecs by name and by wire id: one module per codec, each registering itself on import.

Adding a codec: a module here defining an :class:`InnerCodec` subclass and calling
:func:`register` on an instance, plus its import below (docs/architecture.md).
"""

from __future__ import annotations

from . import avif, jpeg, png, webp  # noqa: F401  (each registers its codec)
from .base import DEFAULT_CODEC, InnerCodec, by_name, by_wire_id, names, register

__all__ = ["DEFAULT_CODEC", "InnerCodec", "by_name", "by_wire_id", "names", "register"]
