"""Synthetic photos of a given size for the speed benchmarks (:mod:`benchmarks.speed`, :mod:`benchmarks.receiver`)."""

from __future__ import annotations

import numpy as np

__all__ = ["make_photo"]


def make_photo(megapixels: float) -> np.ndarray:
    """A 4:3 RGB photo of about ``megapixels``: scikit-image sample photos tiled at native resolution."""
    from skimage import data

    height = max(8, round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = max(8, round(height * 4 / 3))
    rows = 300  # every sample photo is at least this tall: rows of native-resolution crops, no gaps
    tiles = [im[:rows] for im in (data.astronaut(), data.coffee(), data.chelsea(), data.rocket(),
                                  data.immunohistochemistry())]
    canvas = np.empty((height, width, 3), np.uint8)
    for row, y in enumerate(range(0, height, rows)):
        x, k = 0, 2 * row
        while x < width:
            tile = tiles[k % len(tiles)][: height - y, : width - x]
            canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
            x += tile.shape[1]
            k += 1
    return canvas
