"""The fast default super-resolution network: residual blocks at low resolution, sub-pixel upsampling.

The network sees the decoded low-res image and predicts a *residual* over its bicubic
enlargement, so an untrained network starts at bicubic quality and all capacity goes
into what bicubic misses (lost detail, codec ringing and blocking).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
from keras import layers

from ..layers import PixelShuffle
from .base import Architecture, register


WIDTH = 32
BLOCKS = 3
"""The shipped fast networks' size (w32 b3): the defaults of both :func:`fast_sr` and :class:`Fast`."""


def fast_sr(scale: int, width: int = WIDTH, blocks: int = BLOCKS, name: str | None = None) -> keras.Model:
    """Build the fast x``scale`` model: ``blocks`` residual blocks of ``width`` channels."""
    lr = keras.Input((None, None, 3), name="low_res")
    x = head = layers.Conv2D(width, 3, padding="same", name="head")(lr)
    for i in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        y = layers.Conv2D(width, 3, padding="same", name=f"block{i}_conv2")(y)
        x = layers.Add(name=f"block{i}_add")([x, y])
    x = layers.Add(name="trunk_skip")([x, head])
    # Zero-initialised, so an untrained network outputs exactly its bicubic base.
    x = layers.Conv2D(3 * scale * scale, 3, padding="same", kernel_initializer="zeros", name="to_subpixels")(x)
    residual = PixelShuffle(scale, name="pixel_shuffle")(x)
    base = layers.UpSampling2D(scale, interpolation="bicubic", name="bicubic")(lr)
    hr = layers.Add(name="high_res")([base, residual])
    return keras.Model(lr, hr, name=name or f"fast_x{scale}_w{width}_b{blocks}")


@register
@dataclass(frozen=True)
class Fast(Architecture):
    """``fast_sr``: ``blocks`` residual blocks of ``width`` channels at low resolution."""

    name: ClassVar[str] = "fast"
    width: int = WIDTH
    blocks: int = BLOCKS

    def build(self, scale: int) -> keras.Model:
        return fast_sr(scale, int(self.width), int(self.blocks))

    def tag(self) -> str:
        return f"w{self.width}b{self.blocks}"
