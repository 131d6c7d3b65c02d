"""The sharp look against the faithful one and against AUTO-REZ, at equal bytes.

    python -m benchmarks.sharp_look --data ../shared/data/val/BSD100 ../shared/data/val/Set14 \\
        [--budgets 0.02 0.03 0.05 0.10] [--sender auto|bicubic] [--sharp-checkpoint DIR] [--out docs/results]

For every photo and budget (bits per pixel of the original), ``encode(img, max_bytes=...)`` makes one
payload (rate control, fast mode), which is decoded twice: ``look="faithful"`` and ``look="sharp"``.
AUTO-REZ (:func:`benchmarks.common.codecs.auto_rez`) gets the same byte budget. Each picture is scored
against the original: RGB PSNR, SSIMULACRA2 (higher is better), butteraugli (lower is better) and the
energy at the payload's pixel-shuffle period relative to the original's (``period-energy``: above 1 means a
grid the photo does not have). ``--sharp-checkpoint`` scores an unexported adversarial checkpoint (its
Keras generator on the payload's low-res) instead of the shipped sharp model, for payloads naming the
model it was trained from. Results: CompressAI-shaped JSON (one curve per decode) and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common.codecs import auto_rez
from benchmarks.common.data import image_paths, load_images
from benchmarks.common.perceptual import announce_skipped, perceptual_scores, period_energy
from benchmarks.common.report import compressai_result, machine, progress_bar, write_compressai_json
from sr_codec.imaging.metrics import bits_per_pixel, psnr

DEFAULT_BUDGETS = (0.02, 0.03, 0.05, 0.10)
DECODES = ("faithful", "sharp", "auto-rez")


def checkpoint_decoder(ckpt: Path):
    """(faithful model id, a function low-res uint8 -> full-res uint8) for an adversarial checkpoint."""
    from sr_codec.nn.loading import build_architecture
    from sr_codec.train.evaluate import run_model
    from sr_codec.zoo import manifest as zoo

    state = json.loads((ckpt / "state.json").read_text())
    gen = build_architecture(zoo.model_info(state["init_model"]))
    gen.load_weights(ckpt / "model.weights.h5")
    return state["init_model"], lambda low: run_model(gen, low)


def score(original: np.ndarray, shown: np.ndarray, period: int, perceptual: bool) -> dict[str, float]:
    out = {"psnr-rgb": psnr(original, shown)}
    if perceptual:
        out.update(perceptual_scores(original, shown))
    if period > 1:
        out["period-energy"] = period_energy(original, shown, period)
    return out


def measure_photo(name: str, image: np.ndarray, budgets: Sequence[float], sender: str, sharp_override,
                  perceptual: bool) -> list[dict]:
    import sr_codec

    h, w = image.shape[:2]
    rows = []
    for bpp in budgets:
        max_bytes = int(bpp * h * w / 8)
        row = {"image": name, "target_bpp": bpp, "max_bytes": max_bytes}
        try:
            payload = sr_codec.encode(image, max_bytes=max_bytes, sender=sender)
        except sr_codec.LimitExceededError:
            row["skipped"] = "nothing fits"
            rows.append(row)
            continue
        info = sr_codec.inspect(payload)
        row.update(bytes=len(payload), bpp=bits_per_pixel(len(payload), h, w), scale=info.scale, model=info.model_id)
        faithful = sr_codec.decode(payload)
        if sharp_override is not None and info.model_id == sharp_override[0]:
            low = sr_codec.decode_preview(payload)
            sharp = sharp_override[1](low)[:h, :w]
            row["sharp_model"] = "checkpoint"
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                sharp = sr_codec.decode(payload, look="sharp")
            row["sharp_model"] = "faithful (no twin)" if caught else "shipped"
        period = info.scale if info.model_id != "bicubic" else 1
        row["faithful"] = score(image, faithful, period, perceptual)
        row["sharp"] = row["faithful"] if sharp is faithful or np.array_equal(sharp, faithful) else \
            score(image, sharp, period, perceptual)
        found = auto_rez(image, max_bytes - 5)
        if found is not None:
            data, shown, factor = found
            row["auto-rez"] = {**score(image, shown, 1, perceptual), "bytes": len(data) + 5,
                               "bpp": bits_per_pixel(len(data) + 5, h, w), "factor": factor}
        rows.append(row)
    return rows


def has_twin(model_id: str | None) -> bool:
    from sr_codec.zoo import manifest as zoo

    return model_id is not None and zoo.model_for_look(model_id, "sharp") is not None


def summarise(rows: list[dict], budgets: Sequence[float]) -> dict:
    """Per budget: means of every metric per decode over the photos all three decodes cover."""
    out = {}
    for bpp in budgets:
        done = [r for r in rows if r["target_bpp"] == bpp and "faithful" in r and "auto-rez" in r]
        if not done:
            continue
        twins = [r for r in done if has_twin(r["model"])]
        entry = {"photos": len(done), "bpp": float(np.mean([r["bpp"] for r in done])),
                 "sharp_twin_share": len(twins) / len(done)}
        if twins and all("butteraugli" in r["sharp"] for r in twins):
            entry["butteraugli_ratio_on_twin_routes"] = float(
                np.mean([r["sharp"]["butteraugli"] for r in twins]) / np.mean([r["faithful"]["butteraugli"] for r in twins]))
        if twins:
            entry["psnr_sharp_minus_faithful_on_twin_routes"] = float(
                np.mean([r["sharp"]["psnr-rgb"] - r["faithful"]["psnr-rgb"] for r in twins]))
            if all("ssimulacra2" in r["sharp"] for r in twins):
                entry["ssimulacra2_sharp_minus_faithful_on_twin_routes"] = float(
                    np.mean([r["sharp"]["ssimulacra2"] - r["faithful"]["ssimulacra2"] for r in twins]))
        for decode in DECODES:
            metrics = sorted({k for r in done for k in r[decode] if k not in ("bytes", "bpp", "factor")})
            entry[decode] = {}
            for k in metrics:
                vals = [r[decode][k] for r in done if k in r[decode]]
                entry[decode][k] = float(np.mean(vals)) if vals else math.nan
        entry["auto-rez"]["bpp"] = float(np.mean([r["auto-rez"]["bpp"] for r in done]))
        if all("butteraugli" in entry[d] for d in ("faithful", "sharp")):
            entry["butteraugli_ratio_sharp_vs_faithful"] = entry["sharp"]["butteraugli"] / entry["faithful"]["butteraugli"]
        pe = [r["sharp"]["period-energy"] for r in twins if "period-energy" in r["sharp"]]
        if pe:
            entry["period_energy_above_original"] = int(sum(v > 1.0 for v in pe))
            entry["period_energy_max"] = float(max(pe))
            entry["faithful_period_energy_above_original"] = int(
                sum(r["faithful"]["period-energy"] > 1.0 for r in twins if "period-energy" in r["faithful"]))
        out[str(bpp)] = entry
    return out


def markdown(summary: dict, label: str, command: str, wall_s: float) -> str:
    lines = [f"## {label}", "", f"Command: `{command}`  ", f"Wall time {wall_s:.0f} s on {machine()}.", "",
             "| bpp target | photos | bpp | decode | PSNR | SSIMULACRA2 | butteraugli | period energy |",
             "|---|---|---|---|---|---|---|---|"]
    for bpp, e in summary.items():
        for d in DECODES:
            m = e[d]
            lines.append(f"| {float(bpp):.2f} | {e['photos']} | {e['bpp']:.3f} | {d} | {m['psnr-rgb']:.2f} | "
                         f"{m.get('ssimulacra2', math.nan):.2f} | {m.get('butteraugli', math.nan):.3f} | "
                         f"{m.get('period-energy', math.nan):.3f} |")
    lines += ["", "All payloads (a payload whose route has no sharp twin shows the same picture in both looks):", "",
              "| bpp target | sharp − faithful PSNR | SSIMULACRA2 | butteraugli ratio | sharp − AUTO-REZ SSIMULACRA2 "
              "| butteraugli ratio vs AUTO-REZ | payloads with a sharp twin |",
              "|---|---|---|---|---|---|---|"]
    for bpp, e in summary.items():
        s, f, a = e["sharp"], e["faithful"], e["auto-rez"]
        lines.append(
            f"| {float(bpp):.2f} | {s['psnr-rgb'] - f['psnr-rgb']:+.2f} dB | "
            f"{s.get('ssimulacra2', math.nan) - f.get('ssimulacra2', math.nan):+.2f} | "
            f"{e.get('butteraugli_ratio_sharp_vs_faithful', math.nan):.3f} | "
            f"{s.get('ssimulacra2', math.nan) - a.get('ssimulacra2', math.nan):+.2f} | "
            f"{s.get('butteraugli', math.nan) / a.get('butteraugli', math.nan):.3f} | "
            f"{e['sharp_twin_share'] * 100:.0f} % |")
    lines += ["", "Only the payloads whose route has a sharp twin:", "",
              "| bpp target | payloads | sharp − faithful PSNR | SSIMULACRA2 | butteraugli ratio | "
              "period energy > original: sharp | faithful |", "|---|---|---|---|---|---|---|"]
    for bpp, e in summary.items():
        n = round(e["sharp_twin_share"] * e["photos"])
        if not n:
            continue
        lines.append(
            f"| {float(bpp):.2f} | {n} | {e['psnr_sharp_minus_faithful_on_twin_routes']:+.2f} dB | "
            f"{e.get('ssimulacra2_sharp_minus_faithful_on_twin_routes', math.nan):+.2f} | "
            f"{e.get('butteraugli_ratio_on_twin_routes', math.nan):.3f} | "
            f"{e.get('period_energy_above_original', 0)} of {n} | {e.get('faithful_period_energy_above_original', 0)} of {n} |")
    return "\n".join(lines) + "\n"


def decode_timing(megapixels: float = 2.0, repeats: int = 5, sender: str = "bicubic") -> dict:
    """Median wall time of ``decode(look=...)`` for each look on one x4 payload from ``sender`` (its route's
    faithful model and sharp twin), interleaved runs."""
    import statistics
    import warnings

    import sr_codec
    from benchmarks.common.photos import make_photo

    photo = make_photo(megapixels)
    payload = sr_codec.encode(photo, scale=4, sender=sender)
    times: dict[str, list[float]] = {look: [] for look in ("faithful", "sharp")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the sharp look must run its twin here, not fall back
        for look in times:
            sr_codec.decode(payload, look=look)  # load each model once before timing
        for _ in range(repeats):
            for look in times:
                t = time.perf_counter()
                sr_codec.decode(payload, look=look)
                times[look].append(time.perf_counter() - t)
    info = sr_codec.inspect(payload)
    med = {look: statistics.median(v) for look, v in times.items()}
    return {"photo": f"{photo.shape[1]}x{photo.shape[0]}", "sender": sender, "model": info.model_id, "repeats": repeats,
            "median_s": med, "ratio_sharp_vs_faithful": med["sharp"] / med["faithful"], "runs_s": times}


def write_report(report: dict, sets: dict[str, tuple[int, list[dict], float, str]], budgets: Sequence[float],
                 out: Path, name: str) -> str:
    """Summaries, CompressAI curves per decode, the JSON report and the Markdown; returns the Markdown."""
    md = ["# The sharp look: faithful vs sharp vs AUTO-REZ at equal bytes", ""]
    skipped = report.get("skipped_metrics", {})
    for label, (photos, rows, wall, command) in sets.items():
        summary = summarise(rows, budgets)
        report["sets"][label] = {"photos": photos, "summary": summary, "rows": rows, "wall_s": round(wall)}
        md.append(markdown(summary, f"{label} ({photos} photos)", command, wall))
        keys = list(summary)
        for decode in DECODES:
            curve = compressai_result(
                f"{decode} {label}", f"{decode} decode, rate control at target bpp {keys}",
                [summary[b]["auto-rez"]["bpp"] if decode == "auto-rez" else summary[b]["bpp"] for b in keys],
                [summary[b][decode]["psnr-rgb"] for b in keys],
                **{k: [summary[b][decode].get(k, math.nan) for b in keys]
                   for k in ("ssimulacra2", "butteraugli") if k not in skipped})
            write_compressai_json(out / f"{name}_{label}_{decode}.json", curve)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    text = "\n".join(md)
    (out / f"{name}.md").write_text(text)
    return text


def merge(files: Sequence[Path], label: str | None, budgets: Sequence[float], out: Path, name: str,
          command: str) -> int:
    reports = [json.loads(f.read_text()) for f in files]
    rows = [r for rep in reports for s in rep["sets"].values() for r in s["rows"]]
    photos = sum(s["photos"] for rep in reports for s in rep["sets"].values())
    wall = sum(s["wall_s"] for rep in reports for s in rep["sets"].values())
    label = label or "+".join(k for rep in reports for k in rep["sets"])
    runs = "; ".join(rep["command"] for rep in reports)
    report = {"command": f"{runs}; then {command}", "machine": reports[0]["machine"],
              "skipped_metrics": reports[0].get("skipped_metrics", {}), "sets": {}}
    print(write_report(report, {label: (photos, rows, wall, report["command"])}, budgets, out, name))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sharp_look", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", help="image folders (each reported on its own)")
    p.add_argument("--merge", nargs="+", type=Path, default=None,
                   help="instead of measuring: merge the rows of earlier runs' JSON files (e.g. a set measured in "
                        "parts, one process each) into one report per --label")
    p.add_argument("--label", default=None, help="with --merge: the set's name in the merged report")
    p.add_argument("--timing", action="store_true",
                   help="instead of measuring quality: 2 MP x4 decode time of each look, median of 5, same run")
    p.add_argument("--budgets", type=float, nargs="+", default=list(DEFAULT_BUDGETS), help="target bits per pixel")
    p.add_argument("--sender", default="auto", choices=["auto", "bicubic", "learned"])
    p.add_argument("--sharp-checkpoint", type=Path, default=None)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--no-perceptual", action="store_true", help="PSNR and period energy only (fast)")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--name", default="sharp_look")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    command = "python -m benchmarks.sharp_look " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.timing:
        result = {"command": command, "machine": machine(), **decode_timing(sender=args.sender)}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"{args.name}_timing.json").write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "runs_s"}, indent=1))
        return 0
    if args.merge:
        return merge(args.merge, args.label, args.budgets, args.out, args.name, command)
    if not args.data:
        p.error("--data is required (or --merge)")
    perceptual = not args.no_perceptual
    skipped = announce_skipped()
    override = checkpoint_decoder(args.sharp_checkpoint) if args.sharp_checkpoint else None
    report = {"command": command, "machine": machine(), "skipped_metrics": skipped, "sets": {}}

    sets = {}
    for folder in args.data:
        started = time.perf_counter()
        label = Path(folder).name
        images = load_images(image_paths(folder, args.limit))
        rows = []
        for name, image in progress_bar(images, desc=label):
            rows += measure_photo(name, image, args.budgets, args.sender, override, perceptual)
        sets[label] = (len(images), rows, time.perf_counter() - started, command)
    print(write_report(report, sets, args.budgets, args.out, args.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
