"""Downsampling: the first lossy step of the encoder and the degradation the networks are trained to undo.

We use Pillow's ``resize(..., Image.BICUBIC)``, which is *antialiased* when shrinking
(the filter support is widened by the scale factor, like MATLAB ``imresize``). It is
exactly the LR generator of the standard super-resolution evaluation protocol, so a
network trained on this path is measured on the same degradation it sees in the product.

Sizes that are not a multiple of the scale are padded by edge replication up to the next
multiple before shrinking; the decoder crops the padding away, so every size round-trips.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def low_res_size(height: int, width: int, scale: int) -> tuple[int, int]:
    """Size (h, w) of the low-resolution image for an original of ``height`` x ``width``."""
    return -(-height // scale), -(-width // scale)


def pad_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
    """Edge-replicate ``image`` (H x W x C) on the bottom/right up to a multiple of ``scale``."""
    h, w = image.shape[:2]
    ph, pw = (-h) % scale, (-w) % scale
    if ph == 0 and pw == 0:
        return image
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge")


def resize_bicubic(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pillow bicubic resize of a uint8 H x W x C array (any C), antialiased when shrinking."""
    if image.shape[2] in (3, 4):
        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((width, height), Image.BICUBIC))
    planes = [
        np.asarray(Image.fromarray(np.ascontiguousarray(image[..., c])).resize((width, height), Image.BICUBIC))
        for c in range(image.shape[2])
    ]
    return np.stack(planes, axis=-1)


def downsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Antialiased bicubic shrink of a uint8 H x W x C image by the integer ``scale``.

    Returns a uint8 array of size ``low_res_size(H, W, scale)``; ``scale == 1`` returns the input.
    """
    if scale == 1:
        return image
    padded = pad_to_multiple(image, scale)
    h, w = padded.shape[:2]
    return resize_bicubic(padded, h // scale, w // scale)


def upsample_bicubic(image: np.ndarray, scale: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """Plain bicubic enlargement by ``scale`` (the no-network baseline), cropped to ``size`` (h, w) if given."""
    h, w = image.shape[:2]
    out = image if scale == 1 else resize_bicubic(image, h * scale, w * scale)
    if size is not None:
        out = out[: size[0], : size[1]]
    return out
