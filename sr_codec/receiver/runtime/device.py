"""Which device a network runs on: ``device="cpu" | "gpu" | None``.

None reads ``$SR_CODEC_DEVICE`` and otherwise takes the GPU when TensorFlow is installed and sees one.
Asking for a GPU that is absent raises :class:`DeviceError`. TensorFlow is imported only to ask about
GPUs, and only where a GPU driver exists: a receiver's base install (no TensorFlow) never imports it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache

from ...errors import DeviceError

DEVICE_ENV = "SR_CODEC_DEVICE"
DEVICES = ("cpu", "gpu")


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
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):  # a broken install, or an import hook that refuses it
        return False


def gpu_hardware_present() -> bool:
    """A cheap guess, nothing imported: a GPU driver's device node exists (NVIDIA, AMD ROCm) or this is macOS."""
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
