"""sr_codec's own Keras layers: sub-pixel shuffle and the two traceable forms of the bicubic enlargement.

* :class:`PixelShuffle` -- ``depth_to_space``, the fast network's upsampling (TFLite DEPTH_TO_SPACE);
* :class:`Resize` -- ``tf.image.resize`` called directly, so it traces with any size (what
  ``UpSampling2D(bicubic)`` runs, bit for bit; the decode runtime and the SavedModel use it);
* :class:`ConvBicubic` (TFLite) -- the same interpolation as a fixed 5x5 convolution +
  ``depth_to_space``, normalised like TF's border handling (out-of-image taps weigh 0, the rest
  is renormalised), from builtins only (CONV_2D, DEPTH_TO_SPACE, DIV). It equals the TF op
  within float rounding (< 1e-6 on 0..1 images).

Every layer declares its ``receptive_field`` so tiling (:mod:`sr_codec.nn.geometry`) can cut images safely.
Keras names them ``sr_codec>ClassName`` for serialisation. This module imports TensorFlow.
"""

from __future__ import annotations

from fractions import Fraction

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from .geometry import upsampling_reach

_TABLE_SIZE = 1024  # TF's resize_bicubic_op.cc quantises the tap offset to 1/1024 of a pixel
_KEYS_A = -0.5  # Keys cubic, what TF uses with half-pixel centres (tf.image.resize's default)


def bicubic_taps(scale: int) -> np.ndarray:
    """1-D weights, shape (scale, 5): output phase p of low-res pixel i draws on pixels i-2 .. i+2.

    Reproduces ``tf.image.resize(method="bicubic")`` for an integer upscale: half-pixel
    centres, Keys a = -0.5, TF's 1024-entry coefficient table (so x10's offsets round the same way).
    """

    def cubic(x: float) -> float:  # |x| in [0, 2)
        if x <= 1.0:
            return ((_KEYS_A + 2) * x - (_KEYS_A + 3)) * x * x + 1
        return ((_KEYS_A * x - 5 * _KEYS_A) * x + 8 * _KEYS_A) * x - 4 * _KEYS_A

    taps = np.zeros((scale, 5), np.float64)
    for phase in range(scale):
        position = (phase + 0.5) / scale - 0.5  # in low-res pixels, relative to pixel i
        base = int(np.floor(position))
        offset = int(np.rint((position - base) * _TABLE_SIZE))
        delta = float(np.float32(offset / _TABLE_SIZE))
        for k, x in enumerate((1 + delta, delta, 1 - delta, 2 - delta)):
            taps[phase, base - 1 + k + 2] = np.float32(cubic(x))
    return taps


def bicubic_kernel(scale: int, channels: int) -> np.ndarray:
    """Conv kernel (5, 5, C, C*s*s) whose output, through ``depth_to_space(s)``, is the unnormalised bicubic."""
    taps = bicubic_taps(scale)
    kernel = np.zeros((5, 5, channels, scale * scale * channels), np.float32)
    for py in range(scale):
        for px in range(scale):
            for c in range(channels):  # depth_to_space reads channel (py*s + px)*C + c
                kernel[:, :, c, (py * scale + px) * channels + c] = np.outer(taps[py], taps[px])
    return kernel


@keras.saving.register_keras_serializable(package="sr_codec")
class PixelShuffle(layers.Layer):
    """depth_to_space: (h, w, c*s*s) -> (h*s, w*s, c). Maps to TFLite DEPTH_TO_SPACE."""

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        import tensorflow as tf

        return tf.nn.depth_to_space(x, self.scale)

    def receptive_field(self, reach: Fraction, pixel: Fraction) -> tuple[Fraction, Fraction]:
        """(reach, pixel size) after this layer, for tiling (:mod:`sr_codec.nn.geometry`)."""
        return reach + pixel / 2, pixel / self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="sr_codec")
class Resize(keras.layers.Layer):
    """``tf.image.resize`` by an integer factor, traceable with unknown height and width.

    ``method="bicubic"`` is the op UpSampling2D(bicubic) runs; ``"nearest"`` (half-pixel centres)
    equals UpSampling2D(nearest)'s repeat for integer factors and maps to TFLite RESIZE_NEAREST_NEIGHBOR.
    """

    def __init__(self, scale: int, method: str = "bicubic", **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)
        self.method = method

    def call(self, x):
        size = tf.shape(x)[1:3] * self.scale
        return tf.cast(tf.image.resize(x, size, method=self.method), x.dtype)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.scale, None if w is None else w * self.scale, c)

    def receptive_field(self, reach: Fraction, pixel: Fraction) -> tuple[Fraction, Fraction]:
        return upsampling_reach(self.method, self.scale, reach, pixel, self.name)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "method": self.method}


@keras.saving.register_keras_serializable(package="sr_codec")
class ConvBicubic(keras.layers.Layer):
    """The bicubic enlargement from TFLite builtins: conv + depth_to_space, divided by the taps' in-image weight."""

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, x):
        s = self.scale
        channels = x.shape[-1]
        numerator = tf.nn.depth_to_space(tf.nn.conv2d(x, bicubic_kernel(s, channels), 1, "SAME"), s)
        # Taps outside the image weigh 0 and TF renormalises the rest; with zero padding the sum of
        # in-image weights is the same filter applied to an all-ones image.
        weight = tf.nn.depth_to_space(tf.nn.conv2d(tf.ones_like(x[..., :1]), bicubic_kernel(s, 1), 1, "SAME"), s)
        return numerator / weight

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else h * self.scale, None if w is None else w * self.scale, c)

    def receptive_field(self, reach: Fraction, pixel: Fraction) -> tuple[Fraction, Fraction]:
        return upsampling_reach("bicubic", self.scale, reach, pixel, self.name)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
