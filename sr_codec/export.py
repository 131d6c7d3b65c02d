"""Portable inference graphs: the trained network as a dynamic-shape TF graph, a SavedModel or a TFLite model.

``python -m sr_codec.export --format savedmodel|tflite [--model ID | --scale S] --out DIR``

writes ``DIR/<model id>/1/`` (a SavedModel, servable with ``tensorflow_model_server
--model_base_path=DIR/<model id>``; signature ``serving_default``: float32 ``low_res`` [N, H, W, 3]
in 0..1 -> ``high_res`` [N, H*s, W*s, 3]) or ``DIR/<model id>.tflite`` (input [1, H, W, 3], H and W
dynamic unless ``--size H W``).

Why a rewrite is needed at all: the networks' bicubic base is ``keras.layers.UpSampling2D(
interpolation="bicubic")``, which (Keras 3.15) cannot be traced with unknown height/width
(it turns a symbolic shape into a Python bool), and whose TF op, ``ResizeBicubic``, is not a
TFLite builtin. :func:`portable_model` clones the network with its upsampling layers swapped for

* :class:`Resize` -- the same TF op called directly, so it traces with any size (the decode
  runtime and the SavedModel use it: bit-for-bit the op the network was trained with);
* :class:`ConvBicubic` (TFLite) -- the same interpolation as a fixed 5x5 convolution +
  ``depth_to_space``, normalised like TF's border handling (out-of-image taps weigh 0, the rest
  is renormalised), from builtins only (CONV_2D, DEPTH_TO_SPACE, DIV). It equals the TF op
  within float rounding (< 1e-6 on 0..1 images).

The trained weights are copied unchanged (none of these layers has any).

This module imports TensorFlow: the package imports it only when a network runs or an export is asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from .errors import ModelError, SrCodecError
from .models import zoo

FORMATS = ("savedmodel", "tflite")
SERVING_INPUT = "low_res"
SERVING_OUTPUT = "high_res"

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

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def portable_model(model: keras.Model, target: str = "tf") -> keras.Model:
    """``model`` with its ``UpSampling2D`` layers rewritten for ``target`` (``"tf"`` or ``"tflite"``), same weights.

    ``"tf"``: bicubic -> :class:`Resize` (the identical op, traceable with any size); nearest is kept.
    ``"tflite"``: bicubic -> :class:`ConvBicubic`, nearest -> :class:`Resize` ("nearest"); Keras' repeat-based
    nearest upsampling loses the channel count under dynamic shapes, which TFLite's CONV_2D needs.
    """
    if target not in ("tf", "tflite"):
        raise ValueError(f"target must be 'tf' or 'tflite', got {target!r}")

    def clone_layer(layer):
        if isinstance(layer, keras.layers.UpSampling2D) and (target == "tflite" or layer.interpolation == "bicubic"):
            if layer.size[0] != layer.size[1] or layer.interpolation not in ("bicubic", "nearest"):
                raise ModelError(f"layer {layer.name}: cannot rewrite {layer.interpolation} x{layer.size} upsampling")
            if layer.interpolation == "bicubic" and target == "tflite":
                return ConvBicubic(layer.size[0], name=layer.name)
            return Resize(layer.size[0], layer.interpolation, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    return clone


def _serving_graph(net: keras.Model, model: keras.Model):
    """float32 [N, H, W, 3] in 0..1 -> clipped output, edge-padding H and W to the pooling grid when needed.

    The seed autoencoder at x2 and x10 needs even low-res sides; the fast networks take any size.
    The padding is a clamped-index gather (TFLite GATHER), the crop a strided slice.
    """
    from .runtime import geometry

    multiple = geometry(model).multiple

    def run(low_res):
        if multiple == 1:
            return tf.clip_by_value(net(low_res, training=False), 0.0, 1.0)
        h, w = tf.shape(low_res)[1], tf.shape(low_res)[2]
        rows = tf.minimum(tf.range((h + multiple - 1) // multiple * multiple), h - 1)
        cols = tf.minimum(tf.range((w + multiple - 1) // multiple * multiple), w - 1)
        padded = tf.gather(tf.gather(low_res, rows, axis=1), cols, axis=2)
        high_res = net(padded, training=False)
        s = tf.shape(high_res)[1] // tf.shape(padded)[1]
        return tf.clip_by_value(high_res[:, : h * s, : w * s], 0.0, 1.0)

    return run


def inference_function(model: keras.Model, batch: int | None = None):
    """A ``tf.function`` float32 [batch, H, W, 3] in 0..1 -> dict(high_res=...) for any H, W (traced once)."""
    net = portable_model(model, "tf")
    run = _serving_graph(net, model)

    @tf.function(input_signature=[tf.TensorSpec([batch, None, None, 3], tf.float32, name=SERVING_INPUT)])
    def serve(low_res):
        return {SERVING_OUTPUT: run(low_res)}

    return net, serve


def save_savedmodel(model: keras.Model, out_dir: Path) -> Path:
    """Write a SavedModel whose ``serving_default`` takes float32 [N, H, W, 3] in 0..1 and returns ``high_res``.

    The batch dimension is left open so TF Serving's request batching can stack images of one size.
    """
    module = tf.Module()
    module.net, module.serve = inference_function(model)
    out_dir = Path(out_dir)
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    return out_dir


TFLITE_PRECISIONS = ("fp32", "fp16", "int8")


def tflite_bytes(model: keras.Model, size: tuple[int, int] | None = None, precision: str = "fp32") -> bytes:
    """The network as a TFLite flatbuffer (builtins only), input float32 [1, H, W, 3] in 0..1.

    H and W are dynamic (resize the input tensor before ``allocate_tensors``) unless ``size`` fixes them.
    ``precision``: ``"fp32"``; ``"fp16"`` (weights stored as float16, dequantised on load);
    ``"int8"`` (dynamic-range quantisation: int8 weights, activations quantised per call).
    """
    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision must be one of {TFLITE_PRECISIONS}, got {precision!r}")
    net = portable_model(model, "tflite")
    run = _serving_graph(net, model)
    h, w = size if size is not None else (None, None)

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name=SERVING_INPUT)])
    def serve(low_res):
        return {SERVING_OUTPUT: run(low_res)}

    # No trackable object on purpose: that path freezes the weights into constants. With the model
    # passed as trackable, TF 2.21 keeps Keras 3 variables as resource variables that the
    # interpreter never initialises (READ_VARIABLE fails or the output is NaN).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        return converter.convert()
    except Exception as exc:  # converter errors are plain Exceptions with the MLIR diagnostics
        raise ModelError(f"TFLite conversion failed: {exc}") from exc


def tflite_interpreter(content: bytes, num_threads: int | None = None):
    """A TFLite interpreter for ``content``: ``ai_edge_litert`` when installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content, num_threads=num_threads)


def _load(model_id: str | None, scale: int | None, weights_dir: Path) -> tuple[str, keras.Model]:
    if model_id is None:
        model_id = zoo.default_model_id(scale or 4, weights_dir)
        if model_id == zoo.BICUBIC:
            raise ModelError(f"no trained x{scale or 4} model in {weights_dir}; nothing to export")
    return model_id, zoo.load_model(model_id, "cpu", weights_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sr_codec.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--format", required=True, choices=FORMATS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="model id from the manifest (default: the default model of --scale)")
    which.add_argument("--scale", type=int, default=None, help="export the default model of this scale (default 4)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="tflite: fix the low-res input size instead of dynamic H/W")
    p.add_argument("--weights-dir", type=Path, default=zoo.WEIGHTS_DIR)
    args = p.parse_args(argv)
    try:
        model_id, model = _load(args.model, args.scale, args.weights_dir)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.format == "savedmodel":
            target = save_savedmodel(model, args.out / model_id / "1")  # TF Serving: <base path>/<version>/
        else:
            target = args.out / f"{model_id}.tflite"
            target.write_bytes(tflite_bytes(model, tuple(args.size) if args.size else None))
    except SrCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
