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

from .avif_box import build_avif, parse_sequence_header, split_avif
from .errors import InputImageError, PayloadError

#: libavif speed by size of the (low-resolution) image: (largest pixel count, speed), then
#: AVIF_LARGE_IMAGE_SPEED above the last entry. Slower speeds code better (on BSD100 at x2 and
#: x4, speed 6 is 0.2-0.4 dB above speed 9 at equal bpp) but cost ~10x the time per pixel; the
#: table keeps each tier's AVIF encode near 45 ms and the x4 encode of a 2 MP photo (downsample
#: + 0.125 MP at speed 9) near 40 ms. Measured in docs/inner_codecs.md.
AVIF_SPEED_BY_PIXELS: tuple[tuple[int, int], ...] = ((16_384, 6), (32_768, 7), (65_536, 8))
AVIF_LARGE_IMAGE_SPEED = 9


def avif_speed_for(height: int, width: int) -> int:
    """The libavif speed :class:`AvifCodec` uses by default for an image of ``height`` x ``width``."""
    for max_pixels, speed in AVIF_SPEED_BY_PIXELS:
        if height * width <= max_pixels:
            return speed
    return AVIF_LARGE_IMAGE_SPEED


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


def _as_bytes(data: bytes) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PayloadError(f"inner bitstream must be bytes, got {type(data).__name__}")
    return bytes(data)


@dataclass(frozen=True)
class AvifCodec(InnerCodec):
    """AV1 intra (libavif via Pillow), 4:2:0, stored without its ~275-byte ISOBMFF container.

    Wire form, told apart by the first byte:

    * ``0x00``: a complete AVIF file (the first byte of its ``ftyp`` box size). Written only
      when the container cannot be rebuilt byte for byte (a libavif that writes something
      else); always accepted on decode.
    * anything else: the bare AV1 bitstream, i.e. the low-overhead-format OBUs of the image
      item without the leading temporal delimiter: a sequence header OBU (header byte
      ``0x0A``) then the frame OBU. :func:`~sr_codec.avif_box.build_avif` derives the
      container from the sequence header, which also carries the size.

    ``speed`` is libavif's speed (0 slowest .. 10 fastest; libaom treats 10 as 9); ``None``
    picks it by image size (:func:`avif_speed_for`): 6 for small images, 9 for large ones.
    The decoder does not need to know it.
    """

    name: ClassVar[str] = "avif"
    wire_id: ClassVar[int] = 0
    pil_format: ClassVar[str] = "AVIF"
    default_quality: ClassVar[int] = 50
    speed: int | None = None

    def __post_init__(self) -> None:
        if self.speed is not None and (type(self.speed) is not int or not 0 <= self.speed <= 10):
            raise InputImageError(f"AvifCodec.speed must be None or an int in 0..10, got {self.speed!r}")

    def save_options(self, quality: int, speed: int | None = None) -> dict:
        """Pillow's AVIF options; without a ``speed`` here or on the codec, Pillow's own default (6)."""
        speed = self.speed if speed is None else speed
        return {"quality": quality, "speed": 6 if speed is None else speed, "subsampling": "4:2:0"}

    def encode(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        """The bare AV1 bitstream, or the full file if the container would not rebuild identically."""
        full = self.encode_full(rgb, quality)
        try:
            bitstream, width, height = split_avif(full)
            if build_avif(bitstream) == full and (height, width) == tuple(np.shape(rgb)[:2]):
                return bitstream
        except PayloadError:
            pass
        return full

    def encode_full(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        """The complete AVIF file libavif writes (what :meth:`encode` strips)."""
        q = self.default_quality if quality is None else quality
        if not 0 <= int(q) <= 100:
            raise InputImageError(f"quality must be in 0..100, got {quality!r}")
        speed = self.speed if self.speed is not None else avif_speed_for(*np.shape(rgb)[:2])
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, self.pil_format, **self.save_options(int(q), speed))
        return buf.getvalue()

    @staticmethod
    def is_full_file(data: bytes) -> bool:
        """True for a complete AVIF file, False for a bare AV1 bitstream (see the class docstring)."""
        return len(data) > 0 and data[0] == 0

    def to_avif_file(self, data: bytes) -> bytes:
        """The payload's bitstream as a standalone .avif file (what any AVIF reader opens)."""
        data = _as_bytes(data)
        if self.is_full_file(data):
            return data
        self._check_pixels(*self.read_size(data))
        return build_avif(data)

    def decode(self, data: bytes) -> np.ndarray:
        data = _as_bytes(data)
        if self.is_full_file(data):
            return super().decode(data)
        height, width = self.read_size(data)
        self._check_pixels(height, width)
        rgb = super().decode(build_avif(data))
        if rgb.shape[:2] != (height, width):
            raise PayloadError(
                f"inner avif decoded to {rgb.shape[1]} x {rgb.shape[0]}, its header says {width} x {height}"
            )
        return rgb

    def read_size(self, data: bytes) -> tuple[int, int]:
        data = _as_bytes(data)
        if self.is_full_file(data):
            return super().read_size(data)
        seq = parse_sequence_header(data)
        return seq.height, seq.width

    @staticmethod
    def _check_pixels(height: int, width: int) -> None:
        # Pillow's own bomb check (Image.open) only *warns* below 2x this; refuse before decoding.
        limit = Image.MAX_IMAGE_PIXELS
        if limit is not None and height * width > limit:
            raise PayloadError(f"inner avif declares {width} x {height} pixels, more than {limit}")


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
