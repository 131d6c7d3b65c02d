"""Which device a network runs on: ``device="cpu" | "gpu" | None``.

None reads ``$SR_CODEC_DEVICE`` and otherwise takes the GPU when TensorFlow sees one. Asking for a
GPU that is absent raises :class:`DeviceError`. TensorFlow is imported only to ask about GPUs.
"""

from __future__ import annotations

import os
from functools import lru_cache

from ...errors import DeviceError

DEVICE_ENV = "SR_CODEC_DEVICE"
DEVICES = ("cpu", "gpu")


@lru_cache(maxsize=1)
def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU (asked once per process: the first call imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


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
    if choice == "auto":
        return "cpu" if runtime == "litert" or not gpu_available() else "gpu"
    if choice == "gpu" and not gpu_available():
        raise DeviceError("a GPU was requested but TensorFlow sees none (is a CUDA build of TensorFlow installed?)")
    return choice
