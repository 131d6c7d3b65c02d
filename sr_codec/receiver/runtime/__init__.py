"""Running the decoder network: device choice (device.py), runners per model (runners.py), the shipped
``.tflite`` under LiteRT without TensorFlow (litert.py), tiles and batches (tiling.py)."""

from .device import (DEVICE_ENV, DEVICES, gpu_available, gpu_hardware_present, requested_device, resolve_device,
                     tensorflow_installed)
from .litert import TfliteRunner, has_shipped_tflite, quiet_stderr
from .runners import AUTO_RUNTIME, DEFAULT_RUNTIME, RUNTIMES, KerasRunner, Runner, get_runner, resolve_runtime
from .tiling import (LITERT_BUDGET, MIN_EXPLICIT_TILE, auto_tile, available_memory, clamp_tile, memory_budget,
                     plan_tiles, run_tiled)

__all__ = [
    "DEVICE_ENV", "DEVICES", "gpu_available", "gpu_hardware_present", "requested_device", "resolve_device",
    "tensorflow_installed", "TfliteRunner", "has_shipped_tflite", "quiet_stderr", "AUTO_RUNTIME", "DEFAULT_RUNTIME",
    "RUNTIMES", "KerasRunner", "Runner", "get_runner", "resolve_runtime", "LITERT_BUDGET", "MIN_EXPLICIT_TILE",
    "auto_tile", "available_memory", "clamp_tile", "memory_budget", "plan_tiles", "run_tiled",
]
