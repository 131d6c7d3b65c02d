"""Resource limits: how big a payload, a bitstream or an image may be before sr_codec refuses it.

A receiver decodes payloads sent by strangers, so every size a payload *declares* is
checked against these limits before anything that large is allocated. Every public entry
point takes ``limits: Limits | None = None``; ``None`` means :data:`DEFAULT_LIMITS`.

Where each limit is checked (all before the allocation they guard):

* ``max_payload_bytes``: the length of the buffer handed to ``decode``/``inspect``, before
  it is copied or parsed; and the packed result of ``encode``.
* ``max_inner_bytes``: each bin field (inner bitstream, coded alpha plane) right after the
  fields are parsed (msgpack itself never accepts a bin longer than the payload); and the
  inner bitstream ``encode`` produced.
* ``max_extension_bytes``: the extension map, before it is parsed.
* ``max_pixels``: at decode, ``width x height`` as declared by the payload, before the inner
  bitstream's header is even read (the header must then declare the matching low-res size
  before any pixel is decoded); at encode, the size an image file's header declares,
  right after ``Image.open`` parsed the header and before any pixel is decoded (arrays and
  PIL images: their shape, before they are copied).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .errors import InputImageError, LimitExceededError

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Upper bounds enforced by ``encode``/``decode``; exceeding one raises :class:`LimitExceededError`.

    The defaults suit chat photos with plenty of headroom: payloads are normally a few KB, but
    a lossless (``inner="png"``, ``scale=1``) payload of a big photo can run to tens of MB.
    A server accepting uploads from strangers may want ``max_payload_bytes`` much lower.
    """

    max_payload_bytes: int = 64 * MiB
    """Largest payload ``decode``/``inspect`` accept (and ``encode`` produces)."""
    max_inner_bytes: int = 64 * MiB
    """Largest inner bitstream or coded alpha plane inside a payload."""
    max_pixels: int = 50_000_000
    """Largest image, in pixels (width x height): input images at encode, declared originals at decode."""
    max_extension_bytes: int = 64 * 1024
    """Largest extension map (the optional fields after the alpha field; none are written by v1)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value <= 0:
                raise InputImageError(f"Limits.{f.name} must be a positive int, got {value!r}")

    def check_payload_bytes(self, size: int) -> None:
        if size > self.max_payload_bytes:
            raise LimitExceededError(f"payload is {size} bytes; the limit is {self.max_payload_bytes}")

    def check_pixels(self, height: int, width: int, what: str = "image") -> None:
        if height * width > self.max_pixels:
            raise LimitExceededError(
                f"{what} is {width} x {height} = {width * height} pixels; the limit is {self.max_pixels}"
            )


DEFAULT_LIMITS = Limits()


def resolve(limits: Limits | None) -> Limits:
    """``limits`` itself, or :data:`DEFAULT_LIMITS` for ``None``; anything else is an :class:`InputImageError`."""
    if limits is None:
        return DEFAULT_LIMITS
    if not isinstance(limits, Limits):
        raise InputImageError(f"limits must be a sr_codec.Limits or None, got {type(limits).__name__}")
    return limits
