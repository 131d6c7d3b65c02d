"""The receiver's runtime: shipped ``.tflite`` networks under the LiteRT interpreter, without TensorFlow.

Every manifest entry with a ``tflite`` field ships ``weights/<model id>.tflite``, made from the
entry's Keras weights by :func:`sr_codec.nn.portable.tflite_bytes` (``python -m sr_codec.export.ship_tflite``).
The field holds the file name, its sha256 (checked on load), its precision and the network's
tiling geometry (what :func:`sr_codec.nn.geometry.geometry` reads off the Keras model), so tiling
needs no Keras either.

Contract of a shipped file: input ``float32 [1, H, W, 3]``, RGB in 0..1, H and W dynamic
(``resize_tensor_input`` then ``allocate_tensors``); output ``float32 [1, H*s, W*s, 3]`` in 0..1
(already clipped). :class:`TfliteRunner` wraps it in the contract of the runners in
:mod:`sr_codec.receiver.runtime.runners`: ``runner(uint8 [N, h, w, 3]) -> uint8 [N, h*s, w*s, 3]``.
The sender's downscaler (:mod:`sr_codec.sender.learned`) loads its ``.tflite`` through the same
:func:`read_verified` and :func:`interpreter_class`.

The interpreter comes from ``ai_edge_litert`` (the base install), else ``tflite_runtime``,
else TensorFlow's ``tf.lite.Interpreter`` (the fallback where no ``ai-edge-litert`` wheel exists).
Threads: :func:`default_threads` (``$SR_CODEC_THREADS``, else every core this process may use).
Quiet: the interpreter's one-time ``INFO: Created TensorFlow Lite XNNPACK delegate`` line is kept
off stderr unless ``$SR_CODEC_VERBOSE`` is set (the CLI's ``--verbose``).

Nothing in this module imports TensorFlow unless the fallback interpreter is the only one installed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import ModelError
from ...nn.geometry import Geometry
from ...zoo import manifest as zoo

TFLITE_FIELD = "tflite"
THREADS_ENV = "SR_CODEC_THREADS"
VERBOSE_ENV = "SR_CODEC_VERBOSE"

_bytes_cache: dict[tuple[str, str], bytes] = {}
_bytes_lock = threading.Lock()
_stderr_lock = threading.RLock()  # nested quiet_stderr blocks (CLI around a decode) are fine


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


def read_verified(path: Path, sha256: str) -> bytes:
    """The bytes of ``path``, refused with :class:`ModelError` when missing or unlike the manifest's ``sha256``."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if hashlib.sha256(content).hexdigest() != sha256:
        raise ModelError(f"{Path(path).name} does not match its sha256 in the manifest")
    return content


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


def interpreter_class():
    """The TFLite ``Interpreter`` class: ai_edge_litert, else tflite_runtime, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter  # the `tf-interpreter` extra
            except ImportError:
                raise ModelError("no TFLite interpreter is installed: pip install ai-edge-litert "
                                 "(or, where it has no wheel, pip install 'sr-codec[tf-interpreter]')") from None
    return Interpreter


def default_threads() -> int:
    """Interpreter threads: ``$SR_CODEC_THREADS`` when set, else the cores this process may run on."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            raise ModelError(f"{THREADS_ENV} must be a positive integer, got {value!r}") from None
        if threads < 1:
            raise ModelError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null meanwhile: the interpreter logs from C++, past ``sys.stderr``."""
    if not enabled:
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters): nothing to hide
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


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
        try:
            self._interpreter = interpreter_class()(model_content=content, num_threads=self.num_threads)
        except ModelError:
            raise
        except Exception as exc:  # a damaged flatbuffer
            raise ModelError(f"the TFLite interpreter rejects the model: {exc}") from exc
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
        with quiet_stderr(not self._allocated_once and not verbose()):  # the XNNPACK INFO line
            self._interpreter.allocate_tensors()
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
