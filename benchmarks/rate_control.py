"""Rate control against the classical codecs at full resolution, at the same byte budgets.

    python -m benchmarks.rate_control --data ../shared/data/val/BSD100 --bpp 0.02 0.05 0.1 0.25 0.5 \\
        [--limit N] [--mode fast best] [--weights-dir DIR] --out results/rate_control
    python -m benchmarks.rate_control --v2 --data ../shared/data/val/BSD100 --bpp 0.02 0.05 0.0625 0.1 0.15 0.25 0.4 0.5 \\
        --best --large "2 MP" "12 MP" --out results/rate_v2                 (issue 22's statistics)
    python -m benchmarks.rate_control --v2 --data ../shared/data/val/BSD100 --timing "0.4 MP" "2 MP" "12 MP" \\
        --out results/rate_v2_timing                                          (issue 22's timings)

For every image and budget (bytes = bpp x pixels / 8, whole payloads and whole files):

* **sr_codec** ``rate.choose(image, max_bytes=bytes, mode=...)`` for each mode: the scale and
  quality it picked, the payload's decoded RGB PSNR (decoded like ``sr_codec.decode``, i.e.
  with the network the payload names), the encode time, and the network runs it made;
* **AVIF / WebP / JPEG** at full resolution: a plain Pillow file (sr_codec's encoder options,
  AVIF at Pillow's default speed 6) at the highest quality whose file fits the bytes. When
  even the lowest quality does not fit, the codec has no PSNR at that budget ("n/a"): the
  summary says how often;
* how often the fast mode's choice equals the best mode's, and what it costs in dB.

Every network is loaded once before the clock starts (:func:`warm_up`). Writes
``rate_control.json`` (every record and the summary) and ``rate_control.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common.codecs import LABELS
from benchmarks.common.data import image_paths, load_rgb
from benchmarks.common.rate_fast import classical_at_budget

DEFAULT_BPP = (0.02, 0.05, 0.1, 0.25, 0.5)
CLASSICAL = ("avif", "webp", "jpeg")


def decode_payload(payload: bytes, weights_dir: Path | None, device: str | None) -> np.ndarray:
    """What the receiver shows: ``sr_codec.decode``, or the same path with another weights folder."""
    import sr_codec

    if weights_dir is None:
        return sr_codec.decode(payload, device=device)
    from sr_codec.zoo import manifest as zoo
    from sr_codec.receiver.upscale import upscale

    info = sr_codec.inspect(payload)
    model_id = zoo.model_id_for_tag(info.model_tag, weights_dir)
    if model_id is None:
        raise SystemExit(f"payload names model tag {info.model_tag:#x}, which {weights_dir} does not ship")
    low = sr_codec.decode_preview(payload)
    return upscale(low, info.scale, device=device, model_id=model_id, weights_dir=weights_dir)[: info.height, : info.width]


def measure(
    name: str, image: np.ndarray, bpp: float, modes: Sequence[str], receiver, weights_dir: Path | None, device: str | None,
    metrics=None,
) -> dict:
    """One photo at one budget. ``metrics``: (original, decoded) -> {name: value} (the perceptual metrics),
    recorded beside PSNR for every sr_codec mode and classical file."""
    from sr_codec import LimitExceededError, rate
    from sr_codec.imaging.metrics import psnr

    h, w = image.shape[:2]
    max_bytes = max(1, int(bpp * h * w / 8))
    record: dict = {"image": name, "height": h, "width": w, "bpp": bpp, "max_bytes": max_bytes, "sr_codec": {}}
    for mode in modes:
        started = time.perf_counter()
        try:
            choice = rate.choose(image, max_bytes=max_bytes, mode=mode, receiver=receiver)
        except LimitExceededError as exc:
            record["sr_codec"][mode] = {"fits": False, "error": str(exc), "seconds": time.perf_counter() - started}
            continue
        seconds = time.perf_counter() - started
        picture = decode_payload(choice.payload, weights_dir, device)
        shown = psnr(image, picture)
        record["sr_codec"][mode] = {
            **(metrics(image, picture) if metrics else {}),
            "fits": True,
            "scale": choice.scale,
            "quality": choice.quality,
            "model": choice.model_id,
            "bytes": len(choice.payload),
            "psnr": shown,
            "psnr_rate_control": choice.psnr_db,
            "seconds": seconds,
            "encodes": choice.encodes,
            "network_decodes": choice.network_decodes,
            "finalists": [
                {"scale": t.scale, "quality": t.quality, "bytes": t.payload_bytes, "estimate": t.estimate_db, "psnr": t.psnr_db}
                for t in choice.finalists
            ],
        }
    for codec in CLASSICAL:
        record[codec] = classical_at_budget(image, codec, max_bytes, metrics)
    return record


def warm_up(receiver) -> None:
    """Load every network once (TensorFlow import, weights), so encode times are per-image work only."""
    from sr_codec.zoo import manifest as zoo

    for scale in (1, 2, 4, 10):
        model_id = receiver.model_for(scale)
        if model_id != zoo.BICUBIC:
            receiver.upscale(np.zeros((16, 16, 3), np.uint8), scale, model_id)


# ------------------------------------------------------------------------------------ summary


def _mean(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.fmean(values) if values else None


def summarise(records: Sequence[dict], modes: Sequence[str]) -> list[dict]:
    rows = []
    for bpp in sorted({r["bpp"] for r in records}):
        group = [r for r in records if r["bpp"] == bpp]
        row: dict = {"bpp": bpp, "images": len(group), "modes": {}, "classical": {}}
        for mode in modes:
            done = [r["sr_codec"][mode] for r in group if r["sr_codec"].get(mode, {}).get("fits")]
            row["modes"][mode] = {
                "fits": len(done),
                "mean_psnr": _mean([d["psnr"] for d in done]),
                **{f"mean_{k}": _mean([d[k] for d in done]) for k in ("ssimulacra2", "butteraugli")
                   if done and all(k in d for d in done)},
                "scale_wins": dict(sorted(Counter(d["scale"] for d in done).items())),
                "mean_seconds": _mean([d["seconds"] for d in done]),
                "max_seconds": max((d["seconds"] for d in done), default=None),
                "mean_network_decodes": _mean([d["network_decodes"] for d in done]),
            }
        for codec in CLASSICAL:
            fitting = [r for r in group if r[codec]["psnr"] is not None]
            paired = {}
            for mode in modes:  # sr_codec on exactly the images where the codec fits
                deltas = [
                    r["sr_codec"][mode]["psnr"] - r[codec]["psnr"]
                    for r in fitting
                    if r["sr_codec"].get(mode, {}).get("fits")
                ]
                paired[mode] = {
                    "mean_delta_db": _mean(deltas),
                    "worse": sum(d < 0 for d in deltas),  # for AVIF: hull-guarantee violations
                }
                for k in ("ssimulacra2", "butteraugli"):
                    both = [r for r in fitting if r["sr_codec"].get(mode, {}).get("fits") and k in r[codec]
                            and k in r["sr_codec"][mode]]
                    if both:
                        paired[mode][f"mean_delta_{k}"] = _mean([r["sr_codec"][mode][k] - r[codec][k] for r in both])
            row["classical"][codec] = {
                "fits": len(fitting),
                "no_fit": len(group) - len(fitting),
                "mean_psnr": _mean([r[codec]["psnr"] for r in fitting]),
                "sr_codec_minus_codec": paired,
            }
        if "fast" in modes and "best" in modes:
            both = [r for r in group if r["sr_codec"].get("fast", {}).get("fits") and r["sr_codec"].get("best", {}).get("fits")]
            same = [r for r in both if (r["sr_codec"]["fast"]["scale"], r["sr_codec"]["fast"]["quality"])
                    == (r["sr_codec"]["best"]["scale"], r["sr_codec"]["best"]["quality"])]
            row["fast_matches_best"] = {
                "images": len(both),
                "same_choice": len(same),
                "mean_loss_db": _mean([r["sr_codec"]["best"]["psnr"] - r["sr_codec"]["fast"]["psnr"] for r in both]),
                "max_loss_db": max((r["sr_codec"]["best"]["psnr"] - r["sr_codec"]["fast"]["psnr"] for r in both), default=None),
            }
        rows.append(row)
    return rows


def _db(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _signed(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f}"


def markdown(rows: Sequence[dict], modes: Sequence[str], meta: dict) -> str:
    lines = [
        "# Rate control vs full-resolution codecs at the same bytes",
        "",
        f"Command: `{meta['command']}`  ",
        f"Data: {meta['data']} ({meta['images']} images); models: {meta['models']}; machine: {meta['machine']}; "
        f"wall time {meta['wall_s']:.0f} s.",
        "",
        "Bytes = bpp x pixels / 8 per image, whole payloads and whole files. PSNR: RGB, mean over the images "
        "where the method fits the bytes (count in brackets). A codec that does not fit even at its lowest "
        "quality has no PSNR there (n/a).",
        "",
    ]
    head = ["bpp", "images"]
    for mode in modes:
        head += [f"sr_codec {mode} dB", f"{mode}: scale wins (x1/x2/x4/x10)"]
    head += [f"{LABELS[c]} dB" for c in CLASSICAL]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['bpp']:g}", str(row["images"])]
        for mode in modes:
            m = row["modes"][mode]
            wins = "/".join(str(m["scale_wins"].get(s, 0)) for s in (1, 2, 4, 10))
            cells += [f"{_db(m['mean_psnr'])} ({m['fits']})", wins]
        for codec in CLASSICAL:
            c = row["classical"][codec]
            cells.append(f"{_db(c['mean_psnr'])} ({c['fits']})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "sr_codec minus each codec, on the images where that codec fits (dB; images where sr_codec is worse):", ""]
    head = ["bpp"] + [f"{mode} - {LABELS[c]}" for mode in modes for c in CLASSICAL]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['bpp']:g}"]
        for mode in modes:
            for codec in CLASSICAL:
                p = row["classical"][codec]["sr_codec_minus_codec"][mode]
                cells.append(f"{_signed(p['mean_delta_db'])} ({p['worse']} worse)")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Encode time (rate control, whole `choose` call) and network runs per image:", ""]
    head = ["bpp"] + [f"{mode} {what}" for mode in modes for what in ("mean s", "max s", "network runs")]
    if "fast" in modes and "best" in modes:
        head += ["fast = best (same scale and quality)", "fast loss vs best: mean / max dB"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [f"{row['bpp']:g}"]
        for mode in modes:
            m = row["modes"][mode]
            cells += [_db(m["mean_seconds"]), _db(m["max_seconds"]), _db(m["mean_network_decodes"])]
        if "fast_matches_best" in row:
            f = row["fast_matches_best"]
            cells += [f"{f['same_choice']} / {f['images']}", f"{_db(f['mean_loss_db'])} / {_db(f['max_loss_db'])}"]
        lines.append("| " + " | ".join(cells) + " |")
    no_fit = {c: sum(r["classical"][c]["no_fit"] for r in rows) for c in CLASSICAL}
    total = sum(r["images"] for r in rows)
    lines += [
        "",
        "Budgets where a full-resolution codec cannot fit even at its lowest quality: "
        + ", ".join(f"{LABELS[c]} {n} of {total}" for c, n in no_fit.items())
        + "; sr_codec: "
        + ", ".join(f"{mode} {total - sum(r['modes'][mode]['fits'] for r in rows)} of {total}" for mode in modes)
        + ".",
        "",
    ]
    perceptual = [k for k in ("ssimulacra2", "butteraugli")
                  if rows and all(f"mean_{k}" in r["modes"].get(m, {}) for r in rows for m in modes)]
    if perceptual:
        lines += ["", "Perceptual metrics (means; sr_codec minus AVIF on the images where AVIF fits; SSIMULACRA2 higher "
                  "is better, butteraugli lower):", "",
                  "| bpp | mode | " + " | ".join(f"{k} | {k} − AVIF" for k in perceptual) + " |",
                  "|---|---|" + "---|---|" * len(perceptual)]
        for r in rows:
            for m in modes:
                cells = []
                for k in perceptual:
                    delta = r["classical"]["avif"]["sr_codec_minus_codec"][m].get(f"mean_delta_{k}")
                    cells += [f"{r['modes'][m][f'mean_{k}']:.2f}", "n/a" if delta is None else f"{delta:+.2f}"]
                lines.append(f"| {r['bpp']:g} | {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rate_control", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a folder of images (or one image)")
    parser.add_argument("--bpp", type=float, nargs="+", default=list(DEFAULT_BPP), help="budgets in bits per pixel")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.add_argument("--mode", nargs="+", default=["fast", "best"], choices=["fast", "best"])
    parser.add_argument("--weights-dir", type=Path, help="models to encode and decode with (default: the shipped ones)")
    parser.add_argument("--device", choices=["cpu", "gpu"], help="where networks run (default: automatic)")
    parser.add_argument("--out", type=Path, default=Path("results/rate_control"))
    parser.add_argument("--perceptual", action="store_true",
                        help="also SSIMULACRA2 and butteraugli of every decode (sr_codec and classical files; slow)")
    fast = parser.add_argument_group("issue 22's rate control v2 report (benchmarks/common/rate_fast.py)")
    fast.add_argument("--v2", action="store_true", help="guarantee statistic, loss vs best, BD-rate; or --timing")
    fast.add_argument("--train", default="../shared/data/train/sun_hays80", help="photos the large mosaics are made of")
    fast.add_argument("--large", nargs="*", default=[], help="large mosaics in the statistic: '2 MP', '12 MP'")
    fast.add_argument("--large-photos", type=int, default=5)
    fast.add_argument("--large-bpp", type=float, nargs="+", default=[0.03, 0.1, 0.3])
    fast.add_argument("--best", action="store_true", help="also mode='best' on the BSD100 photos")
    fast.add_argument("--best-bpp", type=float, nargs="+", help="with --best: only at these budgets")
    fast.add_argument("--best-large", action="store_true", help="also mode='best' on the large mosaics (slow)")
    fast.add_argument("--bd-bpp", type=float, nargs="+", default=[0.0625, 0.15, 0.4],
                      help="the budgets the default path's BD-rate curve is drawn through")
    fast.add_argument("--workers", type=int, default=2)
    fast.add_argument("--timing", nargs="*", help="time these sizes instead: '0.4 MP' '2 MP' '12 MP'")
    fast.add_argument("--photos", type=int, default=20, help="photos per timed size")
    fast.add_argument("--timing-bpp", type=float, default=0.1, help="the max_bytes budget timed")
    fast.add_argument("--repeats", type=int, default=1, help="timed runs per photo (the fastest counts)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.v2:
        from benchmarks.common import rate_fast

        return rate_fast.run(args)

    from sr_codec import rate
    from sr_codec.zoo import manifest as zoo

    paths = image_paths(args.data, args.limit)
    if not paths:
        parser.error(f"no images in {args.data}")
    weights_dir = args.weights_dir.resolve() if args.weights_dir else None
    receiver = rate.Receiver.shipped(weights_dir, device=args.device)
    folder = weights_dir or zoo.WEIGHTS_DIR
    models = {s: zoo.default_model_id(s, folder) for s in rate.AUTO_SCALES}
    calibrated = sorted(rate.GainTable.load(folder).curves)
    warm_up(receiver)
    metrics = None
    if args.perceptual:
        from benchmarks.common.perceptual import announce_skipped, perceptual_scores

        announce_skipped()
        metrics = perceptual_scores
    started = time.perf_counter()
    records = []
    for index, path in enumerate(paths):
        image = load_rgb(path)
        for bpp in args.bpp:
            record = measure(path.stem, image, bpp, args.mode, receiver, weights_dir, args.device, metrics)
            records.append(record)
            shown = ", ".join(
                f"{m} x{r['scale']} q{r['quality']} {r['psnr']:.2f} dB {r['seconds']:.1f} s" if r.get("fits") else f"{m} no fit"
                for m, r in record["sr_codec"].items()
            )
            avif = record["avif"]["psnr"]
            print(f"[{index + 1}/{len(paths)}] {path.name} {bpp:g} bpp ({record['max_bytes']} B): {shown}; "
                  f"AVIF {_db(avif)} dB", file=sys.stderr, flush=True)
    meta = {
        "command": "python -m benchmarks.rate_control " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
        "data": str(args.data),
        "images": len(paths),
        "models": ", ".join(f"x{s}: {m}" for s, m in models.items()) + f"; gain table for: {', '.join(calibrated) or 'none'}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "wall_s": time.perf_counter() - started,
    }
    rows = summarise(records, args.mode)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rate_control.json").write_text(json.dumps({"meta": meta, "summary": rows, "records": records}, indent=1))
    (args.out / "rate_control.md").write_text(markdown(rows, args.mode, meta))
    print((args.out / "rate_control.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
