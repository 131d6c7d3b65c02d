"""The encoder's lossy path as one importable function: downsample, then inner codec round-trip.

``encode`` uses the two halves separately (it keeps the bitstream); training uses
:func:`degrade` so the networks learn to undo exactly what the receiver gets.
"""

from __future__ import annotations

import numpy as np

from ..imaging.resample import downsample
from .base import by_name


def degrade(rgb: np.ndarray, scale: int, inner: str | None = None, quality: int | None = None) -> np.ndarray:
    """What the receiver's network sees: ``rgb`` shrunk by ``scale``, coded and decoded by ``inner``."""
    codec = by_name(inner)
    low = downsample(rgb, scale)
    if codec.lossless:
        return low
    return codec.decode(codec.encode(low, quality))
