"""The alpha plane of an RGBA payload: a constant as its value, else lossless WebP (PNG beyond WebP's size limit).

The plane is coded at low or at full resolution, whichever is smaller; the decoder tells them
apart by the size of the decoded plane.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..errors import PayloadError, SrCodecError
from ..imaging.resample import downsample

# Lossless WebP codes the alpha plane smallest (measured in docs/format.md) but caps a side at 16383 px.
WEBP_MAX_SIDE = 16383


def encode_alpha(alpha: np.ndarray, scale: int) -> int | bytes:
    """A constant plane as its value; otherwise coded losslessly at low or full resolution.

    The low-res plane (shrunk like the RGB) is the smaller for soft edges; a hard-edged mask
    can be cheaper at full resolution, where it is also exact. The smaller one is kept.
    """
    first = int(alpha.flat[0])
    if np.all(alpha == first):
        return first
    low = _lossless_plane(downsample(alpha[..., None], scale)[..., 0])
    if scale == 1:
        return low
    full = _lossless_plane(alpha)
    return full if len(full) <= len(low) else low


def _lossless_plane(plane: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if max(plane.shape) <= WEBP_MAX_SIDE:  # method 4: within 1% of method 6's size, 5-100x faster
        Image.fromarray(plane, "L").save(buf, "WEBP", lossless=True, quality=100, method=4)
    else:
        Image.fromarray(plane, "L").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def decode_alpha(coded: int | bytes, low_size: tuple[int, int], full_size: tuple[int, int]) -> np.ndarray:
    """The alpha plane from its payload field: uint8 at ``low_size``, or at ``full_size`` when coded so."""
    if isinstance(coded, int):
        return np.full(low_size, coded, np.uint8)
    try:
        with Image.open(io.BytesIO(coded), formats=["WEBP", "PNG"]) as im:
            size = (im.size[1], im.size[0])
            if size not in (low_size, full_size):
                raise PayloadError(
                    f"alpha plane is {size[1]} x {size[0]}; the payload needs {low_size[1]} x {low_size[0]} "
                    f"(low-res) or {full_size[1]} x {full_size[0]} (full-res)"
                )
            return np.asarray(im.convert("L"))
    except SrCodecError:
        raise
    except Exception as exc:
        raise PayloadError(f"alpha plane cannot be decoded: {exc}") from exc
