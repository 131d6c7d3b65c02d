"""The bandwidth benchmark's outputs: mean curves, the Markdown summary, every point and CompressAI-shaped JSON."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.bandwidth_plots import choose_grid_points, plot_grid, plot_rd
from benchmarks.common.codecs import BenchCodec, Point
from benchmarks.common.curves import COMPRESSAI_KEYS, Curve, mean_curves
from benchmarks.common.report import compressai_result, fmt_bytes, fmt_db, fmt_pct, machine, write_compressai_json
from sr_codec.imaging.curves import bd_psnr, bd_rate, interpolate_bytes_at_psnr, psnr_at_rate


def psnr_at_bytes(curve: Curve, num_bytes: float) -> float | None:
    """PSNR the curve reaches at ``num_bytes`` (linear in log-bytes); ``None`` outside its range."""
    return psnr_at_rate(curve.bytes, curve.psnr, num_bytes)


def _saving_cell(reference: Curve, psnr: float, num_bytes: float) -> str:
    ref = interpolate_bytes_at_psnr(reference.bytes, reference.psnr, psnr)
    if ref is None:
        return "out of range"
    return f"{fmt_bytes(ref)} ({(1 - num_bytes / ref) * 100:+.0f} %)".replace("(+", "(saves ").replace(
        "(-", "(costs +"
    )


def _headline_point(curve: Curve) -> int:
    """Index of the point at the library's default quality (50), else the middle one."""
    for i, s in enumerate(curve.settings):
        if curve.method.setting_name == "quality" and s == 50:
            return i
    return len(curve.settings) // 2


def _bd_pair(ref: Curve, test: Curve) -> tuple[float | None, float | None]:
    try:
        return bd_rate(ref.bpp, ref.psnr, test.bpp, test.psnr), bd_psnr(ref.bpp, ref.psnr, test.bpp, test.psnr)
    except ValueError:  # fewer than 2 usable points
        return None, None


def bd_rate_by(metric: str, ref: Curve, test: Curve) -> float | None:
    """BD-rate at equal ``metric`` (butteraugli, a distance, is negated so that higher is better)."""
    sign = -1.0 if metric == "butteraugli" else 1.0
    try:
        return bd_rate(ref.bpp, [sign * v for v in getattr(ref, metric)], test.bpp,
                       [sign * v for v in getattr(test, metric)])
    except ValueError:
        return None


def _perceptual_metrics(curves: dict[str, Curve]) -> list[str]:
    return [m for m in ("ssimulacra2", "butteraugli") if curves and all(c.has(m) for c in curves.values())]


def _fmt_metric(metric: str, v: float) -> str:
    return "—" if math.isnan(v) else (f"{v:.2f}" if metric == "ssimulacra2" else f"{v:.3f}")


def summary_markdown(
    curves: dict[str, Curve],
    images: Sequence[tuple[str, np.ndarray]],
    command: str,
    wall_s: float,
    data_label: str,
    files: dict[str, str],
) -> str:
    classical = [c for c in curves.values() if c.method.role == "classical"]
    tested = [c for c in curves.values() if c.method.role != "classical"]
    megapixels = np.mean([im.shape[0] * im.shape[1] for _, im in images]) / 1e6
    lines = [
        "# Bandwidth benchmark: bytes sent versus picture quality",
        "",
        f"Command: `{command}`  ",
        f"Data: {data_label}: {len(images)} images, mean {megapixels:.2f} megapixels "
        f"({', '.join(f'{n} {im.shape[1]}x{im.shape[0]}' for n, im in images)}).  ",
        f"Wall time (loading, sweep, plots): {wall_s:.0f} s on {machine()}.",
        "",
        "Bytes are what a chat app sends per photo: the whole sr_codec payload (container included) or the whole",
        "classical file. PSNR is RGB PSNR of the full-resolution picture the receiver shows against the original;",
        "MS-SSIM is 5-scale RGB MS-SSIM. Values are means over the images at each setting (KB = 1000 bytes).",
        "Networks per scale: "
        + ", ".join(
            f"x{c.method.scale}: {c.method.decode_key.removeprefix('model:')}"
            for c in tested
            if c.method.role == "network"
        )
        + ".",
        "",
    ]
    if any(c.method.role == "network" and c.method.decode_key == "model:bicubic" for c in tested):
        lines += [
            "**No network is shipped yet for some scales**: their (c) rows decode with bicubic and equal (b).",
            "",
        ]
    # headline
    perceptual = _perceptual_metrics(curves)
    lines += ["## At the default quality", ""]
    header = "| method | bytes | bpp | PSNR | MS-SSIM | " + "".join(f"{m} | " for m in perceptual) + " | ".join(
        f"{c.method.label.split()[0]} at same PSNR | {c.method.label.split()[0]} PSNR at same bytes" for c in classical
    )
    lines += [header + " |", "|" + "---|" * (5 + len(perceptual) + 2 * len(classical))]
    for c in tested:
        i = _headline_point(c)
        cells = [
            f"{c.method.label} ({c.method.setting_name} {c.settings[i]:g})",
            fmt_bytes(c.bytes[i]),
            f"{c.bpp[i]:.3f}",
            f"{c.psnr[i]:.2f} dB",
            f"{c.ms_ssim[i]:.4f}",
        ] + [_fmt_metric(m, getattr(c, m)[i]) for m in perceptual]
        for ref in classical:
            cells += [_saving_cell(ref, c.psnr[i], c.bytes[i]), fmt_db(psnr_at_bytes(ref, c.bytes[i]))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "\"out of range\" / \"—\": the classical codec's quality sweep never reaches that PSNR or that size",
        "(see the classical ranges below); we never extrapolate.",
        "",
    ]
    # BD-rate
    lines += [
        "## BD-rate against each classical codec",
        "",
        "Bjøntegaard delta rate (VCEG-M33 cubic fit of log-rate in PSNR, on the mean curves, over the PSNR range",
        "both curves cover): negative = fewer bytes than the codec for the same PSNR. BD-PSNR: dB gained at equal",
        "rate over the byte range both cover. \"no overlap\": the two curves share no PSNR (or rate) range.",
        "In brackets: the PSNR range a BD-rate averages over; a narrow one makes it a local, less stable number.",
        "",
    ]
    header = "| method | PSNR range | " + " | ".join(f"vs {c.method.label.split()[0]}" for c in classical)
    header += " | " + " | ".join(f"BD-PSNR vs {c.method.label.split()[0]}" for c in classical) + " |"
    lines += [header, "|" + "---|" * (2 + 2 * len(classical))]
    for c in tested:
        pairs = [_bd_pair(ref, c) for ref in classical]
        rate_cells = []
        for ref, (rate, _) in zip(classical, pairs):
            lo, hi = max(min(ref.psnr), min(c.psnr)), min(max(ref.psnr), max(c.psnr))
            rate_cells.append(fmt_pct(rate) + ("" if rate is None else f" ({lo:.1f}–{hi:.1f} dB)"))
        lines.append(
            f"| {c.method.label} | {min(c.psnr):.1f}–{max(c.psnr):.1f} dB | "
            + " | ".join(rate_cells)
            + " | "
            + " | ".join("no overlap" if p is None else f"{p:+.2f} dB" for _, p in pairs)
            + " |"
        )
    lines.append("")
    if perceptual:
        lines += [
            "## BD-rate at equal perceptual quality",
            "",
            "The same Bjøntegaard fit with SSIMULACRA2 (higher is better) or butteraugli (lower is better; negated for",
            "the fit) in place of PSNR: negative = fewer bytes than the codec for the same perceived quality.",
            "",
            "| method | " + " | ".join(f"{m} vs {c.method.label.split()[0]}" for m in perceptual for c in classical) + " |",
            "|" + "---|" * (1 + len(perceptual) * len(classical)),
        ]
        for c in tested:
            lines.append(f"| {c.method.label} | "
                         + " | ".join(fmt_pct(bd_rate_by(m, ref, c)) for m in perceptual for ref in classical) + " |")
        lines.append("")
    # what the network adds
    scales = sorted({c.method.scale for c in tested if c.method.role == "network"})
    if scales:
        lines += [
            "## What the network adds (c) over bicubic (b), same payloads",
            "",
            "| scale | network | BD-rate (c) vs (b) | BD-PSNR (c) vs (b) | PSNR gain at default quality |",
            "|---|---|---|---|---|",
        ]
        for s in scales:
            b, n = curves.get(f"bicubic-x{s}"), curves.get(f"sr_codec-x{s}")
            if b is None or n is None:
                continue
            rate, gain = _bd_pair(b, n)
            i = _headline_point(n)
            lines.append(
                f"| x{s} | {n.method.decode_key.removeprefix('model:')} | {fmt_pct(rate)} | "
                f"{'no overlap' if gain is None else f'{gain:+.2f} dB'} | {n.psnr[i] - b.psnr[i]:+.2f} dB |"
            )
        lines.append("")
    # per point
    lines += [
        "## Bytes saved at equal PSNR, point by point",
        "",
        "Each cell: the bytes the classical codec needs for the same mean PSNR (log-linear interpolation between its",
        "measured qualities) and the share of them sr_codec saves.",
        "",
    ]
    for c in tested:
        lines += [f"### {c.method.label}", ""]
        header = f"| {c.method.setting_name} | bytes | bpp | PSNR | MS-SSIM | " + " | ".join(
            c2.method.label.split()[0] for c2 in classical
        )
        lines += [header + " |", "|" + "---|" * (5 + len(classical))]
        for i, s in enumerate(c.settings):
            cells = [f"{s:g}", fmt_bytes(c.bytes[i]), f"{c.bpp[i]:.3f}", f"{c.psnr[i]:.2f}", f"{c.ms_ssim[i]:.4f}"]
            cells += [_saving_cell(ref, c.psnr[i], c.bytes[i]) for ref in classical]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Classical codecs at full resolution", ""]
    for c in classical:
        lines += [
            f"**{c.method.label}** ({c.method.note}): "
            + ", ".join(f"q{s:g}: {fmt_bytes(b)} {p:.2f} dB" for s, b, p in zip(c.settings, c.bytes, c.psnr)),
            "",
        ]
    lines += ["## Files", ""] + [f"- {what}: `{path}`" for what, path in files.items()] + [""]
    return "\n".join(lines)


def write_outputs(
    out: Path,
    points: Sequence[Point],
    methods: Sequence[BenchCodec],
    images: Sequence[tuple[str, np.ndarray]],
    pictures: dict[tuple[str, float], np.ndarray],
    command: str,
    started: float,
    data_label: str,
) -> dict[str, Path]:
    """Write the points JSON, one CompressAI JSON per curve, the Markdown summary and both PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(points, methods)
    files: dict[str, Path] = {
        "every point (JSON)": out / "bandwidth_points.json",
        "summary (Markdown)": out / "bandwidth.md",
        "RD curves (PNG)": out / "bandwidth_rd.png",
        "RD curves by ssimulacra2 (PNG)": out / "bandwidth_rd_ssimulacra2.png",
        "RD curves by butteraugli (PNG)": out / "bandwidth_rd_butteraugli.png",
        "visual grid (PNG)": out / "bandwidth_grid.png",
    }
    meta = {
        "command": command,
        "data": data_label,
        "images": [{"name": n, "height": im.shape[0], "width": im.shape[1]} for n, im in images],
        "sweep_wall_s": round(time.perf_counter() - started, 1),
        "methods": [
            {"key": m.key, "label": m.label, "role": m.role, "scale": m.scale, "setting_name": m.setting_name,
             "settings": list(m.settings), "note": m.note}
            for m in methods
        ],
        "rate": "bytes = len(whole payload or file); bpp = 8 * bytes / original pixels",
    }
    files["every point (JSON)"].write_text(json.dumps({"meta": meta, "points": [asdict(p) for p in points]}, indent=1))
    for key, c in curves.items():
        result = compressai_result(
            name=f"sr_codec-bench {c.method.label}",
            description=f"{c.method.note}; mean over {len(images)} images ({data_label}) "
            f"at each {c.method.setting_name}",
            bpp=c.bpp,
            psnr=c.psnr,
            ms_ssim_values=c.ms_ssim,
            **{COMPRESSAI_KEYS[m]: getattr(c, m) for m in ("ssimulacra2", "butteraugli") if c.has(m)},
            **{c.method.setting_name: c.settings, "bytes": c.bytes},
        )
        files[f"CompressAI curve {key}"] = write_compressai_json(out / "compressai" / f"{key}.json", result)
    title = f"{data_label}: {len(images)} images, mean of each setting"
    plot_rd(curves, files["RD curves (PNG)"], title)
    for metric in ("ssimulacra2", "butteraugli"):
        key = f"RD curves by {metric} (PNG)"
        if metric in _perceptual_metrics(curves):
            plot_rd(curves, files[key], title, metrics=(metric,))
        else:
            del files[key]
    first_name, first_image = images[0]
    chosen = choose_grid_points(points, methods, first_name)
    if chosen:
        plot_grid(first_image, chosen, pictures, files["visual grid (PNG)"], first_name)
    else:
        del files["visual grid (PNG)"]
    shown = {k: str(v) for k, v in files.items() if not k.startswith("CompressAI")}
    shown["CompressAI-shaped curves"] = str(out / "compressai" / "*.json")
    wall_s = time.perf_counter() - started
    files["summary (Markdown)"].write_text(summary_markdown(curves, images, command, wall_s, data_label, shown))
    return files
