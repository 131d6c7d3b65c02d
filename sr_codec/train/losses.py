"""Training losses on [0, 1] images (TensorFlow)."""

from __future__ import annotations

import math
from pathlib import Path

from .config import TrainConfig


def make_loss(cfg: TrainConfig):
    """The training loss on [0, 1] images: l1, mse, ms-ssim (1 - MS-SSIM + L1/10) or perceptual (VGG19 features)."""
    import tensorflow as tf

    if cfg.loss == "l1":
        return lambda y, p: tf.reduce_mean(tf.abs(y - p))
    if cfg.loss == "mse":
        return lambda y, p: tf.reduce_mean(tf.square(y - p))
    if cfg.loss == "ms-ssim":
        # Patches are small, so use as many of the standard 5 scales as fit (each needs >= 11 px after halving).
        levels = max(1, min(5, int(math.log2(cfg.patch / 11)) + 1))
        weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[:levels]

        def ms_ssim_loss(y, p):
            ssim = tf.image.ssim_multiscale(y, tf.clip_by_value(p, 0, 1), 1.0, power_factors=weights)
            return 1.0 - tf.reduce_mean(ssim) + 0.1 * tf.reduce_mean(tf.abs(y - p))

        return ms_ssim_loss
    if cfg.loss == "perceptual":
        if not cfg.vgg_weights or not Path(cfg.vgg_weights).is_file():
            raise SystemExit("--loss perceptual needs --vgg-weights FILE (a local VGG19 .h5/.weights.h5; nothing is downloaded)")
        import keras

        vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
        vgg.load_weights(cfg.vgg_weights)
        features = keras.Model(vgg.input, vgg.get_layer("block3_conv4").output)
        features.trainable = False
        mean = tf.constant([103.939, 116.779, 123.68])

        def prep(x):  # RGB [0,1] -> VGG's caffe-style BGR minus mean
            return tf.reverse(x * 255.0, axis=[-1]) - mean

        def perceptual_loss(y, p):
            fy, fp = features(prep(y)), features(prep(p))
            return tf.reduce_mean(tf.abs(y - p)) + 0.01 * tf.reduce_mean(tf.square(fy - fp)) / 1000.0

        return perceptual_loss
    raise SystemExit(f"unknown --loss {cfg.loss!r}")
