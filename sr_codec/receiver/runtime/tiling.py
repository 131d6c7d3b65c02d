"""Tiles and memory: big images are cut into low-res windows that overlap by more than the receptive field.

Every window's output is cropped to its core, so the assembled image is the untiled one up to float
rounding (max 1 LSB), in memory bounded by the tile size. All windows of an image share one size, so
they batch; :func:`run_tiled` runs them through a runner (:mod:`sr_codec.receiver.runtime.runners`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import ModelError, SrCodecError
from ...nn.geometry import Geometry

MIN_TILE = 32  # smallest automatic tile core, low-res pixels per side
MIN_EXPLICIT_TILE = 8  # smaller tile= values are raised to this (or to the margin): tile=1 is all overlap
LITERT_BUDGET = 384 << 20  # activation bytes per LiteRT call (measured: XNNPACK uses ~1.08x the estimate); 12 MP peak RSS stays under ~600 MB
CPU_MEMORY_FRACTION = 0.25  # of the available RAM, for the activations of one network call
CPU_BUDGET_CAP = 1 << 30  # bytes; larger calls are no faster and only raise the peak RSS
GPU_BUDGET = 2 << 30  # bytes of activations per call on a GPU (TensorFlow exposes no free-memory figure)


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


def run_tiled(runner, images: Sequence[np.ndarray], tile: int | None = None,
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
