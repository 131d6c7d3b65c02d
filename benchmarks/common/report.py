"""Result files and table cells shared by the benchmarks: CompressAI-shaped JSON, byte and dB formatting."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Iterable, Sequence


def compressai_result(
    name: str,
    description: str,
    bpp: Iterable[float],
    psnr: Iterable[float],
    ms_ssim_values: Iterable[float] | None = None,
    **extra: Iterable[float],
) -> dict:
    """One RD curve in the layout of CompressAI's ``results/*.json`` files."""
    results = {"bpp": [float(v) for v in bpp], "psnr-rgb": [float(v) for v in psnr]}
    if ms_ssim_values is not None:
        results["ms-ssim-rgb"] = [float(v) for v in ms_ssim_values]
    for key, values in extra.items():
        results[key.replace("_", "-")] = [float(v) for v in values]
    return {"name": name, "description": description, "results": results}


def write_compressai_json(path: str | Path, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1000:.1f} KB" if n >= 10_000 else f"{n / 1000:.2f} KB"


def fmt_db(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "—"
    return f"{v:+.2f} dB" if signed else f"{v:.2f} dB"


def fmt_pct(v: float | None) -> str:
    return "no overlap" if v is None else f"{v:+.1f} %"


def mean_or_none(values: Sequence[float]) -> float | None:
    return statistics.fmean(values) if values else None


def machine() -> str:
    """The machine a measurement ran on, for report headers."""
    return f"{os.cpu_count()} CPU cores ({platform.machine()}, Python {platform.python_version()})"


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar on stderr, drawn only when stderr is a terminal: a log or a pipe gets no carriage-return lines."""
    from tqdm import tqdm

    return tqdm(iterable, disable=True if not enabled else None, file=sys.stderr, **kwargs)
