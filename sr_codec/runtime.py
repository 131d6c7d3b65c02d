"""Running the decoder network: device choice, one compiled graph per model, tiles and batches.

* **Device**: ``device="cpu" | "gpu" | None``; None reads ``SR_CODEC_DEVICE`` and otherwise takes the
  GPU when TensorFlow sees one. Asking for a GPU that is absent raises :class:`DeviceError`.
* **Runners**: one per (weights dir, model id, device, runtime) and process, built once under a lock
  and shared by all threads. The Keras runner is a ``tf.function`` over ``uint8 [N, H, W, 3]``
  traced once for every size; the LiteRT runner is the TFLite model under XNNPACK.
* **Tiles**: big images are cut into low-res windows that overlap by more than the network's
  receptive field (derived from its layers, :func:`geometry`); every window's output is cropped to
  its core, so the assembled image is the untiled one up to float rounding (max 1 LSB), in memory
  bounded by the tile size. All windows of an image share one size, so they batch.

TensorFlow is imported only by the functions that run a network.
"""

from __future__ import annotations

import math
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DeviceError, ModelError, SrCodecError
from .models import zoo

DEVICE_ENV = "SR_CODEC_DEVICE"
DEVICES = ("cpu", "gpu")
RUNTIMES = ("keras", "litert")
AUTO_RUNTIME = "auto"  # the shipped .tflite under LiteRT on the CPU, Keras on a GPU (resolve_runtime)
DEFAULT_RUNTIME = "keras"  # of get_runner; upscale/decode default to AUTO_RUNTIME

TILE_SAFETY = 2  # low-res pixels of overlap beyond the computed receptive field
MIN_TILE = 32  # smallest automatic tile core, low-res pixels per side
MIN_EXPLICIT_TILE = 8  # smaller tile= values are raised to this (or to the margin): tile=1 is all overlap
LITERT_BUDGET = 384 << 20  # activation bytes per LiteRT call (measured: XNNPACK uses ~1.08x the estimate); 12 MP peak RSS stays under ~600 MB
CPU_MEMORY_FRACTION = 0.25  # of the available RAM, for the activations of one network call
CPU_BUDGET_CAP = 1 << 30  # bytes; larger calls are no faster and only raise the peak RSS
GPU_BUDGET = 2 << 30  # bytes of activations per call on a GPU (TensorFlow exposes no free-memory figure)


# --------------------------------------------------------------------------------------------- device


@lru_cache(maxsize=1)
def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU (asked once per process: the first call imports TensorFlow).

    False without asking when TensorFlow is not installed (a receiver's base install).
    """
    if not tensorflow_installed():
        return False
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def tensorflow_installed() -> bool:
    """Whether TensorFlow can be imported, found without importing it."""
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken install, or an import hook that refuses it
        return False


def gpu_hardware_present() -> bool:
    """A cheap guess, nothing imported: a GPU driver's device node exists (NVIDIA, AMD ROCm) or this is macOS."""
    import sys

    if sys.platform == "darwin":
        return True
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"))


def requested_device(device: str | None = None) -> str:
    """``"auto"``, ``"cpu"`` or ``"gpu"``: ``device``, else ``$SR_CODEC_DEVICE``; validated, nothing imported."""
    choice = device if device is not None else os.environ.get(DEVICE_ENV, "")
    choice = choice.strip().lower() or "auto"
    if choice != "auto" and choice not in DEVICES:
        source = "device" if device is not None else DEVICE_ENV
        raise DeviceError(f"{source} must be 'cpu', 'gpu' or unset, got {choice!r}")
    return choice


def resolve_device(device: str | None = None, runtime: str = "keras") -> str:
    """``"cpu"`` or ``"gpu"``: ``device``, else ``$SR_CODEC_DEVICE``, else the GPU when TensorFlow sees one.

    The LiteRT runtime is CPU-only, so "automatic" means the CPU for it.
    """
    choice = requested_device(device)
    if choice == "auto":  # TensorFlow is asked (imported) only where a GPU can be there at all
        return "cpu" if runtime == "litert" or not gpu_hardware_present() or not gpu_available() else "gpu"
    if choice == "gpu" and not tensorflow_installed():
        raise DeviceError("device='gpu' runs through TensorFlow, which is not installed: pip install 'sr-codec[gpu]'")
    if choice == "gpu" and not gpu_hardware_present():  # answered without importing TensorFlow
        raise DeviceError("a GPU was requested but this machine has no GPU driver device (/dev/nvidia*, /dev/kfd)")
    if choice == "gpu" and not gpu_available():
        raise DeviceError("a GPU was requested but TensorFlow sees none (is a CUDA build of TensorFlow installed?)")
    return choice


def resolve_runtime(runtime: str | None, device: str, model_id: str, weights_dir: Path | None = None) -> str:
    """``"keras"`` or ``"litert"`` for ``model_id`` on ``device`` (resolved): ``None``/``"auto"`` means the
    shipped ``.tflite`` under LiteRT on the CPU (no TensorFlow), Keras on a GPU or when no ``.tflite`` is shipped."""
    if runtime is None or runtime == AUTO_RUNTIME:
        from . import litert

        weights_dir = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR
        return "litert" if device == "cpu" and litert.has_shipped_tflite(model_id, weights_dir) else "keras"
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be 'auto' or one of {RUNTIMES}, got {runtime!r}")
    return runtime


# ------------------------------------------------------------------------------------------- geometry


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
    if kind in ("UpSampling2D", "Resize", "ConvBicubic"):
        factor = layer.size[0] if kind == "UpSampling2D" else layer.scale
        method = getattr(layer, "interpolation", getattr(layer, "method", "bicubic"))
        taps = {"nearest": Fraction(1, 2), "bilinear": Fraction(1), "bicubic": Fraction(2)}.get(method)
        if taps is None:
            raise ModelError(f"layer {layer.name}: unknown interpolation {method!r}")
        return reach + taps * pixel, pixel / factor
    if "shuffle" in kind.lower() and hasattr(layer, "scale"):  # models.fast.PixelShuffle (depth_to_space)
        return reach + pixel / 2, pixel / layer.scale
    raise ModelError(f"layer {layer.name} ({kind}): its receptive field is unknown to sr_codec.runtime, "
                     "so the network cannot be tiled safely; teach _through() this layer type")


# ------------------------------------------------------------------------------------------- memory


def available_memory() -> int:
    """Bytes of RAM available to this process: psutil if installed, else /proc/meminfo, capped by a cgroup limit."""
    available = None
    try:
        import psutil

        available = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        available = int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    try:  # containers: the cgroup v2 limit can be far below the host's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            available = min(available or 1 << 62, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(int(available) if available else 2 << 30, 256 << 20)


def memory_budget(device: str, runtime: str = "keras") -> int:
    """Bytes of activations one network call may use on ``device`` with ``runtime``."""
    if device == "gpu":
        return GPU_BUDGET
    cap = LITERT_BUDGET if runtime == "litert" else CPU_BUDGET_CAP
    return int(min(cap, CPU_MEMORY_FRACTION * available_memory()))


def clamp_tile(tile: int, geo: Geometry) -> int:
    """An explicit tile core raised to ``MIN_EXPLICIT_TILE`` and the overlap margin (0 = untiled stays 0):
    a core smaller than its overlap recomputes each output pixel up to (1 + 2 margin / core)^2 times."""
    return 0 if tile == 0 else max(int(tile), MIN_EXPLICIT_TILE, geo.margin)


# --------------------------------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tile:
    """One network call's worth of an image: the low-res ``window`` it reads and the ``core`` it keeps."""

    window: tuple[int, int, int, int]  # y0, y1, x0, x1 in the low-res image
    core: tuple[int, int, int, int]  # y0, y1, x0, x1 in the low-res image, inside window

    @property
    def shape(self) -> tuple[int, int]:
        return self.window[1] - self.window[0], self.window[3] - self.window[2]


def _axis_spans(n: int, core: int, margin: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """(window start, window end, core start, core end) along one axis; all windows the same length."""
    if core <= 0 or n <= core + 2 * margin:
        return [(0, n, 0, n)]
    count = -(-n // core)
    step = -(-(-(-n // count)) // multiple) * multiple  # near-equal cores, multiples of `multiple`
    length = step + 2 * margin
    spans = []
    for start in range(0, n, step):
        w0 = min(max(start - margin, 0), n - length)  # slide inwards at the borders, keep the length
        spans.append((w0, w0 + length, start, min(start + step, n)))
    return spans


def plan_tiles(height: int, width: int, core: int, geo: Geometry) -> list[Tile]:
    """Cut a ``height`` x ``width`` low-res image into tiles of ``core`` pixels per side (0 = one tile)."""
    core = -(-core // geo.multiple) * geo.multiple if core > 0 else 0
    rows = _axis_spans(height, core, geo.margin, geo.multiple)
    cols = _axis_spans(width, core, geo.margin, geo.multiple)
    return [Tile((wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1))
            for wy0, wy1, cy0, cy1 in rows for wx0, wx1, cx0, cx1 in cols]


def auto_tile(height: int, width: int, geo: Geometry, budget: int) -> int:
    """Tile core side for a ``budget`` of activation bytes per call: 0 (no tiling) when the image fits."""
    max_pixels = budget / (4 * geo.floats_per_pixel)
    if height * width <= max_pixels:
        return 0
    side = int(math.isqrt(int(max_pixels))) - 2 * geo.margin
    return max(side // geo.multiple * geo.multiple, MIN_TILE)


# -------------------------------------------------------------------------------------------- runners


class Runner:
    """A loaded network ready to run: ``runner(batch uint8 [N, h, w, 3]) -> uint8 [N, h*s, w*s, 3]``."""

    def __init__(self, model, scale: int, device: str, runtime: str):
        self.scale = scale
        self.device = device
        self.runtime = runtime
        self.geometry = geometry(model)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class KerasRunner(Runner):
    """The network as one ``tf.function`` (traced once for every size), on the chosen device."""

    def __init__(self, model, scale: int, device: str):
        super().__init__(model, scale, device, "keras")
        import tensorflow as tf

        from .export import portable_model

        self._tf = tf
        self._device = "/GPU:0" if device == "gpu" else "/CPU:0"
        with tf.device(self._device):
            net = portable_model(model, "tf")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], reduce_retracing=True)
        def infer(low_res):
            high_res = net(tf.cast(low_res, tf.float32) / 255.0, training=False)
            return tf.cast(tf.round(tf.clip_by_value(high_res * 255.0, 0.0, 255.0)), tf.uint8)

        self.net = net
        self.infer = infer  # public so callers can check it is traced once (experimental_get_tracing_count)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._tf.device(self._device):
            return self.infer(batch).numpy()


class LiteRtRunner(Runner):
    """The network converted to TFLite (builtins only) under the LiteRT/TFLite interpreter with XNNPACK.

    An interpreter is not thread-safe and is resized per input shape, so calls are serialised.
    """

    def __init__(self, model, scale: int, device: str):
        if device != "cpu":
            raise DeviceError("runtime='litert' runs on the CPU only; use device='cpu' or runtime='keras'")
        super().__init__(model, scale, device, "litert")
        from .export import tflite_bytes, tflite_interpreter

        self._interpreter = tflite_interpreter(tflite_bytes(model), num_threads=os.cpu_count())
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        outputs = []
        with self._lock:
            for image in batch:  # the converted model takes [1, H, W, 3]
                x = image[None].astype(np.float32) / 255.0
                if x.shape != self._shape:
                    self._interpreter.resize_tensor_input(self._input, x.shape)
                    self._interpreter.allocate_tensors()
                    self._shape = x.shape
                self._interpreter.set_tensor(self._input, x)
                self._interpreter.invoke()
                outputs.append(self._interpreter.get_tensor(self._output)[0])
        return np.clip(np.round(np.stack(outputs) * 255.0), 0, 255).astype(np.uint8)


_runners: dict[tuple[str, str, str, str], Runner] = {}
_runners_lock = threading.Lock()


def get_runner(model_id: str, device: str, runtime: str = DEFAULT_RUNTIME,
               weights_dir: Path | None = None) -> Runner:
    """The process-wide runner of ``model_id`` on ``device`` ("cpu"/"gpu", already resolved), built once."""
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    weights_dir = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR
    key = (str(weights_dir), model_id, device, runtime)
    with _runners_lock:
        runner = _runners.get(key)
        if runner is None and runtime == "litert" and device == "cpu":
            from . import litert  # the shipped .tflite, when there is one: no TensorFlow

            if litert.has_shipped_tflite(model_id, weights_dir):
                runner = _runners[key] = litert.TfliteRunner.from_shipped(model_id, weights_dir)
        if runner is None:
            if not tensorflow_installed():
                raise ModelError(f"{model_id} has no shipped .tflite, and its Keras weights need TensorFlow: "
                                 "pip install 'sr-codec[train]'")
            info = zoo.model_info(model_id, weights_dir)
            model = zoo.load_model(model_id, device, weights_dir)
            make = KerasRunner if runtime == "keras" else LiteRtRunner
            try:
                runner = make(model, int(info["scale"]), device)
            except (DeviceError, ModelError):
                raise
            except Exception as exc:  # TensorFlow / converter failures
                raise ModelError(f"cannot prepare {model_id} for {runtime} on {device}: {exc}") from exc
            _runners[key] = runner
        return runner


# ----------------------------------------------------------------------------------------------- run


def run_tiled(runner: Runner, images: Sequence[np.ndarray], tile: int | None = None,
              budget: int | None = None) -> list[np.ndarray]:
    """Upscale uint8 low-res images with ``runner``, tiled and batched within a memory ``budget``.

    ``tile``: tile core side in low-res pixels; None = chosen from ``budget`` (default: from the
    available memory), 0 = never tile. Windows of the same size, from one image or several, run
    together in batches. Image sides must be multiples of ``runner.geometry.multiple``.
    """
    geo, s = runner.geometry, runner.scale
    budget = budget if budget is not None else memory_budget(runner.device, runner.runtime)
    bytes_per_pixel = 4 * geo.floats_per_pixel
    outputs = [np.empty((im.shape[0] * s, im.shape[1] * s, 3), np.uint8) for im in images]
    jobs: dict[tuple[int, int], list[tuple[int, Tile]]] = defaultdict(list)
    for index, image in enumerate(images):
        h, w = image.shape[:2]
        if h % geo.multiple or w % geo.multiple:
            raise ValueError(f"image sides {h}x{w} must be multiples of {geo.multiple}")
        core = auto_tile(h, w, geo, budget) if tile is None else clamp_tile(tile, geo)
        for t in plan_tiles(h, w, core, geo):
            jobs[t.shape].append((index, t))
    for (th, tw), group in jobs.items():
        per_call = max(1, int(budget // (bytes_per_pixel * th * tw)))
        for start in range(0, len(group), per_call):
            chunk = group[start:start + per_call]
            batch = np.stack([images[i][t.window[0]:t.window[1], t.window[2]:t.window[3]] for i, t in chunk])
            try:
                result = runner(batch)
            except SrCodecError:
                raise
            except Exception as exc:  # TensorFlow OpError (e.g. out of memory), interpreter RuntimeError
                raise ModelError(f"the network failed on a {batch.shape} batch: {exc}") from exc
            for (i, t), hr in zip(chunk, result):
                (wy0, _, wx0, _), (cy0, cy1, cx0, cx1) = t.window, t.core
                outputs[i][cy0 * s:cy1 * s, cx0 * s:cx1 * s] = hr[(cy0 - wy0) * s:(cy1 - wy0) * s,
                                                                   (cx0 - wx0) * s:(cx1 - wx0) * s]
    return outputs
