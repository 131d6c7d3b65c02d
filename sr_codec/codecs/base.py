"""Inner codecs: the classical codecs that compress the low-resolution image, and their registry.

Each codec is a small class with the same interface (``encode(rgb, quality) -> bytes`` and
``decode(data) -> rgb``) and the one-byte wire id the payload format allocates to it
(:data:`sr_codec.format.payload.INNER_CODEC_IDS`). One module per codec defines it and
registers an instance with :func:`register`; :func:`by_name` and :func:`by_wire_id` look them up.
All run through Pillow, whose wheels carry libavif, libwebp and libjpeg-turbo.

Quality is always on a 0..100 scale where higher means more bytes and better pictures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

from ..errors import InputImageError, PayloadError
from ..format.payload import INNER_CODEC_IDS

DEFAULT_CODEC = "avif"

_BY_NAME: dict[str, InnerCodec] = {}
_BY_WIRE_ID: dict[int, InnerCodec] = {}


@dataclass(frozen=True)
class InnerCodec:
    """Base class: a lossy (or lossless) codec for uint8 H x W x 3 RGB arrays."""

    name: ClassVar[str] = ""
    wire_id: ClassVar[int] = -1
    pil_format: ClassVar[str] = ""
    default_quality: ClassVar[int] = 50
    lossless: ClassVar[bool] = False

    def save_options(self, quality: int) -> dict:
        return {"quality": int(quality)}

    def speed_for(self, height: int, width: int) -> int | None:
        """The encoder speed this configuration uses for a ``height`` x ``width`` image (None: no speed setting)."""
        return None

    def as_plain_file(self) -> InnerCodec:
        """This codec configured as a plain Pillow file of its format is coded (the classical baseline)."""
        return self

    def at_speed(self, speed: int | None) -> InnerCodec:
        """The same codec at encoder ``speed`` (same wire id, same decoder); codecs without a speed setting: itself."""
        return self

    def for_probes(self) -> InnerCodec:
        """The fast configuration rate control probes sizes and qualities with (itself when there is no speed)."""
        return self

    def for_final(self, height: int, width: int) -> InnerCodec:
        """The configuration a chosen ``height`` x ``width`` (low-res) image is finally coded with: the slowest
        that fits rate control's time target (itself when there is no speed setting)."""
        return self

    def encode(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        """Compress ``rgb`` (uint8 H x W x 3) at ``quality`` (0..100; None = the codec's default)."""
        q = self.default_quality if quality is None else quality
        if not 0 <= int(q) <= 100:
            raise InputImageError(f"quality must be in 0..100, got {quality!r}")
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, self.pil_format, **self.save_options(int(q)))
        return buf.getvalue()

    def encode_file(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        """A complete standard file of the format (what :meth:`encode` writes, unless a codec strips a container)."""
        return self.encode(rgb, quality)

    def decode(self, data: bytes) -> np.ndarray:
        """Decompress to uint8 H x W x 3 RGB; any failure becomes :class:`PayloadError`."""
        try:
            with Image.open(io.BytesIO(data), formats=[self.pil_format]) as im:
                return np.asarray(im.convert("RGB"))
        except Exception as exc:  # Pillow raises many types on corrupt data
            raise PayloadError(f"inner {self.name} bitstream cannot be decoded: {exc}") from exc

    def read_size(self, data: bytes) -> tuple[int, int]:
        """(height, width) declared by the bitstream header, without decoding pixels."""
        try:
            with Image.open(io.BytesIO(data), formats=[self.pil_format]) as im:
                return im.size[1], im.size[0]
        except Exception as exc:
            raise PayloadError(f"inner {self.name} bitstream header cannot be read: {exc}") from exc



def register(codec: InnerCodec) -> InnerCodec:
    """Make ``codec`` available by name and by wire id; its id must be one the payload format allocates to its name."""
    if INNER_CODEC_IDS.get(codec.wire_id) != codec.name:
        raise ValueError(
            f"codec {codec.name!r} claims wire id {codec.wire_id}, which payload format v1 gives to "
            f"{INNER_CODEC_IDS.get(codec.wire_id)!r}; a new codec needs a new id in sr_codec/format/payload.py"
        )
    _BY_NAME[codec.name] = codec
    _BY_WIRE_ID[codec.wire_id] = codec
    return codec


def names() -> list[str]:
    """The registered codec names, sorted."""
    return sorted(_BY_NAME)


def by_name(name: str | None) -> InnerCodec:
    """Look a codec up by name (``None`` = the default); unknown names raise :class:`InputImageError`."""
    key = DEFAULT_CODEC if name is None else str(name).lower()
    try:
        return _BY_NAME[key]
    except KeyError:
        raise InputImageError(f"unknown inner codec {name!r}; choose one of {names()}") from None


def by_wire_id(wire_id: int) -> InnerCodec:
    """The codec a payload's inner-codec field names; unknown ids raise :class:`PayloadError`."""
    try:
        return _BY_WIRE_ID[wire_id]
    except (KeyError, TypeError):
        raise PayloadError(f"unknown inner codec id {wire_id!r}") from None
