"""The bandwidth benchmark's figures: RD curves, and a grid of crops at comparable bytes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common.codecs import BenchCodec, Point
from benchmarks.common.curves import METRIC_LABELS, Curve

GRID_TARGET_BPP = (0.05, 0.1)  # the visual grid shows an sr_codec point in this range if there is one
GRID_BYTES_TOLERANCE = 0.2  # a comparison panel is shown only within 20 % of the sr_codec panel's bytes


_SCALE_COLOURS = {1: "tab:brown", 2: "tab:blue", 4: "tab:red", 10: "tab:green"}
_CODEC_STYLE = {"jpeg": ("0.55", "s"), "webp": ("tab:purple", "^"), "avif": ("black", "o"),
                "auto-rez": ("tab:olive", "P")}


def plot_rd(curves: dict[str, Curve], path: Path, title: str, metrics: Sequence[str] = ("psnr", "ms_ssim")) -> Path:
    """One panel per metric in ``metrics`` (see :data:`benchmarks.common.curves.METRICS`), bpp on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(6.5 * len(metrics), 5.2), squeeze=False)
    axes = axes[0]
    for c in curves.values():
        m = c.method
        if m.role == "classical":
            colour, marker = _CODEC_STYLE.get(m.key, ("0.3", "x"))
            style = dict(color=colour, marker=marker, linestyle="-", linewidth=2)
        elif m.role == "auto":
            style = dict(color="tab:orange", marker="*", linestyle="-", linewidth=2)
        else:
            colour = _SCALE_COLOURS.get(m.scale, "tab:cyan")
            style = dict(color=colour, marker="." if m.role == "bicubic" else "D", markersize=5,
                         linestyle="--" if m.role == "bicubic" else "-", linewidth=1.2 if m.role == "bicubic" else 2)
        for ax, metric in zip(axes, metrics):
            ax.plot(c.bpp, getattr(c, metric), label=m.label, **style)
    for ax, ylabel in zip(axes, (METRIC_LABELS[m] for m in metrics)):
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole payload / file), log scale")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _detail_crop(image: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` x ``side`` window with the most gradient energy (coarse search)."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    h, w = energy.shape
    best, corner = -1.0, (0, 0)
    step = max(1, side // 8)
    for y in range(0, max(1, h - side + 1), step):
        for x in range(0, max(1, w - side + 1), step):
            y1, x1 = min(y + side, h), min(x + side, w)
            total = integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x]
            if total > best:
                best, corner = total, (y, x)
    return corner


def _closest(values: Sequence[float], target: float) -> int:
    return int(np.argmin([abs(math.log(v) - math.log(target)) for v in values]))


def choose_grid_points(
    points: Sequence[Point], methods: Sequence[BenchCodec], image_name: str
) -> list[tuple[BenchCodec, Point]] | None:
    """Panels of truly comparable bytes on ``image_name``: an sr_codec point, its bicubic twin (the same
    payload), and each classical codec's point of closest bytes when within :data:`GRID_BYTES_TOLERANCE`.

    The sr_codec point is the one most classical codecs can be matched against (a point below every
    classical file's floor would stand alone), then scale 4, then nearest 0.05–0.1 bpp.
    """
    by_key = {m.key: m for m in methods}
    mine = [p for p in points if p.image == image_name]
    candidates = [p for p in mine if p.role == "network"] or [p for p in mine if p.role == "bicubic" and p.scale > 1]
    if not candidates:
        return None
    classical = {codec: [p for p in mine if p.method == codec] for codec in ("jpeg", "webp", "avif")}

    def matches(sr_point: Point) -> list[Point]:
        found = []
        for pts in classical.values():
            if pts:
                p = pts[_closest([q.bytes for q in pts], sr_point.bytes)]
                if comparable_bytes(p.bytes, sr_point.bytes):
                    found.append(p)
        return found

    lo, hi = GRID_TARGET_BPP
    target = math.sqrt(lo * hi)
    sr_point = max(candidates, key=lambda p: (len(matches(p)), p.scale == 4, -abs(math.log(p.bpp / target))))
    chosen = [(by_key[sr_point.method], sr_point)]
    bicubic_twin = [
        p for p in mine if p.method == f"bicubic-x{sr_point.scale}" and p.setting == sr_point.setting
    ]
    if sr_point.role == "network" and by_key[sr_point.method].decode_key != "model:bicubic" and bicubic_twin:
        chosen.append((by_key[bicubic_twin[0].method], bicubic_twin[0]))
    chosen += [(by_key[p.method], p) for p in matches(sr_point)]
    return chosen


def comparable_bytes(candidate: int, reference: int, tolerance: float = GRID_BYTES_TOLERANCE) -> bool:
    """Whether a panel of ``candidate`` bytes may stand beside one of ``reference`` bytes in the grid."""
    return abs(candidate - reference) <= tolerance * reference


def plot_grid(
    original: np.ndarray,
    chosen: Sequence[tuple[BenchCodec, Point]],
    pictures: dict[tuple[str, float], np.ndarray],
    path: Path,
    image_name: str,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = max(16, min(224, original.shape[0] // 2, original.shape[1] // 2))
    y, x = _detail_crop(original, side)
    panels = [(f"original\n{image_name} {original.shape[1]}x{original.shape[0]}", original)]
    for method, p in chosen:
        panels.append(
            (
                f"{method.label}\n{method.setting_name} {p.setting:g}: {p.bytes:,} bytes\n"
                f"{p.bpp:.3f} bpp, {p.psnr:.2f} dB",
                pictures[(method.key, p.setting)],
            )
        )
    reference = chosen[0][1].bytes
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 4.2))
    for ax, (title, picture) in zip(np.atleast_1d(axes), panels):
        ax.imshow(picture[y : y + side, x : x + side], interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(
        f"{side}x{side} px crops at ({x}, {y}), enlarged: every coded panel within "
        f"{GRID_BYTES_TOLERANCE:.0%} of {reference:,} bytes (each panel states its own)",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the title above the panel titles
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
