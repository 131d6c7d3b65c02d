"""Mean rate-distortion curves: a benchmark's points averaged over images at each setting (CompressAI's convention)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from benchmarks.common.codecs import BenchCodec, Point

METRICS = ("psnr", "ms_ssim", "ssimulacra2", "butteraugli")
"""Every quality a :class:`Point` carries; the perceptual two are NaN where their tool is missing."""
METRIC_LABELS = {"psnr": "RGB PSNR (dB)", "ms_ssim": "MS-SSIM (RGB)", "ssimulacra2": "SSIMULACRA2 (higher is better)",
                 "butteraugli": "butteraugli distance (lower is better)"}
COMPRESSAI_KEYS = {"psnr": "psnr-rgb", "ms_ssim": "ms-ssim-rgb", "ssimulacra2": "ssimulacra2", "butteraugli": "butteraugli"}


@dataclass(frozen=True)
class Curve:
    """A codec's points averaged over images at each setting."""

    method: BenchCodec
    settings: list[float]
    bytes: list[float]  # mean payload bytes per image
    bpp: list[float]
    psnr: list[float]
    ms_ssim: list[float]
    ssimulacra2: list[float]
    butteraugli: list[float]

    def has(self, metric: str) -> bool:
        return not all(math.isnan(v) for v in getattr(self, metric))


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if len(finite) == len(values) and finite else math.nan


def mean_curves(points: Sequence[Point], methods: Sequence[BenchCodec]) -> dict[str, Curve]:
    """Average each method's points over images at every setting (a metric missing on any image is NaN)."""
    groups: dict[tuple[str, float], list[Point]] = defaultdict(list)
    for p in points:
        groups[(p.method, p.setting)].append(p)
    curves = {}
    for m in methods:
        rows = [groups[(m.key, s)] for s in m.settings if groups.get((m.key, s))]
        if not rows:
            continue
        curves[m.key] = Curve(
            method=m,
            settings=[r[0].setting for r in rows],
            bytes=[float(np.mean([p.bytes for p in r])) for r in rows],
            bpp=[float(np.mean([p.bpp for p in r])) for r in rows],
            **{metric: [_mean([getattr(p, metric) for p in r]) for r in rows] for metric in METRICS},
        )
    return curves
