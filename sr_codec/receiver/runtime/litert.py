"""The receiver's runtime: shipped ``.tflite`` networks under the LiteRT interpreter, without TensorFlow.

Every manifest upscaler with a ``tflite`` field ships that file beside its Keras weights, made by
``python -m sr_codec.export.ship_tflite`` (:func:`sr_codec.nn.portable.tflite_bytes`). The field holds the
file name, its sha256 (checked on load), its precision and the network's tiling geometry (what
:func:`sr_codec.nn.geometry.geometry` reads off the Keras model), so tiling needs no Keras either.
``tflite`` is the file this runtime runs: ``<id>.int8-trunk.tflite`` (int8 low-resolution trunk, float
bicubic base and output) where a quantized file is shipped; ``tflite_fp32`` then names the float32
``<id>.tflite`` kept for platforms that need float. The shipped file is the pixel reference
(docs/format.md): every receiver running it agrees within 2 levels.

Contract of a shipped file (either precision): input ``float32 [1, H, W, 3]``, RGB in 0..1, H and W
dynamic (``resize_tensor_input`` then ``allocate_tensors``); output ``float32 [1, H*s, W*s, 3]`` in 0..1
(already clipped). :class:`TfliteRunner` wraps it in the contract of the runners in
:mod:`sr_codec.receiver.runtime.runners`: ``runner(uint8 [N, h, w, 3]) -> uint8 [N, h*s, w*s, 3]``.

The verified reader, the interpreter (``ai_edge_litert``, else ``tflite_runtime``, else TensorFlow's),
threads (``$SR_CODEC_THREADS``) and quiet logs (``$SR_CODEC_VERBOSE``) live in :mod:`sr_codec.nn.interpreter`,
which the sender's downscaler uses too; their names are re-exported here.

Nothing in this module imports TensorFlow unless the fallback interpreter is the only one installed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ...errors import ModelError
from ...nn.geometry import Geometry
from ...nn.interpreter import (THREADS_ENV, VERBOSE_ENV, allocate, default_threads, interpreter_class,  # noqa: F401
                               make_interpreter, quiet_stderr, read_verified, verbose)
from ...zoo import manifest as zoo

TFLITE_FIELD = "tflite"
"""The manifest field of the file this runtime runs (int8 where one is shipped)."""
TFLITE_FP32_FIELD = "tflite_fp32"
"""The float32 file kept beside a quantized one, for platforms that need float (GPU delegates, a browser)."""

_bytes_cache: dict[tuple[str, str], bytes] = {}
_bytes_lock = threading.Lock()


def tflite_entry(model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR) -> dict | None:
    """The manifest's ``tflite`` field of upscaler ``model_id`` when its file is present, else None."""
    info = zoo.model_info(model_id, weights_dir)
    if info.get("arch") == zoo.DOWNSCALER_ARCH:  # the sender's network, another contract (sender/learned.py)
        return None
    entry = info.get(TFLITE_FIELD)
    if not entry or not (Path(weights_dir) / entry["file"]).is_file():
        return None
    return entry


def has_shipped_tflite(model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR) -> bool:
    return model_id != zoo.BICUBIC and tflite_entry(model_id, weights_dir) is not None


def load_tflite(model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR) -> bytes:
    """The verified bytes of ``model_id``'s shipped ``.tflite`` (read once per process)."""
    key = (str(Path(weights_dir)), model_id)
    with _bytes_lock:
        if key not in _bytes_cache:
            entry = tflite_entry(model_id, weights_dir)
            if entry is None:
                raise ModelError(f"no .tflite is shipped for {model_id} in {weights_dir}")
            _bytes_cache[key] = read_verified(Path(weights_dir) / entry["file"], entry["sha256"])
        return _bytes_cache[key]


def geometry_of(model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR) -> Geometry:
    """The tiling geometry recorded in the manifest's ``tflite`` field."""
    entry = tflite_entry(model_id, weights_dir) or {}
    geo = entry.get("geometry")
    if not geo:
        raise ModelError(f"the manifest's tflite entry of {model_id} lacks its geometry")
    return Geometry(radius=int(geo["radius"]), multiple=int(geo["multiple"]),
                    floats_per_pixel=float(geo["floats_per_pixel"]))


class TfliteRunner:
    """A ``.tflite`` (shipped, or converted from Keras) under the LiteRT interpreter (XNNPACK), CPU only.

    The runner contract of :class:`sr_codec.receiver.runtime.runners.Runner` (``scale``, ``device``,
    ``runtime``, ``geometry``, call), without its Keras-reading constructor: the geometry comes in.

    One interpreter per runner; it is resized per input shape and is not thread-safe, so calls are
    serialised (tiles of one image share a shape, so a decode resizes it once).
    """

    def __init__(self, content: bytes, scale: int, geo: Geometry, num_threads: int | None = None):
        self.scale = int(scale)
        self.device = "cpu"
        self.runtime = "litert"
        self.geometry = geo
        self.num_threads = num_threads or default_threads()
        self._interpreter = make_interpreter(content, self.num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None
        self._allocated_once = False
        self._lock = threading.Lock()

    @classmethod
    def from_shipped(cls, model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR) -> "TfliteRunner":
        info = zoo.model_info(model_id, weights_dir)
        return cls(load_tflite(model_id, weights_dir), int(info["scale"]), geometry_of(model_id, weights_dir))

    def _resize(self, shape: tuple[int, ...]) -> None:
        self._interpreter.resize_tensor_input(self._input, shape)
        allocate(self._interpreter, first=not self._allocated_once)  # quiet: the XNNPACK INFO line
        self._allocated_once = True
        self._shape = shape

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        n, h, w, _ = batch.shape
        s = self.scale
        out = np.empty((n, h * s, w * s, 3), np.uint8)
        with self._lock:
            for i, image in enumerate(batch):  # the model takes [1, H, W, 3]
                x = image[None].astype(np.float32)
                x /= 255.0
                if x.shape != self._shape:
                    self._resize(x.shape)
                self._interpreter.set_tensor(self._input, x)
                self._interpreter.invoke()
                y = self._interpreter.get_tensor(self._output)[0]
                y *= 255.0
                np.rint(y, out=y)
                np.clip(y, 0.0, 255.0, out=y)
                out[i] = y
        return out
