"""Inner codecs: the classical codecs that compress the low-resolution image.

Each codec is a small class with the same interface (``encode(rgb, quality) -> bytes`` and
``decode(data) -> rgb``) and a one-byte wire id stored in the payload. All run through
Pillow, whose wheels carry libavif, libwebp and libjpeg-turbo.

Quality is always on a 0..100 scale where higher means more bytes and better pictures.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

from .errors import InputImageError, PayloadError


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

    def encode(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        """Compress ``rgb`` (uint8 H x W x 3) at ``quality`` (0..100; None = the codec's default)."""
        q = self.default_quality if quality is None else quality
        if not 0 <= int(q) <= 100:
            raise InputImageError(f"quality must be in 0..100, got {quality!r}")
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, self.pil_format, **self.save_options(int(q)))
        return buf.getvalue()

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


class AvifCodec(InnerCodec):
    """AV1 intra (libavif via Pillow). 4:2:0, speed 6: the best rate-distortion at low rates."""

    name = "avif"
    wire_id = 0
    pil_format = "AVIF"
    default_quality = 50

    def save_options(self, quality: int) -> dict:
        return {"quality": quality, "speed": 6, "subsampling": "4:2:0"}


class WebpCodec(InnerCodec):
    name = "webp"
    wire_id = 1
    pil_format = "WEBP"
    default_quality = 50

    def save_options(self, quality: int) -> dict:
        return {"quality": quality, "method": 6}


class JpegCodec(InnerCodec):
    name = "jpeg"
    wire_id = 2
    pil_format = "JPEG"
    default_quality = 50

    def save_options(self, quality: int) -> dict:
        # quality 0 is not meaningful for libjpeg; clamp to 1. optimize=True: smaller Huffman tables.
        return {"quality": max(1, quality), "optimize": True, "subsampling": 2}


class PngCodec(InnerCodec):
    """Lossless; quality is ignored. Useful for the clean-LR path and for tests."""

    name = "png"
    wire_id = 3
    pil_format = "PNG"
    default_quality = 100
    lossless = True

    def save_options(self, quality: int) -> dict:
        return {"optimize": True}


CODECS: dict[str, InnerCodec] = {c.name: c() for c in (AvifCodec, WebpCodec, JpegCodec, PngCodec)}
CODECS_BY_ID: dict[int, InnerCodec] = {c.wire_id: c for c in CODECS.values()}
DEFAULT_CODEC = "avif"


def get_codec(name: str | None) -> InnerCodec:
    """Look a codec up by name (``None`` = the default); unknown names raise :class:`InputImageError`."""
    key = DEFAULT_CODEC if name is None else str(name).lower()
    try:
        return CODECS[key]
    except KeyError:
        raise InputImageError(f"unknown inner codec {name!r}; choose one of {sorted(CODECS)}") from None


def codec_by_wire_id(wire_id: int) -> InnerCodec:
    try:
        return CODECS_BY_ID[wire_id]
    except (KeyError, TypeError):
        raise PayloadError(f"unknown inner codec id {wire_id!r}") from None
