"""What the demo server does with a message: check the payload the browser made, through sr_codec's public API.

The server never sees the photo. The sender's browser encodes it (web/src/encoder.js) and uploads only the
payload; here it is checked (``sr_codec.inspect``: the fields, the CRC-32, the limits) before it is stored and
relayed. The comparison with a whole-image AVIF is measured by the sender's browser too, and comes with the
message as numbers (:func:`check_comparison`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sr_codec

#: libavif speeds a comparison AVIF may declare (libavif's own range).
AVIF_SPEEDS = range(0, 11)


@dataclass(frozen=True)
class CheckedPayload:
    payload: bytes
    info: sr_codec.PayloadInfo


def check_payload(data: bytes, limits: sr_codec.Limits) -> CheckedPayload:
    """``data`` if it is a valid payload within ``limits``; raises sr_codec's PayloadError / LimitExceededError."""
    info = sr_codec.inspect(data, limits=limits)
    limits.check_pixels(info.height, info.width, "the payload's image")
    return CheckedPayload(bytes(data), info)


def check_comparison(psnr_db: float | None, avif_bytes: int | None, avif_speed: int | None) -> str | None:
    """Why the sender's comparison numbers are not plausible, or None when they are (or absent)."""
    if psnr_db is not None and not (math.isfinite(psnr_db) and 0 < psnr_db < 200):
        return f"psnr_db {psnr_db} is not a PSNR"
    if avif_bytes is not None and avif_bytes < 1:
        return f"avif_bytes {avif_bytes} is not a size"
    if avif_speed is not None and avif_speed not in AVIF_SPEEDS:
        return f"avif_speed {avif_speed} is not a libavif speed (0..10)"
    return None
