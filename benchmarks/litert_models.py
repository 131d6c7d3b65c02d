"""Shipped ``.tflite`` vs Keras, and which TFLite precision to ship.

``python -m benchmarks.litert_models [--data ../shared/data/val] [--limit N] [--precisions] [--out DIR]``

* **accuracy** (every manifest model): on BSD100 (clean low-res of the SR protocol), the max abs
  difference between the shipped ``.tflite`` under LiteRT and the Keras model (uint8 outputs), and
  the mean Y-PSNR of both (protocol: BT.601 Y, ``scale`` pixels shaved) and its change.
* **precisions** (``--precisions``, every fast upscaler or ``--models``): fp32 / int8-dynamic / int8-full /
  int8-trunk conversions of the same weights (the calibrated ones on
  :func:`sr_codec.export.calibration.representative_low_res`), each under LiteRT (XNNPACK): median time
  of a 2 MP output (untiled, runs interleaved across precisions), mean BSD100 Y-PSNR and RGB PSNR from
  AVIF-coded (``--quality``) and clean low-res (pair models: their downscaler's thumbnail), max abs diff
  vs the fp32 file. The shipped precision is the fastest within 0.05 dB of fp32 (docs/models.md).

Results: ``litert_models.json`` / ``.md`` and ``compressai/<model>.json`` in ``--out``; :mod:`benchmarks.speed` folds them into its report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "val"
PRECISIONS = ("fp32", "int8-dynamic", "int8-full", "int8-trunk")


def bsd100(data: Path, limit: int | None) -> list[np.ndarray]:
    from benchmarks.common.data import image_paths, load_images

    return [image for _, image in load_images(image_paths(Path(data) / "BSD100", limit))]


def protocol_pairs(images: list[np.ndarray], scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from sr_codec.imaging.resample import downsample
    from sr_codec.imaging.metrics import mod_crop

    pairs = []
    for image in images:
        hr = np.ascontiguousarray(mod_crop(image, scale))
        pairs.append((hr, downsample(hr, scale)))
    return pairs


def _score(pairs, outputs, scale: int) -> float:
    from sr_codec.imaging.metrics import psnr_y

    return float(np.mean([psnr_y(hr, sr, shave=scale) for (hr, _), sr in zip(pairs, outputs)]))


def _run_all(runner, pairs) -> list[np.ndarray]:
    from sr_codec.receiver import runtime as rt

    return [rt.run_tiled(runner, [lr], tile=0)[0] for _, lr in pairs]


def accuracy(model_ids: list[str], images: list[np.ndarray]) -> list[dict]:
    """Shipped .tflite (LiteRT) vs Keras for each model: max abs diff and BSD100 Y-PSNR."""
    from sr_codec.receiver.runtime import litert
    from sr_codec.receiver import runtime as rt
    from sr_codec.zoo import manifest as zoo

    rows = []
    for model_id in model_ids:
        info = zoo.model_info(model_id)
        scale = int(info["scale"])
        pairs = protocol_pairs(images, scale)
        keras_out = _run_all(rt.get_runner(model_id, "cpu", "keras"), pairs)
        lite_out = _run_all(litert.TfliteRunner.from_shipped(model_id), pairs)
        diff = max(int(np.abs(a.astype(np.int16) - b).max()) for a, b in zip(keras_out, lite_out))
        keras_psnr, lite_psnr = _score(pairs, keras_out, scale), _score(pairs, lite_out, scale)
        rows.append({"model": model_id, "scale": scale, "precision": info["tflite"]["precision"],
                     "max_abs_diff": diff, "keras_y_psnr": keras_psnr, "litert_y_psnr": lite_psnr,
                     "delta_db": lite_psnr - keras_psnr, "images": len(pairs)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def low_res_sets(model_id: str, images: list[np.ndarray], quality: int) -> dict[str, list]:
    """(HR, low-res) pairs as the receiver gets them for the model's role, AVIF-coded at ``quality`` and clean.

    codec and clean roles: the bicubic thumbnail; pair role: the thumbnail of the pair's learned downscaler.
    """
    from sr_codec.codecs.base import by_name
    from sr_codec.export.calibration import _pair_downscaler
    from sr_codec.imaging.metrics import mod_crop
    from sr_codec.imaging.resample import downsample
    from sr_codec.sender.learned import learned_low_res
    from sr_codec.zoo import manifest as zoo

    info = zoo.model_info(model_id)
    scale = int(info["scale"])
    down_id = _pair_downscaler(model_id, zoo.WEIGHTS_DIR) if info.get("role") == "pair" else None
    avif = by_name("avif")
    sets: dict[str, list] = {f"avif-q{quality}": [], "clean": []}
    for image in images:
        hr = np.ascontiguousarray(mod_crop(image, scale))
        low = learned_low_res(hr, scale, down_id) if down_id else downsample(hr, scale)
        sets["clean"].append((hr, low))
        sets[f"avif-q{quality}"].append((hr, avif.decode(avif.encode(low, quality))))
    return sets


def precisions(model_ids: list[str], images: list[np.ndarray], repeats: int = 5, quality: int = 50,
               kinds: tuple[str, ...] = PRECISIONS, calibration: list[Path] | None = None) -> list[dict]:
    """Each model at every precision of ``kinds``: 2 MP time (interleaved runs), BSD100 Y-PSNR and RGB PSNR
    on the AVIF-coded and the clean low-res, max abs diff vs the float32 file."""
    from sr_codec.export.calibration import PATCHES, representative_low_res
    from sr_codec.imaging.metrics import psnr
    from sr_codec.nn.geometry import geometry
    from sr_codec.nn.loading import load_model
    from sr_codec.nn.portable import CALIBRATED, tflite_bytes
    from sr_codec.receiver.runtime.litert import TfliteRunner
    from sr_codec.zoo import manifest as zoo

    rows = []
    for model_id in model_ids:
        info = zoo.model_info(model_id)
        scale = int(info["scale"])
        model = load_model(model_id)
        geo = geometry(model)
        start = time.perf_counter()
        calib = representative_low_res(model_id, zoo.WEIGHTS_DIR, calibration, PATCHES)
        contents = {p: tflite_bytes(model, precision=p, representative=(lambda: calib) if p in CALIBRATED else None)
                    for p in kinds}
        convert_s = time.perf_counter() - start
        runners = {p: TfliteRunner(contents[p], scale, geo) for p in kinds}
        height = round((2e6 * 3 / 4) ** 0.5 / scale)
        low = np.random.default_rng(0).integers(0, 256, (1, height, round(height * 4 / 3), 3), dtype=np.uint8)
        times: dict[str, list[float]] = {p: [] for p in kinds}
        for runner in runners.values():
            runner(low)  # allocate for the timing size
        for _ in range(repeats):  # interleaved, so a change of load hits every precision alike
            for precision, runner in runners.items():
                t = time.perf_counter()
                runner(low)
                times[precision].append(time.perf_counter() - t)
        sets = low_res_sets(model_id, images, quality)
        scores: dict[str, dict] = {p: {} for p in kinds}
        for condition, pairs in sets.items():
            outs = {p: [r(lr[None])[0] for _, lr in pairs] for p, r in runners.items()}
            for precision in kinds:
                scores[precision][condition] = {
                    "y_psnr": _score(pairs, outs[precision], scale),
                    "rgb_psnr": float(np.mean([psnr(hr, sr) for (hr, _), sr in zip(pairs, outs[precision])])),
                    "max_abs_diff_vs_fp32": max(int(np.abs(a.astype(np.int16) - b).max())
                                                for a, b in zip(outs["fp32"], outs[precision])),
                    "mean_abs_diff_vs_fp32": float(np.mean([np.abs(a.astype(np.int16) - b).mean()
                                                            for a, b in zip(outs["fp32"], outs[precision])])),
                }
        for precision in kinds:
            row = {"model": model_id, "scale": scale, "role": info.get("role", "codec"), "precision": precision,
                   "ms_2mp": 1000 * statistics.median(times[precision]),
                   "ms_2mp_runs": [1000 * t for t in times[precision]], "threads": runners[precision].num_threads,
                   "tflite_bytes": len(contents[precision]), "images": len(images), "quality": quality,
                   "conditions": scores[precision], "convert_and_calibrate_s": convert_s}
            for condition, score in scores[precision].items():
                row[f"delta_y_db_{condition}"] = score["y_psnr"] - scores["fp32"][condition]["y_psnr"]
                row[f"delta_rgb_db_{condition}"] = score["rgb_psnr"] - scores["fp32"][condition]["rgb_psnr"]
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k not in ("conditions", "ms_2mp_runs")}), flush=True)
    return rows


def _section(title: str, intro: str, header: str, rows: list[str], text_columns: int = 2) -> list[str]:
    """A Markdown section: heading, intro, a table whose first ``text_columns`` are left-aligned, the rest right."""
    columns = header.count("|") - 1
    align = "|" + "---|" * text_columns + "---:|" * (columns - text_columns)
    return [f"### {title}", "", intro, "", header, align, *rows, ""]


def markdown(report: dict) -> str:
    lines = []
    if report.get("precisions"):
        rows = report["precisions"]
        q = rows[0]["quality"]
        fp32 = {r["model"]: r["ms_2mp"] for r in rows if r["precision"] == "fp32"}
        lines += _section(
            "TFLite precision per model (LiteRT, XNNPACK)",
            f"BSD100 (all {rows[0]['images']} photos): mean Y-PSNR (BT.601, `scale` pixels shaved) of the decode "
            f"from AVIF q{q} low-res and from clean low-res (pair models: the pair's learned thumbnail), and its "
            f"change against the float32 file. 2 MP: one untiled 2 MP output through `TfliteRunner` "
            f"(float conversion and rounding included), median of {report['repeats']} runs interleaved across "
            f"precisions, {rows[0]['threads']} threads.",
            f"| model | precision | KB | 2 MP (ms) | × fp32 | Y-PSNR q{q} | Δ q{q} (dB) | Y-PSNR clean | Δ clean (dB) "
            "| max / mean abs diff vs fp32 |",
            [f"| {r['model']} | {r['precision']} | {r['tflite_bytes'] / 1024:.0f} | {r['ms_2mp']:.0f} | "
             f"{fp32[r['model']] / r['ms_2mp']:.2f} | {r['conditions'][f'avif-q{q}']['y_psnr']:.3f} | "
             f"{r[f'delta_y_db_avif-q{q}']:+.3f} | {r['conditions']['clean']['y_psnr']:.3f} | "
             f"{r['delta_y_db_clean']:+.3f} | {r['conditions'][f'avif-q{q}']['max_abs_diff_vs_fp32']} / "
             f"{r['conditions'][f'avif-q{q}']['mean_abs_diff_vs_fp32']:.2f} |" for r in rows])
    if report.get("accuracy"):
        rows = report["accuracy"]
        lines += _section(
            "Shipped .tflite vs Keras (every manifest upscaler)",
            f"BSD100 ({rows[0]['images']} images, clean low-res, untiled): max abs difference of the "
            "uint8 outputs and mean Y-PSNR.",
            "| model | x | precision | max abs diff | Keras Y-PSNR | LiteRT Y-PSNR | Δ (dB) |",
            [f"| {r['model']} | {r['scale']} | {r['precision']} | {r['max_abs_diff']} | {r['keras_y_psnr']:.3f} | "
             f"{r['litert_y_psnr']:.3f} | {r['delta_db']:+.4f} |" for r in rows], text_columns=1)
    return "\n".join(lines)


def compressai(report: dict, out: Path) -> list[Path]:
    """CompressAI-style result files, one per model: ``{"name", "description", "results": {metric: [per precision]}}``."""
    written = []
    rows = report.get("precisions") or []
    for model_id in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model_id]
        conditions = list(mine[0]["conditions"])
        results: dict[str, list] = {"precision": [r["precision"] for r in mine],
                                    "ms-2mp": [r["ms_2mp"] for r in mine],
                                    "tflite-bytes": [r["tflite_bytes"] for r in mine]}
        for condition in conditions:
            results[f"psnr-y-{condition}"] = [r["conditions"][condition]["y_psnr"] for r in mine]
            results[f"psnr-rgb-{condition}"] = [r["conditions"][condition]["rgb_psnr"] for r in mine]
            results[f"max-abs-diff-vs-fp32-{condition}"] = [r["conditions"][condition]["max_abs_diff_vs_fp32"]
                                                            for r in mine]
        path = Path(out) / "compressai" / f"{model_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "name": f"sr_codec {model_id} TFLite precisions",
            "description": (f"{model_id} (x{mine[0]['scale']}, {mine[0]['role']} role) under LiteRT/XNNPACK, "
                            f"BSD100 ({mine[0]['images']} photos): mean PSNR from AVIF q{mine[0]['quality']} and "
                            f"clean low-res; 2 MP time median of {report['repeats']}, {mine[0]['threads']} threads. "
                            f"Command: {report.get('command', 'python -m benchmarks.litert_models --precisions')}"),
            "results": results}, indent=2) + "\n")
        written.append(path)
    return written


def run(data: Path, limit: int | None, with_precisions: bool, repeats: int = 3, models: list[str] | None = None,
        quality: int = 50, with_accuracy: bool = True, calibration: list[Path] | None = None) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sr_codec.zoo import manifest as zoo

    images = bsd100(data, limit)
    report: dict = {"repeats": repeats, "limit": limit, "load_average_before": os.getloadavg()}
    if with_precisions:
        fast = [m for m in zoo.upscaler_ids() if zoo.model_info(m).get("arch") == "fast"]
        report["precisions"] = precisions(models or fast, images, repeats, quality, calibration=calibration)
    if with_accuracy:
        shipped = [m for m in zoo.upscaler_ids() if "tflite" in zoo.model_info(m)]
        report["accuracy"] = accuracy(models or shipped, images)
    report["load_average_after"] = os.getloadavg()
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.litert_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding BSD100/")
    p.add_argument("--limit", type=int, default=None, help="first N BSD100 images (default all)")
    p.add_argument("--precisions", action="store_true", help=f"also compare {', '.join(PRECISIONS)} conversions")
    p.add_argument("--no-accuracy", action="store_true", help="skip the shipped-vs-Keras table")
    p.add_argument("--models", nargs="+", default=None, help="model ids (default: every fast upscaler)")
    p.add_argument("--quality", type=int, default=50, help="AVIF quality of the coded low-res")
    p.add_argument("--calibration", type=Path, nargs="+", default=None, help="training photos (default ../shared/data/train)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    if not (args.data / "BSD100").is_dir():
        print(f"no BSD100 under {args.data}", file=sys.stderr)
        return 1
    report = run(args.data, args.limit, args.precisions, args.repeats, args.models, args.quality,
                 not args.no_accuracy, args.calibration)
    report["command"] = "python -m benchmarks.litert_models " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "litert_models.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "litert_models.md").write_text(markdown(report))
    compressai(report, args.out)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
