"""The upscaler: low-res RGB in, full-res RGB out, through a shipped network or plain bicubic.

TensorFlow is imported only when a network actually runs.
"""

from __future__ import annotations

import numpy as np

from .downsample import upsample_bicubic
from .errors import InputImageError
from .models import zoo


def upscale(image: np.ndarray, scale: int, *, device: str | None = None, model_id: str | None = None) -> np.ndarray:
    """Super-resolve a uint8 H x W x 3 RGB image by ``scale`` with the shipped model (bicubic if none).

    ``model_id`` picks a specific manifest entry or ``"bicubic"``; None = the default for ``scale``.
    Returns uint8 (H*scale) x (W*scale) x 3.
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise InputImageError(f"upscale expects a non-empty uint8 H x W x 3 RGB array, got {arr.dtype} {arr.shape}")
    model_id = model_id or zoo.default_model_id(scale)
    if model_id == zoo.BICUBIC or scale == 1 and model_id == zoo.BICUBIC:
        return upsample_bicubic(arr, scale)
    model = zoo.load_model(model_id, "gpu" if device == "gpu" else "cpu")
    out = np.asarray(model(arr[None].astype(np.float32) / 255.0, training=False))[0]
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
