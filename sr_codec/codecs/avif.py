"""AVIF (AV1 intra through libavif), the default inner codec, and the one rule for its encoder speed."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from PIL import Image

from ..errors import InputImageError, PayloadError
from ..format.avif_box import build_avif, parse_sequence_header, split_avif
from .base import InnerCodec, register

#: libavif speed by size of the (low-resolution) image: (largest pixel count, speed), then
#: AVIF_LARGE_IMAGE_SPEED above the last entry. Slower speeds code better (on BSD100 at x2 and
#: x4, speed 6 is 0.2-0.4 dB above speed 9 at equal bpp) but cost ~10x the time per pixel; the
#: table keeps each tier's AVIF encode near 45 ms and the x4 encode of a 2 MP photo (downsample
#: + 0.125 MP at speed 9) near 40 ms. Measured in docs/inner_codecs.md.
AVIF_SPEED_BY_PIXELS: tuple[tuple[int, int], ...] = ((16_384, 6), (32_768, 7), (65_536, 8))
AVIF_LARGE_IMAGE_SPEED = 9
PILLOW_AVIF_SPEED = 6
"""Pillow's default libavif speed: what a plain .avif file is coded with."""
CHROMA_SUBSAMPLINGS = ("4:2:0", "4:4:4")
PROBE_SPEED = 9
"""libavif speed of rate control's probes (:meth:`AvifCodec.for_probes`): 10-13x faster than speed 6 on large
images; the gain table's speed map (``speeds`` in gain_table.json) carries its sizes and PSNRs to the final speed."""
FINAL_SPEED_BY_PIXELS: tuple[tuple[int, int], ...] = ((16_384, 5), (1_100_000, 6), (3_500_000, 8))
"""libavif speed of rate control's final encode by (low-res) pixel count: (largest pixel count, speed), then
:data:`AVIF_LARGE_IMAGE_SPEED` above the last entry. The slowest speed whose one encode fits rate control's
time target (about one plain speed-6 encode of the photo): speed 5 on thumbnails, Pillow's 6 up to a 1 MP
image (the guarantee's anchor, scale 1, is a speed-6 file), 8 for a 12 MP photo's x2 low-res. Measured in
docs/rate_control.md."""


def avif_speed_for(height: int, width: int) -> int:
    """The libavif speed :class:`AvifCodec` uses by default for an image of ``height`` x ``width``."""
    for max_pixels, speed in AVIF_SPEED_BY_PIXELS:
        if height * width <= max_pixels:
            return speed
    return AVIF_LARGE_IMAGE_SPEED


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
      ``0x0A``) then the frame OBU. :func:`~sr_codec.format.avif_box.build_avif` derives the
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
    subsampling: str = "4:2:0"
    """Chroma subsampling, ``"4:2:0"`` or ``"4:4:4"``; the sequence header records it, so decoders need not be told."""

    def __post_init__(self) -> None:
        if self.speed is not None and (type(self.speed) is not int or not 0 <= self.speed <= 10):
            raise InputImageError(f"AvifCodec.speed must be None or an int in 0..10, got {self.speed!r}")
        if self.subsampling not in CHROMA_SUBSAMPLINGS:
            raise InputImageError(f"AvifCodec.subsampling must be one of {CHROMA_SUBSAMPLINGS}, got {self.subsampling!r}")

    def save_options(self, quality: int, speed: int | None = None) -> dict:
        """Pillow's AVIF options; without a ``speed`` here or on the codec, Pillow's own default (6)."""
        speed = self.speed if speed is None else speed
        return {"quality": quality, "speed": PILLOW_AVIF_SPEED if speed is None else speed, "subsampling": self.subsampling}

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
        speed = self.speed_for(*np.shape(rgb)[:2])
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(rgb), "RGB").save(buf, self.pil_format, **self.save_options(int(q), speed))
        return buf.getvalue()

    def encode_file(self, rgb: np.ndarray, quality: int | None = None) -> bytes:
        return self.encode_full(rgb, quality)

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

    def speed_for(self, height: int, width: int) -> int:
        """The libavif speed this configuration codes a ``height`` x ``width`` image at."""
        return self.speed if self.speed is not None else avif_speed_for(height, width)

    def as_plain_file(self) -> AvifCodec:
        """This codec as a plain Pillow .avif file codes it: at Pillow's default speed unless one is set."""
        return self if self.speed is not None else dataclasses.replace(self, speed=PILLOW_AVIF_SPEED)

    def at_speed(self, speed: int | None) -> AvifCodec:
        """This codec at libavif ``speed`` (None: by image size, :func:`avif_speed_for`); same wire form."""
        return self if speed == self.speed else dataclasses.replace(self, speed=speed)

    def for_probes(self) -> AvifCodec:
        """At :data:`PROBE_SPEED`, unless the caller set a speed (then every encode uses it)."""
        return self if self.speed is not None else self.at_speed(PROBE_SPEED)

    def for_final(self, height: int, width: int) -> AvifCodec:
        """At :func:`final_speed_for` the image size, unless the caller set a speed."""
        return self if self.speed is not None else self.at_speed(final_speed_for(height, width))


def final_speed_for(height: int, width: int) -> int:
    """The libavif speed of rate control's final encode of a ``height`` x ``width`` image (:data:`FINAL_SPEED_BY_PIXELS`)."""
    for max_pixels, speed in FINAL_SPEED_BY_PIXELS:
        if height * width <= max_pixels:
            return speed
    return AVIF_LARGE_IMAGE_SPEED


register(AvifCodec())
