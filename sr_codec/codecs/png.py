"""PNG, lossless: the clean low-res path (payloads of it name the clean-role model) and tests."""

from __future__ import annotations

from .base import InnerCodec, register


class PngCodec(InnerCodec):
    """Lossless; quality is ignored."""

    name = "png"
    wire_id = 3
    pil_format = "PNG"
    default_quality = 100
    lossless = True

    def save_options(self, quality: int) -> dict:
        return {"optimize": True}


register(PngCodec())
