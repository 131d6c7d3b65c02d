"""Super-resolution quality on the standard test sets, with the protocol of published tables.

    python -m benchmarks.sr_quality [--data ../shared/data/val] [--scales 2 4 10]
                                    [--peers ../shared/peers] [--models ID ...] [--out results/]

Protocol (issue 3), exactly as the SR literature reports it:

* HR = ``mod_crop(hr, scale)``; greyscale images are converted to RGB first;
* LR = ``downsample(HR, scale)`` (Pillow antialiased BICUBIC, as MATLAB ``imresize``);
* PSNR = ``psnr_y(HR, SR, shave=scale)`` (BT.601 Y, 16..235, rounded, ``scale`` pixels shaved);
* the table gives the mean over each set's images.

Methods: bicubic, every shipped model of the scale (``sr_codec.zoo.manifest``), and OpenCV's
``dnn_superres`` peers (ESPCN, FSRCNN, LapSRN) for every ``NAME_xS.pb`` in ``--peers``. OpenCV's
models take and return BGR; they are fed BGR and their output flipped back to RGB.

The codec-degraded column answers "does the network add anything over bicubic on the picture it
really receives": per scale, on BSD100, LR = ``degrade(HR, scale)`` (the default inner codec at
its default quality), and the RGB PSNR of each network's output is compared with bicubic of the
same decoded LR.

Sanity check: bicubic x4 on the full Set5 must read 28.42 dB (the published value); the run fails
(exit status 1) when it does not, because then no other number in the table is comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common.data import SHARED, image_paths, load_images
from benchmarks.common.peers import SrFunction, opencv_peers
from benchmarks.common.report import progress_bar

DEFAULT_DATA = SHARED / "data" / "val"
DEFAULT_SETS = ("Set5", "Set14", "BSD100")
DEFAULT_SCALES = (2, 4, 10)
DEGRADED_SET = "BSD100"
TIMING_OUTPUT = (1200, 1600)  # (h, w): the 2-megapixel photo the models issue asks decode times for
SET5_BICUBIC_X4 = 28.42  # the published value every SR paper's protocol reproduces
SET5_IMAGES = {"baby", "bird", "butterfly", "head", "woman"}

PUBLISHED_Y_PSNR = {
    # (method, scale): (Set5, Set14, BSD100), from the papers' tables as listed in issue 3
    ("bicubic", 4): (28.42, 26.00, 25.96),
    ("FSRCNN", 4): (30.72, 27.61, 26.98),
    ("ESPCN", 4): (30.52, 27.42, 26.87),
    ("LapSRN", 4): (31.54, 28.19, 27.32),
    ("IMDN", 4): (32.21, 28.58, 27.56),
    ("EDSR", 4): (32.46, 28.80, 27.71),
    ("bicubic", 2): (33.66, 30.24, 29.56),
    ("FSRCNN", 2): (37.00, 32.63, 31.53),
}



@dataclass(frozen=True)
class SrMethod:
    name: str
    scale: int
    upscale: SrFunction
    kind: str  # "bicubic", "model" or "peer"


def _bicubic(lr: np.ndarray, scale: int) -> np.ndarray:
    from sr_codec.imaging.resample import upsample_bicubic

    return upsample_bicubic(lr, scale)


def _model_upscaler(model_id: str) -> SrFunction:
    def run(lr: np.ndarray, scale: int) -> np.ndarray:
        from sr_codec.receiver.upscale import upscale

        return upscale(lr, scale, model_id=model_id)

    return run


def peer_methods(peers: Path | None, scales: Sequence[int]) -> list[SrMethod]:
    """One method per ``NAME_xS.pb`` in ``peers`` whose scale is asked for (needs opencv-contrib < 5)."""
    return [SrMethod(f"{name} (OpenCV)", scale, upscaler, "peer") for name, scale, upscaler in opencv_peers(peers, scales)]


def model_methods(scales: Sequence[int], model_ids: Sequence[str] | None) -> list[SrMethod]:
    from sr_codec.zoo import manifest as zoo

    ids = zoo.available_model_ids() if model_ids is None else list(model_ids)
    methods = []
    for model_id in ids:
        scale = int(zoo.model_info(model_id)["scale"])
        if scale in scales:
            methods.append(SrMethod(model_id, scale, _model_upscaler(model_id), "model"))
    return methods


def all_methods(scales: Sequence[int], peers: Path | None, model_ids: Sequence[str] | None) -> list[SrMethod]:
    methods = [SrMethod("bicubic", s, _bicubic, "bicubic") for s in scales]
    return methods + model_methods(scales, model_ids) + peer_methods(peers, scales)


def set_images(folder: Path, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    return load_images(image_paths(folder, limit))  # greyscale becomes RGB


def protocol_pair(hr: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR mod-cropped, LR) of the evaluation protocol."""
    from sr_codec.imaging.resample import downsample
    from sr_codec.imaging.metrics import mod_crop

    hr = np.ascontiguousarray(mod_crop(hr, scale))
    return hr, downsample(hr, scale)


def evaluate_clean(images: Sequence[tuple[str, np.ndarray]], method: SrMethod) -> list[float]:
    """Y-PSNR (protocol) of ``method`` on each image."""
    from sr_codec.imaging.metrics import psnr_y

    scores = []
    for _, image in images:
        hr, lr = protocol_pair(image, method.scale)
        sr = method.upscale(lr, method.scale)
        if sr.shape != hr.shape:
            raise RuntimeError(f"{method.name} x{method.scale} returned {sr.shape} for HR {hr.shape}")
        scores.append(psnr_y(hr, sr, shave=method.scale))
    return scores


def degraded_pairs(images: Sequence[tuple[str, np.ndarray]], scale: int,
                   quality: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(HR mod-cropped, LR the receiver decodes) with the default inner codec at ``quality`` (None: its default)."""
    from sr_codec.codecs.degrade import degrade
    from sr_codec.imaging.metrics import mod_crop

    pairs = []
    for _, image in images:
        hr = np.ascontiguousarray(mod_crop(image, scale))
        pairs.append((hr, degrade(hr, scale, None, quality)))
    return pairs


def evaluate_degraded(pairs: Sequence[tuple[np.ndarray, np.ndarray]], method: SrMethod) -> list[float]:
    """Full-image RGB PSNR of ``method`` on codec-degraded LR (see :func:`degraded_pairs`)."""
    from sr_codec.imaging.metrics import psnr

    return [psnr(hr, method.upscale(lr, method.scale)[: hr.shape[0], : hr.shape[1]]) for hr, lr in pairs]


def decode_timing(method: SrMethod, repeats: int = 3, size: tuple[int, int] = TIMING_OUTPUT) -> float:
    """Median seconds to upscale to a ``size`` (h, w) output, after one warm-up call (model load, tracing)."""
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (size[0] // method.scale, size[1] // method.scale, 3), dtype=np.uint8)
    method.upscale(lr, method.scale)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        method.upscale(lr, method.scale)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def model_card(method: SrMethod) -> dict:
    """Parameters and training wall time from the manifest (models only)."""
    if method.kind != "model":
        return {}
    from sr_codec.zoo import manifest as zoo

    info = zoo.model_info(method.name)
    return {"parameters": info.get("parameters"), "training_s": info.get("training", {}).get("wall_time_s"),
            "training_steps": info.get("training", {}).get("steps")}


def receiver_runtime(model_id: str) -> str:
    """How ``upscale()`` runs ``model_id`` on this machine: the runtime, and the ``.tflite`` precision under LiteRT."""
    from sr_codec.receiver import runtime as rt
    from sr_codec.zoo import manifest as zoo

    device = rt.resolve_device(None)
    runtime = rt.resolve_runtime(None, device, model_id)
    if runtime == "litert":
        precision = zoo.model_info(model_id).get("tflite", {}).get("precision", "float32")
        return f"LiteRT ({precision} .tflite) on the {device.upper()}"
    return f"Keras (TensorFlow) on the {device.upper()}"


def run(
    data: Path,
    sets: Sequence[str],
    scales: Sequence[int],
    peers: Path | None = None,
    model_ids: Sequence[str] | None = None,
    limit: int | None = None,
    degraded_set: str | None = DEGRADED_SET,
    progress: bool = True,
    timing_repeats: int = 3,
    degraded_qualities: Sequence[int] | None = None,
) -> dict:
    """Every number of the tables, as a JSON-ready dict."""

    from sr_codec import codecs

    loaded = {name: set_images(Path(data) / name, limit) for name in sets if (Path(data) / name).is_dir()}
    missing = [name for name in sets if name not in loaded]
    methods = all_methods(scales, peers, model_ids)
    clean: list[dict] = []
    jobs = [(m, name) for m in methods for name in loaded]
    for method, name in progress_bar(jobs, enabled=progress, desc="sr_quality"):
        started = time.perf_counter()
        scores = evaluate_clean(loaded[name], method)
        clean.append(
            {
                "method": method.name,
                "kind": method.kind,
                "scale": method.scale,
                "set": name,
                "images": len(scores),
                "y_psnr": float(np.mean(scores)),
                "per_image": dict(zip([n for n, _ in loaded[name]], map(float, scores))),
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
    timings = []
    if timing_repeats:
        for method in progress_bar(methods, enabled=progress, desc="decode timing"):
            timings.append({"method": method.name, "kind": method.kind, "scale": method.scale,
                            "output": list(TIMING_OUTPUT), "decode_s": decode_timing(method, timing_repeats),
                            **model_card(method)})
    degraded: list[dict] = []
    if degraded_set and degraded_set in loaded:
        codec = codecs.by_name(None)
        for scale, quality in [(s, q) for s in scales for q in (degraded_qualities or [codec.default_quality])]:
            pairs = degraded_pairs(loaded[degraded_set], scale, quality)
            bicubic = float(np.mean(evaluate_degraded(pairs, SrMethod("bicubic", scale, _bicubic, "bicubic"))))
            row = {"scale": scale, "set": degraded_set, "inner": codec.name, "quality": quality,
                   "images": len(pairs), "bicubic_rgb_psnr": bicubic}
            networks = [m for m in methods if m.kind != "bicubic" and m.scale == scale]
            if not networks:
                degraded.append({**row, "method": None, "kind": None, "rgb_psnr": None, "gain_db": None})
            for method in networks:
                value = float(np.mean(evaluate_degraded(pairs, method)))
                degraded.append({**row, "method": method.name, "kind": method.kind, "rgb_psnr": value,
                                 "gain_db": value - bicubic})
    return {
        "protocol": "HR=mod_crop(hr,s); LR=downsample(HR,s) (Pillow BICUBIC, antialiased); "
        "Y-PSNR BT.601 16-235 rounded, shave=s; mean over images",
        "data": str(data),
        "limit": limit,
        "missing_sets": missing,
        "clean": clean,
        "degraded": degraded,
        "timings": timings,
        "set5_bicubic_x4_check": set5_check(clean, limit),
        "receiver": {m.name: receiver_runtime(m.name) for m in methods if m.kind == "model"},
    }


def set5_check(clean: Sequence[dict], limit: int | None) -> dict | None:
    """The protocol's fingerprint: bicubic x4 on all of Set5 is 28.42 dB.

    None when not measured: no x4, no Set5, a ``limit``, or a "Set5" folder that is not the real one.
    """
    rows = [r for r in clean if r["method"] == "bicubic" and r["scale"] == 4 and r["set"] == "Set5"]
    if not rows or limit is not None or set(rows[0]["per_image"]) != SET5_IMAGES:
        return None
    value = round(rows[0]["y_psnr"], 2)
    return {"measured": value, "expected": SET5_BICUBIC_X4, "ok": value == SET5_BICUBIC_X4}


def _published(method: str, scale: int, set_name: str) -> str:
    base = method.split(" ")[0]
    values = PUBLISHED_Y_PSNR.get((base, scale))
    if values is None or set_name not in DEFAULT_SETS:
        return ""
    return f" ({values[DEFAULT_SETS.index(set_name)]:.2f})"


def markdown(results: dict, command: str) -> str:
    clean, sets = results["clean"], []
    for row in clean:
        if row["set"] not in sets:
            sets.append(row["set"])
    lines = [
        "# Super-resolution quality (Y-PSNR, standard protocol)",
        "",
        f"Command: `{command}`  ",
        f"Protocol: {results['protocol']}.  ",
        "In brackets: the published value for the same method and scale (issue 3's list), where there is one.",
        "Peers \"(OpenCV)\" run the .pb files OpenCV distributes through cv2.dnn_superres; the values in",
        "brackets are the original papers'.",
        "",
    ]
    receiver = results.get("receiver") or {}
    if receiver:
        lines += ["Networks run as `upscale()` runs them here: "
                  + "; ".join(f"{name}: {how}" for name, how in receiver.items()) + ".", ""]
    check = results["set5_bicubic_x4_check"]
    if check is not None:
        verdict = "matches" if check["ok"] else "**DOES NOT MATCH**"
        lines += [f"Protocol check: bicubic x4 on Set5 = {check['measured']:.2f} dB, {verdict} the published "
                  f"{check['expected']:.2f} dB.", ""]
    if results["missing_sets"]:
        lines += [f"Sets not found under `{results['data']}`: {', '.join(results['missing_sets'])}.", ""]
    for scale in sorted({r["scale"] for r in clean}):
        rows = [r for r in clean if r["scale"] == scale]
        lines += [f"## x{scale}", "", "| method | " + " | ".join(sets) + " | seconds |", "|---" * (len(sets) + 2) + "|"]
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = []
            for s in sets:
                hit = [r for r in rows if r["method"] == method and r["set"] == s]
                cells.append(f"{hit[0]['y_psnr']:.2f}{_published(method, scale, s)}" if hit else "—")
            seconds = sum(r["seconds"] for r in rows if r["method"] == method)
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {seconds:.1f} |")
        lines.append("")
    timings = results.get("timings") or []
    if timings:
        h, w = timings[0]["output"]
        lines += [
            f"## Cost: decode time of a {w}x{h} output on this machine (median of repeats) and training",
            "",
            "| scale | method | parameters | decode ms | training (wall, steps) |",
            "|---|---|---|---|---|",
        ]
        for t in sorted(timings, key=lambda t: (t["scale"], t["kind"] != "bicubic")):
            params = f"{t['parameters']:,}" if t.get("parameters") else "—"
            train = f"{t['training_s'] / 60:.0f} min, {t['training_steps']:,} steps" if t.get("training_s") else "—"
            lines.append(f"| x{t['scale']} | {t['method']} | {params} | {t['decode_s'] * 1000:.0f} | {train} |")
        lines.append("")
    degraded = results["degraded"]
    if degraded:
        d0 = degraded[0]
        qualities = ", ".join(str(q) for q in dict.fromkeys(r["quality"] for r in degraded))
        lines += [
            f"## Codec-degraded LR ({d0['set']}, inner {d0['inner']} at quality {qualities}): RGB PSNR",
            "",
            "LR = degrade(HR, scale, quality): the low-res image the receiver decodes from a payload. Network versus",
            "bicubic of that same LR, full-image RGB PSNR.",
            "",
            "| scale | quality | network | network RGB PSNR | bicubic RGB PSNR | gain |",
            "|---|---|---|---|---|---|",
        ]
        for r in degraded:
            if r["method"] is None:
                lines.append(f"| x{r['scale']} | {r['quality']} | (none shipped) | — | {r['bicubic_rgb_psnr']:.2f} | — |")
            else:
                lines.append(
                    f"| x{r['scale']} | {r['quality']} | {r['method']} | {r['rgb_psnr']:.2f} | "
                    f"{r['bicubic_rgb_psnr']:.2f} | {r['gain_db']:+.2f} dB |"
                )
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sr_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="folder holding Set5/, Set14/, BSD100/")
    parser.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="subfolders of --data")
    parser.add_argument("--scales", type=int, nargs="+", default=list(DEFAULT_SCALES))
    parser.add_argument("--peers", help="folder of OpenCV dnn_superres .pb files (e.g. ../shared/peers)")
    parser.add_argument("--models", nargs="*", help="shipped model ids to evaluate (default: all; none: bicubic only)")
    parser.add_argument("--limit", type=int, help="first N images of each set (disables the Set5 check)")
    parser.add_argument("--degraded-set", default=DEGRADED_SET, help="set for the codec-degraded column ('' = skip)")
    parser.add_argument("--degraded-qualities", type=int, nargs="+", default=None,
                        help="inner-codec qualities of the codec-degraded column (default: the codec's default)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument("--timing-repeats", type=int, default=3, help="decode-time repeats per method (0 = skip)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not Path(args.data).is_dir():
        parser.error(f"--data {args.data} is not a folder")
    results = run(
        Path(args.data),
        args.sets,
        args.scales,
        Path(args.peers) if args.peers else None,
        args.models,
        args.limit,
        args.degraded_set or None,
        progress=not args.quiet,
        timing_repeats=args.timing_repeats,
        degraded_qualities=args.degraded_qualities,
    )
    command = "python -m benchmarks.sr_quality " + " ".join(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sr_quality.json").write_text(json.dumps({"command": command, **results}, indent=1) + "\n")
    text = markdown(results, command.strip())
    (out / "sr_quality.md").write_text(text)
    print(text)
    check = results["set5_bicubic_x4_check"]
    if check is not None and not check["ok"]:
        print(f"PROTOCOL CHECK FAILED: bicubic x4 Set5 = {check['measured']} dB, expected {check['expected']}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
