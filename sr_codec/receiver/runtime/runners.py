"""Runners: a loaded network ready to run on uint8 batches, one per (weights dir, model id, device, runtime).

Built once per process under a lock and shared by all threads. The Keras runner is a ``tf.function``
over ``uint8 [N, H, W, 3]`` traced once for every size; the LiteRT runner is the TFLite model under
XNNPACK. TensorFlow is imported only when a runner is built.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from ...errors import DeviceError, ModelError
from ...nn.geometry import geometry
from ...zoo import manifest as zoo

RUNTIMES = ("keras", "litert")
DEFAULT_RUNTIME = "keras"


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
        from ...nn.portable import tflite_bytes, tflite_interpreter

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
    from ...nn.loading import load_model  # imports TensorFlow

    with _runners_lock:
        runner = _runners.get(key)
        if runner is None:
            info = zoo.model_info(model_id, weights_dir)
            model = load_model(model_id, device, weights_dir)
            make = KerasRunner if runtime == "keras" else LiteRtRunner
            try:
                runner = make(model, int(info["scale"]), device)
            except (DeviceError, ModelError):
                raise
            except Exception as exc:  # TensorFlow / converter failures
                raise ModelError(f"cannot prepare {model_id} for {runtime} on {device}: {exc}") from exc
            _runners[key] = runner
        return runner


