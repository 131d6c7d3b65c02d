"""The seed model: the article's convolutional autoencoder for super-resolution, kept as a reference.

It works at full resolution: its input is the low-res image already enlarged (bicubic) to
the output size, and it learns to sharpen it. Encoder: Conv 64, 64 -> MaxPool -> Conv 128,
128 -> MaxPool -> Conv 256; decoder: UpSampling -> Conv 128, 128 (+ encoder's 128) ->
UpSampling -> Conv 64, 64 (+ encoder's 64) -> Conv 3. 1,110,403 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
from keras import layers

from .base import Architecture, register


def seed_autoencoder(transpose: bool = False, input_shape=(None, None, 3)) -> keras.Model:
    """The article's autoencoder. ``transpose=True`` swaps UpSampling2D for Conv2DTranspose (its suggested tweak)."""

    def conv(filters, name):
        return layers.Conv2D(filters, 3, padding="same", activation="relu", name=name)

    def up(filters, name):
        if transpose:
            return layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu", name=name)
        return layers.UpSampling2D(name=name)

    x_in = keras.Input(input_shape, name="upscaled")
    e64 = conv(64, "enc64b")(conv(64, "enc64a")(x_in))
    e128 = conv(128, "enc128b")(conv(128, "enc128a")(layers.MaxPooling2D(name="pool1")(e64)))
    bottleneck = conv(256, "enc256")(layers.MaxPooling2D(name="pool2")(e128))
    d128 = conv(128, "dec128b")(conv(128, "dec128a")(up(256, "up1")(bottleneck)))
    d128 = layers.Add(name="skip128")([d128, e128])
    d64 = conv(64, "dec64b")(conv(64, "dec64a")(up(128, "up2")(d128)))
    d64 = layers.Add(name="skip64")([d64, e64])
    out = layers.Conv2D(3, 3, padding="same", activation="relu", name="rgb")(d64)
    return keras.Model(x_in, out, name="seed_autoencoder")


def seed_sr(scale: int, transpose: bool = False) -> keras.Model:
    """Low-res in, high-res out: bicubic enlargement followed by the seed autoencoder.

    Output sides must be multiples of 4 (two poolings); the upscaler pads accordingly.
    """
    lr = keras.Input((None, None, 3), name="low_res")
    up = layers.UpSampling2D(scale, interpolation="bicubic", name="bicubic")(lr)
    hr = seed_autoencoder(transpose)(up)
    return keras.Model(lr, hr, name=f"seed_ae_x{scale}")


@register
@dataclass(frozen=True)
class Autoencoder(Architecture):
    """The seed autoencoder (reference only: exporting it never makes it a scale's default)."""

    name: ClassVar[str] = "autoencoder"
    becomes_default: ClassVar[bool] = False
    transpose: bool = False

    def build(self, scale: int) -> keras.Model:
        return seed_sr(scale, bool(self.transpose))

    def tag(self) -> str:
        return "tconv" if self.transpose else "upsamp"
