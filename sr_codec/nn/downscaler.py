"""The learned downscaler D (the sender half of a pair): a residual over the antialiased bicubic thumbnail.

D sees the full-resolution image folded into low-res channels (space-to-depth, so every
convolution runs at low resolution and costs ~21K multiply-adds per low-res pixel at x4) and
adds a correction to the bicubic thumbnail the encoder computes anyway. Its last layer starts
at zero, so an untrained D *is* bicubic and the thumbnail stays a faithful preview.
"""

from __future__ import annotations

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="sr_codec")
class SpaceToDepth(layers.Layer):
    """(h*s, w*s, c) -> (h, w, c*s*s). Maps to TFLite SPACE_TO_DEPTH."""

    def __init__(self, scale: int, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        import tensorflow as tf

        return tf.nn.space_to_depth(x, self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def downscaler(scale: int, width: int = 24, blocks: int = 1, name: str | None = None) -> keras.Model:
    """D(hr, bicubic_lr) = bicubic_lr + correction(hr); inputs and output are float RGB in [0, 1] (unclipped)."""
    hr = keras.Input((None, None, 3), name="high_res")
    base = keras.Input((None, None, 3), name="bicubic_low_res")
    x = head = layers.Conv2D(width, 3, padding="same", name="head")(SpaceToDepth(scale, name="fold")(hr))
    for i in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{i}_conv1")(x)
        y = layers.Conv2D(width, 3, padding="same", name=f"block{i}_conv2")(y)
        x = layers.Add(name=f"block{i}_add")([x, y])
    x = layers.Add(name="trunk_skip")([x, head])
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    low_res = layers.Add(name="low_res")([base, correction])
    return keras.Model([hr, base], low_res, name=name or f"down_x{scale}_w{width}_b{blocks}")


def downscaler_tflite_bytes(model: keras.Model) -> bytes:
    """The downscaler as a TFLite flatbuffer (builtins only, weights frozen into constants).

    Contract: inputs ``high_res`` [1, H, W, 3] and ``bicubic_low_res`` [1, H/s, W/s, 3], float32
    in 0..1 (H, W multiples of the scale, dynamic); output ``low_res`` [1, H/s, W/s, 3], unclipped.
    """
    import tensorflow as tf

    from .portable import convert_to_tflite

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="high_res"),
                                  tf.TensorSpec([1, None, None, 3], tf.float32, name="bicubic_low_res")])
    def serve(high_res, bicubic_low_res):
        return {"low_res": model([high_res, bicubic_low_res], training=False)}

    return convert_to_tflite(serve.get_concrete_function())
