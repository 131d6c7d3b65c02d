"""Shipped ``.tflite`` vs Keras, and which TFLite precision to ship.

``python -m benchmarks.litert_models [--data ../shared/data/val] [--limit N] [--precisions] [--out DIR]``

* **accuracy** (every manifest model): on BSD100 (clean low-res of the SR protocol), the max abs
  difference between the shipped ``.tflite`` under LiteRT and the Keras model (uint8 outputs), and
  the mean Y-PSNR of both (protocol: BT.601 Y, ``scale`` pixels shaved) and its change.
* **precisions** (``--precisions``, the default model of each scale): fp32 / fp16 / dynamic-range int8
  conversions of the same weights, each under LiteRT (XNNPACK): median time of a 2 MP output
  (untiled, one interpreter call, ``SR_CODEC_THREADS`` threads), mean BSD100 Y-PSNR, max abs diff vs Keras.

Results: ``litert_models.json`` / ``.md`` in ``--out``; :mod:`benchmarks.speed` folds them into its report.
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
PRECISIONS = ("fp32", "fp16", "int8")


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


def precisions(model_ids: list[str], images: list[np.ndarray], repeats: int = 3) -> list[dict]:
    """fp32 / fp16 / int8 conversions of each model: 2 MP time, BSD100 Y-PSNR, max abs diff vs Keras."""
    from sr_codec.receiver import runtime as rt
    from sr_codec.nn.loading import load_model
    from sr_codec.nn.portable import tflite_bytes
    from sr_codec.receiver.runtime.litert import TfliteRunner
    from sr_codec.zoo import manifest as zoo

    rows = []
    for model_id in model_ids:
        scale = int(zoo.model_info(model_id)["scale"])
        pairs = protocol_pairs(images, scale)
        keras_runner = rt.get_runner(model_id, "cpu", "keras")
        keras_out = _run_all(keras_runner, pairs)
        keras_psnr = _score(pairs, keras_out, scale)
        height = round((2e6 * 3 / 4) ** 0.5 / scale)
        low = np.random.default_rng(0).integers(0, 256, (1, height, round(height * 4 / 3), 3), dtype=np.uint8)
        model = load_model(model_id)
        contents = {p: tflite_bytes(model, precision=p) for p in PRECISIONS}
        runners = {p: TfliteRunner(contents[p], scale, keras_runner.geometry) for p in PRECISIONS}
        times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        for runner in runners.values():
            runner(low)  # allocate for the timing size
        for _ in range(repeats):  # interleaved, so a change of load hits every precision alike
            for precision, runner in runners.items():
                start = time.perf_counter()
                runner(low)
                times[precision].append(time.perf_counter() - start)
        for precision, runner in runners.items():
            out = _run_all(runner, pairs)
            psnr = _score(pairs, out, scale)
            rows.append({"model": model_id, "scale": scale, "precision": precision,
                         "ms_2mp": 1000 * statistics.median(times[precision]), "y_psnr": psnr,
                         "delta_db": psnr - keras_psnr,
                         "max_abs_diff": max(int(np.abs(a.astype(np.int16) - b).max())
                                             for a, b in zip(keras_out, out)),
                         "threads": runner.num_threads, "images": len(pairs),
                         "tflite_bytes": len(contents[precision])})
            print(json.dumps(rows[-1]), flush=True)
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
        lines += _section(
            "TFLite precision (XNNPACK, default models)",
            f"BSD100 ({rows[0]['images']} images, clean low-res), mean Y-PSNR; time of one untiled 2 MP output, "
            f"median of {report['repeats']} interleaved runs, {rows[0]['threads']} threads. "
            "Equal PSNR = within ±0.02 dB of Keras.",
            "| model | precision | file (KB) | 2 MP (ms) | Y-PSNR (dB) | Δ vs Keras (dB) | max abs diff |",
            [f"| {r['model']} | {r['precision']} | {r.get('tflite_bytes', 0) / 1024:.0f} | {r['ms_2mp']:.0f} | "
             f"{r['y_psnr']:.3f} | {r['delta_db']:+.3f} | {r['max_abs_diff']} |" for r in rows])
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


def run(data: Path, limit: int | None, with_precisions: bool, repeats: int = 3) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sr_codec.zoo import manifest as zoo

    images = bsd100(data, limit)
    report: dict = {"repeats": repeats, "limit": limit}
    if with_precisions:
        defaults = [zoo.default_model_id(s) for s in (2, 4, 10)]
        report["precisions"] = precisions([m for m in defaults if m != zoo.BICUBIC], images, repeats)
    shipped = [m for m in zoo.upscaler_ids() if "tflite" in zoo.model_info(m)]
    report["accuracy"] = accuracy(shipped, images)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.litert_models", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding BSD100/")
    p.add_argument("--limit", type=int, default=None, help="first N BSD100 images (default all)")
    p.add_argument("--precisions", action="store_true", help="also compare fp32 / fp16 / int8 conversions")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = p.parse_args(argv)
    if not (args.data / "BSD100").is_dir():
        print(f"no BSD100 under {args.data}", file=sys.stderr)
        return 1
    report = run(args.data, args.limit, args.precisions, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "litert_models.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "litert_models.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
