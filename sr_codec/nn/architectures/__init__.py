"""Network architectures, one module each, registered by name (imports Keras).

Adding one: a module here with a frozen dataclass subclassing :class:`Architecture`, decorated
with :func:`register`, plus its import below (docs/architecture.md).
"""

from __future__ import annotations

from . import autoencoder, fast  # noqa: F401  (each registers its architecture)
from .base import Architecture, by_name, from_manifest, names, register

__all__ = ["Architecture", "by_name", "from_manifest", "names", "register"]
