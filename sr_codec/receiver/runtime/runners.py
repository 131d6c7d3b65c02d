"""Runners: a loaded network ready to run on uint8 batches, one per (weights dir, model id, device, runtime).

Built once per process under a lock and shared by all threads. The Keras runner is a ``tf.function``
over ``uint8 [N, H, W, 3]`` traced once for every size; the LiteRT runner
(:class:`sr_codec.receiver.runtime.litert.TfliteRunner`) is the shipped ``.tflite`` under XNNPACK, or,
for a model shipped without one, the Keras model converted on first use. ``runtime=None``/``"auto"``
(:func:`resolve_runtime`) is LiteRT on the CPU when a ``.tflite`` is shipped, else Keras. TensorFlow is
imported only when a Keras runner is built or a model converted.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ...errors import DeviceError, ModelError
from ...nn.geometry import geometry
from ...zoo import manifest as zoo
from . import litert
from .device import tensorflow_installed

RUNTIMES = ("keras", "litert")
AUTO_RUNTIME = "auto"  # the shipped .tflite under LiteRT on the CPU, Keras on a GPU (resolve_runtime)
DEFAULT_RUNTIME = "keras"  # of get_runner; upscale/decode default to AUTO_RUNTIME


def resolve_runtime(runtime: str | None, device: str, model_id: str, weights_dir: Path | None = None) -> str:
    """``"keras"`` or ``"litert"`` for ``model_id`` on ``device`` (resolved): ``None``/``"auto"`` means the
    shipped ``.tflite`` under LiteRT on the CPU (no TensorFlow), Keras on a GPU or when no ``.tflite`` is shipped."""
    if runtime is None or runtime == AUTO_RUNTIME:
        weights_dir = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR
        return "litert" if device == "cpu" and litert.has_shipped_tflite(model_id, weights_dir) else "keras"
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be 'auto' or one of {RUNTIMES}, got {runtime!r}")
    return runtime


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
    """The network as one ``tf.function`` (traced once for every size), on the chosen device.

    Calls are serialised: concurrent calls of one ``tf.function`` on new shapes crashed TensorFlow
    (a segfault, or garbage pixels in one thread's output); one call already uses every core.
    """

    def __init__(self, model, scale: int, device: str):
        super().__init__(model, scale, device, "keras")
        import tensorflow as tf

        from ...nn.portable import portable_model

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
        self._lock = threading.Lock()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with self._lock, self._tf.device(self._device):
            return self.infer(batch).numpy()


def _converted_litert_runner(model, scale: int, device: str) -> litert.TfliteRunner:
    """A model shipped without a ``.tflite``: converted from Keras (imports TensorFlow), then run like a shipped one."""
    if device != "cpu":
        raise DeviceError("runtime='litert' runs on the CPU only; use device='cpu' or runtime='keras'")
    from ...nn.portable import tflite_bytes

    return litert.TfliteRunner(tflite_bytes(model), scale, geometry(model))


_runners: dict[tuple[str, str, str, str], Runner] = {}
_runners_lock = threading.Lock()


def get_runner(model_id: str, device: str, runtime: str = DEFAULT_RUNTIME,
               weights_dir: Path | None = None) -> Runner | litert.TfliteRunner:
    """The process-wide runner of ``model_id`` on ``device`` ("cpu"/"gpu", already resolved), built once."""
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    weights_dir = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR
    key = (str(weights_dir), model_id, device, runtime)
    with _runners_lock:
        runner = _runners.get(key)
        if runner is None and runtime == "litert" and device == "cpu" and litert.has_shipped_tflite(model_id, weights_dir):
            runner = _runners[key] = litert.TfliteRunner.from_shipped(model_id, weights_dir)  # no TensorFlow
        if runner is None:
            if not tensorflow_installed():
                if runtime == "keras":
                    raise ModelError("runtime='keras' runs the model through TensorFlow, which is not installed: "
                                     "pip install 'sr-codec[train]' (or leave runtime unset: the shipped .tflite "
                                     "runs under LiteRT)")
                raise ModelError(f"{model_id} has no shipped .tflite, and its Keras weights need TensorFlow, "
                                 "which is not installed: pip install 'sr-codec[train]'")
            from ...nn.loading import load_model  # imports TensorFlow

            info = zoo.model_info(model_id, weights_dir)
            model = load_model(model_id, device, weights_dir)
            make = KerasRunner if runtime == "keras" else _converted_litert_runner
            try:
                runner = make(model, int(info["scale"]), device)
            except (DeviceError, ModelError):
                raise
            except Exception as exc:  # TensorFlow / converter failures
                raise ModelError(f"cannot prepare {model_id} for {runtime} on {device}: {exc}") from exc
            _runners[key] = runner
        return runner
