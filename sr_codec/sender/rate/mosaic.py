"""The tile mosaic fast rate control analyses a large photo on: sampled tiles side by side.

On a 2 MP photo one full-resolution AVIF encode at libavif speed 6 takes ~1 s here and a full
bicubic decode + PSNR ~0.2 s, so searching on the photo itself cannot fit the time of one plain
encode. Instead a *mosaic* of :data:`MOSAIC_TILES` tiles of :data:`TILE_SIDE` pixels, spread
evenly over the photo (about 0.2 MP), stands in for it: every route is probed on the mosaic at a
budget in proportion to its pixels (bits per pixel are what carry over); only the winning route
is then coded at full size (:mod:`~sr_codec.sender.rate.final`).

The price: the full photo's decoded PSNR is predicted, not measured (``RateChoice.psnr_db`` is
None), and the scale-1 anchor of the guarantee is judged on the mosaic.
"""

from __future__ import annotations

import math

import numpy as np

from ...imaging.normalise import NormalisedImage

MOSAIC_MIN_PIXELS = 500_000
"""Photos with more pixels than this are analysed on a mosaic in ``mode="fast"`` (BSD100's 0.15 MP are not:
below about twice the mosaic's own pixels it saves less than its one extra full-size probe costs)."""
TILE_SIDE = 160
"""Tile side in pixels: a multiple of every automatic scale (1, 2, 4, 10), so each tile's low-res is whole."""
MOSAIC_TILES = 8
"""Tiles in the mosaic (4 x 2, 0.2 MP)."""


def tile_origins(height: int, width: int, tiles: int = MOSAIC_TILES, side: int = TILE_SIDE) -> list[tuple[int, int]]:
    """Top-left corners of ``tiles`` tiles of ``side`` pixels on a regular grid over the image (cells' centres)."""
    rows = max(1, min(height // side, round(math.sqrt(tiles * height / width))))
    cols = max(1, min(width // side, math.ceil(tiles / rows)))
    origins = []
    for r in range(rows):
        for c in range(cols):
            top = int((r + 0.5) * height / rows - side / 2)
            left = int((c + 0.5) * width / cols - side / 2)
            origins.append((min(max(top, 0), height - side), min(max(left, 0), width - side)))
    return origins[:tiles] if len(origins) > tiles else origins


def mosaic(rgb: np.ndarray, tiles: int = MOSAIC_TILES, side: int = TILE_SIDE) -> np.ndarray:
    """The sampled tiles side by side, ``ceil(n / cols)`` rows of up to 4 (missing cells repeat the last tile)."""
    height, width = rgb.shape[:2]
    origins = tile_origins(height, width, tiles, side)
    cols = min(4, len(origins))
    rows = math.ceil(len(origins) / cols)
    out = np.empty((rows * side, cols * side, 3), np.uint8)
    for index in range(rows * cols):
        top, left = origins[min(index, len(origins) - 1)]
        r, c = divmod(index, cols)
        out[r * side : (r + 1) * side, c * side : (c + 1) * side] = rgb[top : top + side, left : left + side]
    return out


def mosaic_image(image: NormalisedImage) -> NormalisedImage:
    """The mosaic as a normalised image (no alpha: the budget is scaled, the alpha plane's bytes included)."""
    from dataclasses import replace

    return replace(image, rgb=mosaic(image.rgb), alpha=None)


def uses_mosaic(height: int, width: int, mode: str) -> bool:
    """Whether rate control analyses this photo on its mosaic (fast mode, large photos)."""
    return mode == "fast" and height * width > MOSAIC_MIN_PIXELS and min(height, width) >= TILE_SIDE
