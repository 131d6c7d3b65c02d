"""What the demo server does with an upload, through sr_codec's public API only.

The payload is what the sender's phone would make: ``sr_codec.encode(upload, max_bytes=N)``.
For the receiver's comparison the server also measures, once at send time, the payload's decoded
RGB PSNR against the upload and the smallest whole-image AVIF and JPEG (Pillow) that reach it:
"the same photo at the same quality, the classical way".
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

import sr_codec

#: libavif speed for the comparison files (the payload's own inner AVIF uses sr_codec's settings).
BASELINE_AVIF_SPEED = 8


@dataclass(frozen=True)
class CodedPhoto:
    payload: bytes
    psnr_db: float | None
    avif_bytes: int | None
    jpeg_bytes: int | None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _coded(rgb: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    buf = io.BytesIO()
    options = {"quality": quality}
    if fmt == "AVIF":
        options["speed"] = BASELINE_AVIF_SPEED
    Image.fromarray(rgb).save(buf, fmt, **options)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return buf.tell(), np.asarray(im.convert("RGB"))


def smallest_at_quality(rgb: np.ndarray, fmt: str, target_db: float) -> int | None:
    """Bytes of the smallest ``fmt`` file (quality searched 1..100) whose decoded PSNR reaches ``target_db``."""
    low, high, best = 1, 100, None
    while low <= high:  # PSNR grows with quality (near enough: a bisection of ~7 encodes)
        quality = (low + high) // 2
        size, decoded = _coded(rgb, fmt, quality)
        if psnr(decoded, rgb) >= target_db:
            best, high = size, quality - 1
        else:
            low = quality + 1
    return best


def code_upload(data: bytes, max_bytes: int, limits: sr_codec.Limits) -> CodedPhoto:
    """The payload for ``data`` within ``max_bytes``, and the AVIF / JPEG sizes of equal quality.

    Raises sr_codec's errors: InputImageError (not an image), LimitExceededError (too many pixels,
    or no payload fits ``max_bytes``).
    """
    payload = sr_codec.encode(data, max_bytes=max_bytes, limits=limits)
    decoded = sr_codec.decode(payload, limits=limits)[..., :3]
    with Image.open(io.BytesIO(data)) as im:  # already checked by encode: within limits.max_pixels
        original = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    if original.shape != decoded.shape:  # an orientation or colour handling we do not mirror: no comparison
        return CodedPhoto(payload, None, None, None)
    target = psnr(decoded, original)
    if not np.isfinite(target):
        return CodedPhoto(payload, None, None, None)
    return CodedPhoto(payload, target, smallest_at_quality(original, "AVIF", target),
                      smallest_at_quality(original, "JPEG", target))
