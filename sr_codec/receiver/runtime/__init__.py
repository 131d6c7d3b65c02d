"""Running the decoder network: device choice (device.py), runners per model (runners.py), tiles and batches (tiling.py)."""

from .device import DEVICE_ENV, DEVICES, gpu_available, requested_device, resolve_device
from .runners import DEFAULT_RUNTIME, RUNTIMES, KerasRunner, LiteRtRunner, Runner, get_runner
from .tiling import auto_tile, available_memory, memory_budget, plan_tiles, run_tiled

__all__ = [
    "DEVICE_ENV", "DEVICES", "gpu_available", "requested_device", "resolve_device", "DEFAULT_RUNTIME", "RUNTIMES",
    "KerasRunner", "LiteRtRunner", "Runner", "get_runner", "auto_tile", "available_memory", "memory_budget",
    "plan_tiles", "run_tiled",
]
