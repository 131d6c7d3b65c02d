"""WebP (libwebp), lossy, at its slowest and best method."""

from __future__ import annotations

from .base import InnerCodec, register


class WebpCodec(InnerCodec):
    name = "webp"
    wire_id = 1
    pil_format = "WEBP"
    default_quality = 50

    def save_options(self, quality: int) -> dict:
        return {"quality": quality, "method": 6}


register(WebpCodec())
