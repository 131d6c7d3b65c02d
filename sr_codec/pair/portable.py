"""The downscaler as a TFLite flatbuffer, and running it at encode time without TensorFlow.

Contract of the ``.tflite``: inputs ``high_res`` [1, H, W, 3] and ``bicubic_low_res``
[1, H/s, W/s, 3], float32 in 0..1 (H and W multiples of the scale, dynamic); output
``low_res`` [1, H/s, W/s, 3], unclipped. The encoder clips and rounds it to uint8.
"""

from __future__ import annotations

import os

import numpy as np


def downscaler_tflite_bytes(model) -> bytes:
    """Convert the Keras downscaler (builtins only; weights frozen into constants)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="high_res"),
                                  tf.TensorSpec([1, None, None, 3], tf.float32, name="bicubic_low_res")])
    def serve(high_res, bicubic_low_res):
        return {"low_res": model([high_res, bicubic_low_res], training=False)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


class DownscalerRunner:
    """Runs a downscaler ``.tflite`` with the LiteRT interpreter (TensorFlow's as a fallback)."""

    def __init__(self, content: bytes, num_threads: int | None = None):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # pragma: no cover - the base install has ai-edge-litert
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        self.interpreter = Interpreter(model_content=content, num_threads=num_threads or os.cpu_count() or 1)
        inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.hr_index = next(i for n, i in inputs.items() if "high_res" in n)
        self.base_index = next(i for n, i in inputs.items() if "bicubic" in n)
        self.out_index = self.interpreter.get_output_details()[0]["index"]
        self.shape: tuple | None = None

    def __call__(self, high_res: np.ndarray, bicubic_low_res: np.ndarray) -> np.ndarray:
        """uint8 HR (H, W, 3) and its uint8 bicubic thumbnail -> the learned uint8 thumbnail."""
        shape = (high_res.shape, bicubic_low_res.shape)
        if shape != self.shape:
            self.interpreter.resize_tensor_input(self.hr_index, [1, *high_res.shape])
            self.interpreter.resize_tensor_input(self.base_index, [1, *bicubic_low_res.shape])
            self.interpreter.allocate_tensors()
            self.shape = shape
        self.interpreter.set_tensor(self.hr_index, high_res[None].astype(np.float32) * np.float32(1 / 255))
        self.interpreter.set_tensor(self.base_index, bicubic_low_res[None].astype(np.float32) * np.float32(1 / 255))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.out_index)[0]
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
