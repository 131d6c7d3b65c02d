"""What tiling needs to know about a network, read from its layers: receptive field, alignment, activation size.

Pure graph walking: this module imports neither Keras nor TensorFlow (it reads the layers of a model it is given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ModelError

TILE_SAFETY = 2  # low-res pixels of overlap beyond the computed receptive field


@dataclass(frozen=True)
class Geometry:
    """What tiling needs to know about a network, in low-res (input) pixels.

    ``radius``: an output pixel depends on input pixels at most this far from its own low-res pixel.
    ``multiple``: window offsets and sizes must be multiples of it (pooling grids stay aligned).
    ``floats_per_pixel``: activations of all layers per input pixel (a conservative memory estimate).
    """

    radius: int
    multiple: int
    floats_per_pixel: float

    @property
    def margin(self) -> int:
        """Overlap kept around every tile core: the radius plus a safety margin, rounded up to ``multiple``."""
        return -(-(self.radius + TILE_SAFETY) // self.multiple) * self.multiple


def geometry(model) -> Geometry:
    """Receptive field, alignment and activation size of a Keras functional model, read from its layers.

    Positions are measured between pixel centres in input-pixel units; each layer adds what it
    can reach (a 3x3 conv one pixel of its own grid, bicubic two, ...). Branches meeting in an
    Add take the larger reach, so the bicubic skip does not add to the conv trunk.
    """
    total = [Fraction(0)]
    grid = [1]
    reach, _ = _walk(model, Fraction(0), Fraction(1), total, grid)
    radius = math.ceil(reach + Fraction(1, 2))  # an output pixel lies within half a pixel of its input pixel
    return Geometry(radius=radius, multiple=grid[0], floats_per_pixel=float(total[0]))


def _walk(model, reach: Fraction, pixel: Fraction, total: list, grid: list) -> tuple[Fraction, Fraction]:
    """Propagate (reach, pixel size) from ``model``'s single input to its output through its graph.

    ``total[0]`` sums activation floats per input pixel; ``grid[0]`` becomes the least input shift
    that moves every feature grid by whole pixels (the lcm of the pixel sizes' numerators: a
    0.4-pixel grid, x10 then two 2x2 poolings, needs even shifts).
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelError(f"{model.name}: tiling needs a single-input, single-output model")
    states = {id(model.inputs[0]): (reach, pixel)}
    for layer in model.layers:
        for node in getattr(layer, "_inbound_nodes", []):
            inputs = [states.get(id(t)) for t in node.input_tensors]
            if not inputs or any(s is None for s in inputs):
                continue  # an InputLayer, or a node from another graph that reuses the layer
            out = _through(layer, inputs, total, grid)
            grid[0] = math.lcm(grid[0], out[1].numerator)
            for tensor in node.output_tensors:
                states[id(tensor)] = out
                if not hasattr(layer, "layers"):  # nested models count their own layers
                    total[0] += Fraction(int(tensor.shape[-1] or 0)) / (out[1] * out[1])
    try:
        return states[id(model.outputs[0])]
    except KeyError:
        raise ModelError(f"{model.name}: cannot follow the graph from input to output") from None


_ELEMENTWISE = {
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Dropout", "SpatialDropout2D",
    "BatchNormalization", "LayerNormalization", "Rescaling", "Identity", "GaussianNoise",
}
_MERGE = {"Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"}


def _through(layer, inputs, total, grid) -> tuple[Fraction, Fraction]:
    kind = type(layer).__name__
    reach, pixel = max(r for r, _ in inputs), min(p for _, p in inputs)
    if hasattr(layer, "layers") and hasattr(layer, "inputs"):  # a nested functional model
        return _walk(layer, reach, pixel, total, grid)
    if kind in _ELEMENTWISE or kind in _MERGE or kind == "InputLayer":
        return reach, pixel
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        (kh, kw), (dh, dw), (sh, sw) = layer.kernel_size, layer.dilation_rate, layer.strides
        if sh != sw:
            raise ModelError(f"layer {layer.name}: unequal strides")
        return reach + max((kh - 1) // 2 * dh, (kw - 1) // 2 * dw) * pixel, pixel * sh
    if kind == "Conv2DTranspose":
        (kh, kw), (sh, _) = layer.kernel_size, layer.strides
        finer = pixel / sh
        return reach + Fraction(max(kh, kw), 2) * finer + pixel / 2, finer
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        (ph, pw), (sh, _) = layer.pool_size, layer.strides
        return reach + Fraction(max(ph, pw) - 1, 2) * pixel, pixel * sh
    if kind == "UpSampling2D":
        return upsampling_reach(layer.interpolation, layer.size[0], reach, pixel, layer.name)
    if hasattr(layer, "receptive_field"):  # sr_codec's own layers (sr_codec.nn.layers) declare theirs
        return layer.receptive_field(reach, pixel)
    raise ModelError(f"layer {layer.name} ({kind}): its receptive field is unknown to sr_codec.nn.geometry, "
                     "so the network cannot be tiled safely; give the layer a receptive_field(reach, pixel) method")


def upsampling_reach(method: str, factor: int, reach: Fraction, pixel: Fraction, name: str = "") -> tuple[Fraction, Fraction]:
    """(reach, pixel size) after an interpolating upsampling by ``factor``: nearest, bilinear or bicubic taps."""
    taps = {"nearest": Fraction(1, 2), "bilinear": Fraction(1), "bicubic": Fraction(2)}.get(method)
    if taps is None:
        raise ModelError(f"layer {name}: unknown interpolation {method!r}")
    return reach + taps * pixel, pixel / factor
