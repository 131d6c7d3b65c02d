"""Portable inference graphs: the trained network as a dynamic-shape TF graph, a SavedModel or a TFLite model.

Why a rewrite is needed at all: the networks' bicubic base is ``keras.layers.UpSampling2D(
interpolation="bicubic")``, which (Keras 3.15) cannot be traced with unknown height/width
(it turns a symbolic shape into a Python bool), and whose TF op, ``ResizeBicubic``, is not a
TFLite builtin. :func:`portable_model` clones the network with its upsampling layers swapped for
:class:`~sr_codec.nn.layers.Resize` (TF) or :class:`~sr_codec.nn.layers.ConvBicubic` (TFLite).
The trained weights are copied unchanged (none of these layers has any).

The command line is ``python -m sr_codec.export`` (:mod:`sr_codec.export`). This module imports TensorFlow.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from ..errors import ModelError
from .geometry import geometry
from .layers import ConvBicubic, Resize

SERVING_INPUT = "low_res"
SERVING_OUTPUT = "high_res"


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
    net = portable_model(model, "tflite")
    run = _serving_graph(net, model)
    h, w = size if size is not None else (None, None)

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name=SERVING_INPUT)])
    def serve(low_res):
        return {SERVING_OUTPUT: run(low_res)}

    return convert_to_tflite(serve.get_concrete_function(), precision)


def convert_to_tflite(function, precision: str = "fp32") -> bytes:
    """A concrete ``tf.function`` as a TFLite flatbuffer: builtin ops only, weights frozen into constants."""
    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision must be one of {TFLITE_PRECISIONS}, got {precision!r}")
    # No trackable object on purpose: that path freezes the weights into constants. With the model
    # passed as trackable, TF 2.21 keeps Keras 3 variables as resource variables that the
    # interpreter never initialises (READ_VARIABLE fails or the output is NaN).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
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
