"""JPEG (libjpeg-turbo), 4:2:0 with optimised Huffman tables."""

from __future__ import annotations

from .base import InnerCodec, register


class JpegCodec(InnerCodec):
    name = "jpeg"
    wire_id = 2
    pil_format = "JPEG"
    default_quality = 50

    def save_options(self, quality: int) -> dict:
        # quality 0 is not meaningful for libjpeg; clamp to 1. optimize=True: smaller Huffman tables.
        return {"quality": max(1, quality), "optimize": True, "subsampling": 2}


register(JpegCodec())
