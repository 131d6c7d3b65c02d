"""Issue 13's must-show numbers for the fast rate control (``python -m benchmarks.rate_control --fast-report``).

* **Time** of ``rate.choose`` in fast mode for ``max_bytes`` (``--timing-bpp``), ``target_psnr`` (30 dB) and
  the default budget, median over the images, beside one plain full-resolution AVIF encode (Pillow's
  default speed 6, q50) of the same image in the same run; large photos (``--sizes`` MP, training photos
  upscaled) each run in a child process that reports its peak RSS.
* **Quality lost** against ``mode="best"`` at the default budget, decoded as ``sr_codec.decode`` shows it.
* **Guarantee**: the fast choice's decoded PSNR against a plain AVIF file at the highest quality fitting the
  same bytes, at every budget (``--bpp``).
* **BD-rate** (pchip, per image, then the mean) of the rate-controlled default path (fast, at ``--bpp``)
  against plain AVIF and WebP files, beside today's fixed x4 (q 30..90); and the share of it that comes
  from the final encode's speed (the same runs with the final re-encode switched off, ``--share-limit`` images).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

AVIF_QUALITIES = (0, 10, 22, 36, 55)
WEBP_QUALITIES = (0, 5, 15, 30, 50)
FIXED_X4_QUALITIES = (10, 35, 60, 85)


def _timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def time_one(rgb: np.ndarray, bpp: float, target: float) -> dict:
    """Fast-mode times (s) for max_bytes, target_psnr and the default, and one plain AVIF encode, same run."""
    from sr_codec import codecs, rate

    pixels = rgb.shape[0] * rgb.shape[1]
    out = {"pixels": pixels}
    choice, out["max_bytes_s"] = _timed(lambda: rate.choose(rgb, max_bytes=int(bpp * pixels / 8)))
    out["max_bytes_scale"] = choice.scale
    choice, out["target_psnr_s"] = _timed(lambda: rate.choose(rgb, target_psnr=target))
    out["target_psnr_scale"] = choice.scale
    choice, out["default_s"] = _timed(lambda: rate.choose(rgb))
    out["default_scale"], out["default_bytes"] = choice.scale, choice.payload_bytes
    _, out["plain_avif_s"] = _timed(lambda: codecs.by_name("avif").as_plain_file().encode_file(rgb, 50))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def large_photo(path: str, megapixels: float) -> np.ndarray:
    from sr_codec.imaging.io import load_rgb
    from sr_codec.imaging.resample import resize_bicubic

    rgb = load_rgb(path)
    factor = (megapixels * 1e6 / (rgb.shape[0] * rgb.shape[1])) ** 0.5
    return resize_bicubic(rgb, round(rgb.shape[0] * factor), round(rgb.shape[1] * factor))


def timing_child(path: str, megapixels: float, bpp: float, target: float) -> None:
    """Runs in a child process (peak RSS is per process): prints one JSON line."""
    import sr_codec.rate  # noqa: F401  (imported before the clock, as an app would have)

    rgb = large_photo(path, megapixels)
    print(json.dumps(time_one(rgb, bpp, target)))


def large_timings(paths: list[str], sizes: list[float], bpp: float, target: float) -> dict:
    report = {}
    for mp in sizes:
        runs = []
        for path in paths:
            code = f"from benchmarks.common.rate_fast import timing_child; timing_child({path!r}, {mp}, {bpp}, {target})"
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {mp} MP {Path(path).name}: {runs[-1]}", flush=True)
        report[f"{mp:g} MP"] = summarise_times(runs)
    return report


def summarise_times(runs: list[dict]) -> dict:
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    out = {"images": len(runs), "plain_avif_s": med("plain_avif_s")}
    for key in ("max_bytes", "target_psnr", "default"):
        out[f"{key}_s"] = med(f"{key}_s")
        out[f"{key}_ratio_to_plain_avif"] = statistics.median(r[f"{key}_s"] / r["plain_avif_s"] for r in runs)
    if "peak_rss_mb" in runs[0]:
        out["peak_rss_mb_max"] = max(r["peak_rss_mb"] for r in runs)
    return out


def curve_of_files(rgb: np.ndarray, name: str, qualities) -> tuple[list[int], list[float]]:
    from sr_codec import codecs
    from sr_codec.imaging.metrics import psnr

    codec = codecs.by_name(name).as_plain_file()
    sizes, psnrs = [], []
    for q in qualities:
        data = codec.encode_file(rgb, q)
        sizes.append(len(data))
        psnrs.append(psnr(rgb, codec.decode(data)))
    return sizes, psnrs


def bsd_image(rgb: np.ndarray, bpps: list[float], default_bpp: float, target: float, share: bool) -> dict:
    """Every per-image number of the report for one BSD100 photo."""
    import sr_codec
    from benchmarks.rate_control import classical_at_budget
    from sr_codec import rate
    from sr_codec.imaging.metrics import psnr
    from sr_codec.sender.rate import final

    from sr_codec import codecs

    pixels = rgb.shape[0] * rgb.shape[1]
    rec: dict = {"pixels": pixels}
    # the budget runs time max_bytes (every budget: the median of their times) and the default (default_bpp)
    _, rec["target_psnr_s"] = _timed(lambda: rate.choose(rgb, target_psnr=target))
    _, rec["plain_avif_s"] = _timed(lambda: codecs.by_name("avif").as_plain_file().encode_file(rgb, 50))
    budget_times = []
    rec["sr"] = {"bytes": [], "psnr": [], "avif_at_budget": [], "scale": []}
    for bpp in bpps:
        budget = int(bpp * pixels / 8)
        choice, seconds = _timed(lambda: rate.choose(rgb, max_bytes=budget))
        budget_times.append(seconds)
        rec["sr"]["scale"].append(choice.scale)
        if bpp == default_bpp:
            rec["default_s"] = seconds
        shown = psnr(rgb, sr_codec.decode(choice.payload))
        rec["sr"]["bytes"].append(choice.payload_bytes)
        rec["sr"]["psnr"].append(shown)
        rec["sr"]["avif_at_budget"].append(classical_at_budget(rgb, "avif", budget)["psnr"])
        if bpp == default_bpp:
            rec["max_bytes_s"] = statistics.median(budget_times)  # placeholder until every budget ran
            best = rate.choose(rgb, max_bytes=budget, mode="best")
            rec["default_fast_psnr"], rec["default_best_psnr"] = shown, best.psnr_db
    rec["max_bytes_s"] = statistics.median(budget_times)
    if share:
        saved = final.FINAL_SPEED_BY_PIXELS
        final.FINAL_SPEED_BY_PIXELS = ()
        try:
            rec["probe_speed"] = {"bytes": [], "psnr": []}
            for bpp in bpps:
                choice = rate.choose(rgb, max_bytes=int(bpp * pixels / 8))
                rec["probe_speed"]["bytes"].append(choice.payload_bytes)
                rec["probe_speed"]["psnr"].append(psnr(rgb, sr_codec.decode(choice.payload)))
        finally:
            final.FINAL_SPEED_BY_PIXELS = saved
    fixed_bytes, fixed_psnr = [], []
    for q in FIXED_X4_QUALITIES:
        payload = sr_codec.encode(rgb, scale=4, quality=q, sender="bicubic")
        fixed_bytes.append(len(payload))
        fixed_psnr.append(psnr(rgb, sr_codec.decode(payload)))
    rec["fixed_x4"] = {"bytes": fixed_bytes, "psnr": fixed_psnr}
    rec["avif"] = dict(zip(("bytes", "psnr"), curve_of_files(rgb, "avif", AVIF_QUALITIES)))
    rec["webp"] = dict(zip(("bytes", "psnr"), curve_of_files(rgb, "webp", WEBP_QUALITIES)))
    return rec


def summarise_bsd(records: list[dict]) -> dict:
    from sr_codec.imaging.curves import bd_rate

    def mean_bd(curve: str, reference: str) -> dict:
        values = [bd_rate(r[reference]["bytes"], r[reference]["psnr"], r[curve]["bytes"], r[curve]["psnr"], "pchip")
                  for r in records if curve in r]
        values = [v for v in values if v is not None]
        return {"mean_pct": float(np.mean(values)) if values else None, "images": len(values)}

    lost = [r["default_best_psnr"] - r["default_fast_psnr"] for r in records]
    violations = sum(
        1 for r in records for ours, avif in zip(r["sr"]["psnr"], r["sr"]["avif_at_budget"])
        if avif is not None and ours < avif - 1e-9
    )
    checks = sum(1 for r in records for avif in r["sr"]["avif_at_budget"] if avif is not None)
    shared = [r for r in records if "probe_speed" in r]
    return {
        "images": len(records),
        "times": summarise_times(records),
        "quality_lost_vs_best_db": {"mean": float(np.mean(lost)), "worst": float(np.max(lost))},
        "guarantee": {"violations": violations, "checks": checks},
        "bd_rate": {
            "default_vs_avif": mean_bd("sr", "avif"),
            "default_vs_webp": mean_bd("sr", "webp"),
            "fixed_x4_vs_avif": mean_bd("fixed_x4", "avif"),
            "fixed_x4_vs_webp": mean_bd("fixed_x4", "webp"),
            "default_probe_speed_vs_avif_same_images": mean_bd("probe_speed", "avif"),
            "default_vs_avif_same_images": {
                "mean_pct": mean_bd("sr", "avif")["mean_pct"] if not shared else float(np.mean([
                    v for v in (bd_rate(r["avif"]["bytes"], r["avif"]["psnr"], r["sr"]["bytes"], r["sr"]["psnr"], "pchip")
                                for r in shared) if v is not None])),
                "images": len(shared),
            },
        },
    }


def speed_share(paths: list, bpp: float) -> dict:
    """At budget ``bpp``: the fast choice with and without the slower final encode, decoded PSNR and bytes."""
    import sr_codec
    from benchmarks.common.data import load_rgb as bench_load
    from sr_codec import rate
    from sr_codec.imaging.metrics import psnr
    from sr_codec.sender.rate import final

    rows = []
    for path in paths:
        rgb = bench_load(path)
        budget = int(bpp * rgb.shape[0] * rgb.shape[1] / 8)
        row = {}
        for label, table in (("final", final.FINAL_SPEED_BY_PIXELS), ("probe", ())):
            saved, final.FINAL_SPEED_BY_PIXELS = final.FINAL_SPEED_BY_PIXELS, table
            try:
                choice = rate.choose(rgb, max_bytes=budget)
            finally:
                final.FINAL_SPEED_BY_PIXELS = saved
            row[label] = (choice.scale, choice.payload_bytes, psnr(rgb, sr_codec.decode(choice.payload)))
        rows.append(row)
    recoded = [r for r in rows if r["final"][0] > 1]
    gains = [r["final"][2] - r["probe"][2] for r in recoded]
    return {
        "bpp": bpp, "images": len(rows), "scale_above_1": len(recoded),
        "psnr_gain_db_mean_where_recoded": float(np.mean(gains)) if gains else None,
        "psnr_gain_db_mean_all": float(np.mean([r["final"][2] - r["probe"][2] for r in rows])),
        "bytes_ratio_mean_where_recoded": float(np.mean([r["final"][1] / r["probe"][1] for r in recoded])) if recoded else None,
    }


def run(args) -> int:
    from benchmarks.common.data import image_paths
    from benchmarks.common.data import load_rgb as bench_load

    import sr_codec.rate  # noqa: F401
    from sr_codec import rate

    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"command": " ".join(sys.argv), "note": "2-core CPU shared with a training job and other helpers"}
    if args.speed_share:
        report["speed_share"] = speed_share(image_paths(args.data)[: args.limit], rate.DEFAULT_BITS_PER_PIXEL)
        (args.out / "speed_share.json").write_text(json.dumps(report, indent=1) + "\n")
        print(json.dumps(report, indent=1))
        return 0
    if args.sizes:
        train = image_paths(args.train)[: args.large_photos]
        report["large"] = large_timings([str(p) for p in train], args.sizes, args.timing_bpp, args.target)
        print(json.dumps(report["large"], indent=1), flush=True)
    records = []
    paths = image_paths(args.data)[: args.limit]
    for index, path in enumerate(paths):
        rgb = bench_load(path)
        records.append(bsd_image(rgb, args.bpp, rate.DEFAULT_BITS_PER_PIXEL, args.target, index < args.share_limit))
        print(f"{index + 1}/{len(paths)} {Path(path).name}: default {records[-1]['default_s']:.2f} s", flush=True)
        (args.out / "records.json").write_text(json.dumps(records))
    if records:
        report["bsd"] = summarise_bsd(records)
    (args.out / "fast_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    return 0
