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

import re
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


TFLITE_PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-full", "int8-trunk")
"""What :func:`tflite_bytes` makes; every one takes and returns float32, so the file contract is the same.

* ``fp32``: float32 weights and arithmetic.
* ``fp16``: float16 weights, dequantised on load (float32 arithmetic).
* ``int8-dynamic``: dynamic-range quantisation: int8 weights, activations quantised per call by the kernels.
* ``int8-full``: int8 weights and activations everywhere (TFLite's full-integer conversion, ranges calibrated
  on a representative dataset), float32 only at the edges (QUANTIZE / DEQUANTIZE).
* ``int8-trunk``: the low-resolution trunk (its convolutions and additions, where the compute is) in int8
  with calibrated ranges; the bicubic base, the final addition and the clip stay float32 at full
  resolution, so the output is not quantised and int8 DIV (a slow reference kernel) is avoided.
"""
CALIBRATED = ("int8-full", "int8-trunk")


def low_res_layers(net: keras.Model) -> list[str]:
    """Names of the Conv2D and Add layers of ``net`` that work at the input's resolution (its trunk)."""
    probe = tf.zeros((1, 8, 8, int(net.input.shape[-1])))
    names = []
    for layer in net.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Add)):
            if keras.Model(net.input, layer.output)(probe).shape[1:3] == (8, 8):
                names.append(layer.name)
    return names


def tflite_bytes(model: keras.Model, size: tuple[int, int] | None = None, precision: str = "fp32",
                 representative=None) -> bytes:
    """The network as a TFLite flatbuffer (builtins only), input float32 [1, H, W, 3] in 0..1.

    H and W are dynamic (resize the input tensor before ``allocate_tensors``) unless ``size`` fixes them.
    ``precision``: one of :data:`TFLITE_PRECISIONS`. ``representative`` (``int8-full``, ``int8-trunk``
    only): a callable returning an iterable of float32 ``[1, h, w, 3]`` low-res inputs in 0..1 (any
    sizes), what the network sees in use, to calibrate the int8 ranges on.
    """
    net = portable_model(model, "tflite")
    run = _serving_graph(net, model)
    h, w = size if size is not None else (None, None)

    @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name=SERVING_INPUT)])
    def serve(low_res):
        return {SERVING_OUTPUT: run(low_res)}

    int8_layers = low_res_layers(net) if precision == "int8-trunk" else None
    return convert_to_tflite(serve.get_concrete_function(), precision, representative, int8_layers)


def _op_output_names(content: bytes) -> list[str]:
    """The names of the tensors the operators of a flatbuffer write (what the quantiser calls nodes)."""
    interpreter = tflite_interpreter(content)
    tensors = interpreter.get_tensor_details()
    return [tensors[i]["name"] for op in interpreter._get_ops_details() for i in op["outputs"]]


def convert_to_tflite(function, precision: str = "fp32", representative=None,
                      int8_layers: list[str] | None = None) -> bytes:
    """A concrete ``tf.function`` as a TFLite flatbuffer: builtin ops only, weights frozen into constants.

    ``int8-trunk``: only the operators of the Keras layers named in ``int8_layers`` are quantised.
    """
    if precision not in TFLITE_PRECISIONS:
        raise ValueError(f"precision must be one of {TFLITE_PRECISIONS}, got {precision!r}")
    if (precision in CALIBRATED) != (representative is not None):
        raise ValueError(f"a representative dataset is needed for {CALIBRATED}, and only for them")
    if (precision == "int8-trunk") != (int8_layers is not None):
        raise ValueError("int8_layers is needed for int8-trunk, and only for it")

    def converter():
        # No trackable object on purpose: that path freezes the weights into constants. With the model
        # passed as trackable, TF 2.21 keeps Keras 3 variables as resource variables that the
        # interpreter never initialises (READ_VARIABLE fails or the output is NaN).
        conv = tf.lite.TFLiteConverter.from_concrete_functions([function])
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if precision != "fp32":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
        if precision == "fp16":
            conv.target_spec.supported_types = [tf.float16]
        if precision in CALIBRATED:
            # int8 kernels where they exist, float builtins for the rest; float32 in and out.
            conv.representative_dataset = lambda: ([x] for x in representative())
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        return conv

    try:
        if precision != "int8-trunk":
            return converter().convert()
        # Every operator outside the trunk is kept float by name (the quantiser's denylist).
        float_model = tf.lite.TFLiteConverter.from_concrete_functions([function]).convert()
        trunk = re.compile("/(" + "|".join(map(re.escape, int8_layers)) + r")(_\d+)?/")
        denylist = [name for name in _op_output_names(float_model) if not trunk.search(name)]
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter(), debug_dataset=lambda: ([x] for x in list(representative())[:1]),
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denylist))
        return debugger.get_nondebug_quantized_model()
    except Exception as exc:  # converter errors are plain Exceptions with the MLIR diagnostics
        raise ModelError(f"TFLite conversion failed: {exc}") from exc


def tflite_interpreter(content: bytes, num_threads: int | None = None):
    """A TFLite interpreter for ``content``: ``ai_edge_litert`` when installed, else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = tf.lite.Interpreter
    return Interpreter(model_content=content, num_threads=num_threads)
