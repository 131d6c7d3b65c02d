"""Encode/decode speed and peak memory: ``python -m benchmarks.speed [--peers DIR] [--repeats N] [--out DIR]``.

What is measured, per photo size (2 and 12 megapixels), scale (2, 4, 10) and runtime
(``litert``: the shipped ``.tflite`` under LiteRT, the default CPU decode (int8-trunk files);
``litert-fp32``: the float32 file kept beside it, same tiling; ``keras``: the old TensorFlow path):

* **encode**: ``sr_codec.encode(photo, scale=s)`` with the default inner codec (AVIF).
* **decode**: ``sr_codec.decode_preview(payload)`` (inner decode) + ``sr_codec.upscale(low, s,
  runtime=..., tile=...)``: what ``decode()`` does minus its final crop, with the runtime and tiling
  exposed. The first call (TensorFlow import, model load, graph trace) is reported apart as *cold*.
* **peak RSS**: ``ru_maxrss`` of a fresh subprocess that runs only that case (Python, NumPy,
  TensorFlow and the work), and its RSS right after the imports.
* ``import sr_codec`` wall time, in a fresh interpreter.
* OpenCV ``dnn_superres`` ESPCN x4 on the same decoded low-res image when ``--peers`` holds
  ``ESPCN_x4.pb`` (a side-by-side reference; OpenCV wants BGR, so the colour swaps are timed too).

Also, unless switched off: the receiver's base install in a fresh venv (``--receiver-venv``,
:mod:`benchmarks.receiver`: size, install time, cold start, CLI wall time) and, with BSD100 under
``--data``, every shipped ``.tflite`` vs its Keras model (:mod:`benchmarks.litert_models`; with
``--precisions`` also fp32 / int8-dynamic / int8-full / int8-trunk). The load average before and after is recorded: the
figures of one report come from the same run, so they compare even on a shared machine.

Every timing is the median of ``--repeats`` runs after the cold one. Photos are mosaics of the
scikit-image sample photos at native resolution (nothing is downloaded). Results: ``speed.json``
and ``speed.md`` in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common.photos import make_photo

DEFAULT_SIZES = (2.0, 12.0)
FP32_RUNTIME = "litert-fp32"  # LiteRT running the float32 file (tflite_fp32) instead of the shipped int8 one
DEFAULT_SCALES = (2, 4, 10)
REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------- inputs


def random_weights(weights_dir: Path, scales) -> None:
    """Random-weight models of the shipped architectures and configs (read from the manifest), for timing
    before trained weights exist."""
    from sr_codec.nn.architectures import from_manifest
    from sr_codec.train import TrainConfig, publish_weights
    from sr_codec.zoo import manifest as zoo

    rng = np.random.default_rng(0)
    for scale in scales:
        info = zoo.model_info(zoo.default_model_id(scale))
        arch = from_manifest(info)
        model = arch.build(scale)
        model.set_weights([rng.normal(0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()])
        config = TrainConfig(scale=scale, arch=info["arch"], arch_config=arch.get_config())
        publish_weights(model, config, {"step": 0, "elapsed": 0.0}, weights_dir)


# ---------------------------------------------------------------------------------------- worker


def _peak_rss() -> int:
    """This process's peak RSS in bytes.

    VmHWM, not ``ru_maxrss``: Linux carries ``ru_maxrss`` over ``exec`` from the forked parent, so a
    subprocess of a big driver would report the driver's peak.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def worker(case: dict) -> dict:
    """Run one case in this (fresh) process; returns timings in seconds and RSS in bytes."""
    repeats = case["repeats"]
    if case["kind"] == "random_weights":
        random_weights(Path(case["weights_dir"]), case["scales"])
        return {}
    if case["kind"] == "litert_models":  # in a subprocess: the driver never imports TensorFlow
        from benchmarks import litert_models

        return litert_models.run(Path(case["data"]), None, case["precisions"], case["repeats"])
    import sr_codec

    if case["kind"] == "encode":
        photo = np.load(case["photo"])
        rss_after_import = _peak_rss()
        start = time.perf_counter()
        payload = sr_codec.encode(photo, scale=case["scale"])
        cold = time.perf_counter() - start
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            sr_codec.encode(photo, scale=case["scale"])
            times.append(time.perf_counter() - start)
        return {"cold": cold, "times": times, "payload_bytes": len(payload), "rss_after_import": rss_after_import,
                "peak_rss": _peak_rss()}

    payload = Path(case["payload"]).read_bytes()
    if case["kind"] == "espcn":
        from benchmarks.common.peers import peer_upscaler

        espcn = peer_upscaler(Path(case["peer_model"]), "espcn", 4)
        espcn(np.zeros((8, 8, 3), np.uint8), 4)  # load the model now, outside the timings, as before
        rss_after_import = _peak_rss()

        def run():
            return espcn(sr_codec.decode_preview(payload), 4)

        model_id, tiles = "ESPCN_x4.pb", 1
    else:
        from sr_codec.receiver import runtime as rt
        from sr_codec.zoo import manifest as zoo
        from sr_codec.receiver.upscale import upscale

        weights_dir = Path(case["weights_dir"]) if case.get("weights_dir") else zoo.WEIGHTS_DIR
        model_id = zoo.default_model_id(case["scale"], weights_dir)
        rss_after_import = _peak_rss()

        if case["runtime"] == FP32_RUNTIME:  # the float32 file kept beside the shipped int8 one, same tiling
            from sr_codec.receiver.runtime import litert

            entry = zoo.model_info(model_id, weights_dir).get(litert.TFLITE_FP32_FIELD) or zoo.model_info(
                model_id, weights_dir)[litert.TFLITE_FIELD]
            fp32_runner = litert.TfliteRunner(litert.read_verified(weights_dir / entry["file"], entry["sha256"]),
                                              case["scale"], litert.geometry_of(model_id, weights_dir))

            def run():
                return rt.run_tiled(fp32_runner, [sr_codec.decode_preview(payload)], tile=case["tile"])[0]
        else:
            def run():
                low = sr_codec.decode_preview(payload)
                return upscale(low, case["scale"], device=case.get("device"), runtime=case["runtime"],
                               tile=case["tile"], model_id=model_id, weights_dir=weights_dir)

        tiles = 1

    start = time.perf_counter()
    out = run()
    cold = time.perf_counter() - start
    if case["kind"] == "decode" and model_id != "bicubic":
        runtime = "litert" if case["runtime"] == FP32_RUNTIME else case["runtime"]
        runner = rt.get_runner(model_id, rt.resolve_device(case.get("device"), runtime), runtime, weights_dir)
        low_h, low_w = -(-out.shape[0] // case["scale"]), -(-out.shape[1] // case["scale"])
        core = rt.clamp_tile(case["tile"], runner.geometry) if case["tile"] is not None else rt.auto_tile(
            low_h, low_w, runner.geometry, rt.memory_budget(runner.device, runner.runtime))
        tiles = len(rt.plan_tiles(low_h, low_w, core, runner.geometry))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    precision = None
    if case["kind"] == "decode" and case["runtime"].startswith("litert") and model_id != "bicubic":
        from sr_codec.zoo import manifest as zoo

        precision = "fp32" if case["runtime"] == FP32_RUNTIME else zoo.model_info(model_id, weights_dir)["tflite"][
            "precision"]
    return {"cold": cold, "times": times, "output_shape": list(out.shape), "model": model_id, "tiles": tiles,
            "precision": precision,
            "rss_after_import": rss_after_import, "peak_rss": _peak_rss()}


def run_case(case: dict, timeout: float) -> dict:
    """``case`` in a fresh interpreter (``--worker``); errors come back as ``{"error": ...}``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--worker", json.dumps(case)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------- driver


def import_time() -> dict:
    """Wall time of ``import sr_codec`` in a fresh interpreter (its start-up excluded)."""
    code = ("import json, sys, time; t = time.perf_counter(); import sr_codec; t = time.perf_counter() - t; "
            "print(json.dumps({'seconds': t, 'tensorflow_imported': 'tensorflow' in sys.modules}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    return json.loads(proc.stdout) if proc.returncode == 0 else {"error": proc.stderr.strip()[-300:]}


def litert_available() -> bool:
    """Whether a TFLite interpreter can be imported (checked in a subprocess: the driver never imports TensorFlow)."""
    code = ("try:\n from ai_edge_litert.interpreter import Interpreter\nexcept ImportError:\n"
            " import tensorflow as tf; tf.lite.Interpreter")
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def summarise(case: dict, result: dict) -> dict:
    row = {k: v for k, v in case.items() if k not in ("photo", "payload", "repeats", "weights_dir", "peer_model")}
    row.update({k: v for k, v in result.items() if k != "times"})
    if "times" in result:
        median = statistics.median(result["times"]) if result["times"] else result["cold"]
        row["median_s"] = median
        row["runs"] = len(result["times"])
        row["ms_per_mp"] = 1000 * median / case["megapixels"]
    return row


def markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        "# sr_codec speed",
        "",
        f"`{report.get('command', 'python -m benchmarks.speed')}`",
        "",
        f"{machine['cpu_count']} CPU cores ({machine['processor'] or machine['machine']}), Python {machine['python']}, "
        f"device: {report['device'] or 'auto'}. Median of {report['repeats']} runs after a cold one. "
        f"Load average (1/5/15 min) before: {'/'.join(f'{x:.1f}' for x in report['load_average_before'])}, "
        f"after the timings: {'/'.join(f'{x:.1f}' for x in report.get('load_average_after', []))} "
        "(the machine is shared; compare figures within this report).",
        "",
        f"`import sr_codec`: {1000 * report['import']['median_s']:.0f} ms (median of {report['import']['runs']}; "
        f"TensorFlow imported: {report['import']['tensorflow_imported']}).",
        "",
        "| step | photo (MP) | scale | runtime | tiles | model | median (ms) | ms / MP | cold (ms) | peak RSS (MB) |",
        "|---|---:|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    for row in report["cases"]:
        runtime = row.get("runtime", "")
        if row.get("precision"):
            runtime += f" {row['precision']}"
        if row.get("tile") == 0:
            runtime += " (tile=0)"
        if "error" in row:
            lines.append(f"| {row['kind']} | {row['megapixels']:g} | {row['scale']} | {runtime} | | | "
                         f"error: {row['error']} | | | |")
            continue
        lines.append(
            f"| {row['kind']} | {row['megapixels']:g} | {row['scale']} | {runtime} | {row.get('tiles', '')} | "
            f"{row.get('model', '')} | {1000 * row['median_s']:.0f} | {row['ms_per_mp']:.0f} | "
            f"{1000 * row['cold']:.0f} | {row['peak_rss'] / 2**20:.0f} |"
        )
    lines += ["", "Photo sizes are nominal; ms / MP divides by the nominal megapixels of the full-size photo.", ""]
    lines += comparison(report)
    for extra in ("receiver_md", "litert_models_md"):
        if report.get(extra):
            lines += [report[extra]]
    return "\n".join(lines)


def comparison(report: dict) -> list[str]:
    """Decode only, one row per (photo, scale): each runtime's median and peak RSS side by side, and the
    shipped LiteRT decode as a multiple of OpenCV ESPCN x4 on the same photo (same run)."""
    decodes = [r for r in report["cases"] if r["kind"] in ("decode", "espcn") and "error" not in r]
    methods = [m for m in ("litert", FP32_RUNTIME, "keras", "opencv") if any(r["runtime"] == m and r.get("tile") != 0
                                                                           for r in decodes)]
    if not decodes:
        return []
    names = {"litert": "LiteRT shipped (.tflite)", FP32_RUNTIME: "LiteRT float32 file", "keras": "Keras (old path)",
             "opencv": "OpenCV ESPCN x4"}
    lines = ["### Decode: shipped LiteRT vs float32 file vs Keras vs OpenCV ESPCN (same run)", "",
             "| photo (MP) | scale | " + " | ".join(f"{names[m]} ms | RSS MB" for m in methods)
             + " | shipped / ESPCN x4 |",
             "|---:|---:|" + "---:|---:|" * len(methods) + "---:|"]

    def find(mp, scale, method):
        return next((r for r in decodes if r["megapixels"] == mp and r["scale"] == scale and r["runtime"] == method
                     and r.get("tile") != 0), None)

    for mp in sorted({r["megapixels"] for r in decodes}):
        espcn = find(mp, 4, "opencv")
        for scale in sorted({r["scale"] for r in decodes}):
            cells = []
            for m in methods:
                row = find(mp, scale, m)
                cells += [f"{1000 * row['median_s']:.0f}", f"{row['peak_rss'] / 2**20:.0f}"] if row else ["–", "–"]
            shipped = find(mp, scale, "litert")
            ratio = f"{shipped['median_s'] / espcn['median_s']:.2f}×" if shipped and espcn else "–"
            lines.append(f"| {mp:g} | {scale} | " + " | ".join(cells) + f" | {ratio} |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--peers", type=Path, default=None, help="folder holding ESPCN_x4.pb (e.g. ../shared/peers)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--sizes", type=float, nargs="+", default=list(DEFAULT_SIZES), help="photo sizes, megapixels")
    p.add_argument("--scales", type=int, nargs="+", default=list(DEFAULT_SCALES))
    p.add_argument("--runtimes", nargs="+", default=None,
                   help=f"litert (shipped file), {FP32_RUNTIME} (the float32 file), keras; default: all three "
                        "(keras only without a TFLite interpreter)")
    p.add_argument("--device", default=None, choices=["cpu", "gpu"])
    p.add_argument("--weights-dir", type=Path, default=None, help="decode with these weights (default: shipped)")
    p.add_argument("--random-weights", action="store_true",
                   help="decode with random-weight models of the shipped sizes (timing before weights exist)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per case")
    p.add_argument("--receiver-venv", type=Path, default=Path(tempfile.gettempdir()) / "venv-base",
                   help="fresh venv for the base-install figures (benchmarks.receiver)")
    p.add_argument("--reuse-venv", action="store_true", help="keep an existing --receiver-venv")
    p.add_argument("--no-receiver", action="store_true", help="skip the base-install figures")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "val",
                   help="folder holding BSD100/ for the .tflite-vs-Keras table (skipped when absent)")
    p.add_argument("--precisions", action="store_true", help="also compare fp32 / fp16 / int8 .tflite conversions")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    runtimes = args.runtimes or (["litert", FP32_RUNTIME, "keras"] if litert_available() else ["keras"])
    scratch = Path(tempfile.mkdtemp(prefix="sr_codec_speed_"))
    weights_dir = args.weights_dir
    if args.random_weights:
        weights_dir = scratch / "weights"  # made in a subprocess: the driver stays free of TensorFlow
        made = run_case({"kind": "random_weights", "repeats": 0, "weights_dir": str(weights_dir),
                         "scales": args.scales}, args.timeout)
        if "error" in made:
            raise SystemExit(f"cannot make random weights: {made['error']}")
    espcn = args.peers / "ESPCN_x4.pb" if args.peers and (args.peers / "ESPCN_x4.pb").exists() else None
    base = {"repeats": args.repeats, "device": args.device}

    import sr_codec

    report = {
        "machine": {"cpu_count": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor(),
                    "python": platform.python_version(), "platform": platform.platform()},
        "device": args.device, "repeats": args.repeats, "weights": str(weights_dir or "shipped"), "cases": [],
        "command": "python -m benchmarks.speed " + " ".join(argv if argv is not None else sys.argv[1:]),
        "load_average_before": os.getloadavg(),
    }
    imports = [import_time() for _ in range(max(args.repeats, 3))]
    report["import"] = {"median_s": statistics.median(r.get("seconds", float("nan")) for r in imports),
                        "runs": len(imports), "tensorflow_imported": any(r.get("tensorflow_imported") for r in imports)}
    print(f"import sr_codec: {1000 * report['import']['median_s']:.0f} ms", flush=True)

    for megapixels in args.sizes:
        photo = make_photo(megapixels)
        photo_path = scratch / f"photo_{megapixels:g}.npy"
        np.save(photo_path, photo)
        for scale in args.scales:
            payload_path = scratch / f"payload_{megapixels:g}_x{scale}.bin"
            payload_path.write_bytes(sr_codec.encode(photo, scale=scale))
            cases = [{"kind": "encode", "photo": str(photo_path)}]
            cases += [{"kind": "decode", "runtime": rt_name, "tile": None} for rt_name in runtimes]
            if espcn is not None and scale == 4:
                cases.append({"kind": "espcn", "runtime": "opencv", "peer_model": str(espcn)})
            for case in cases:
                case.update(base, megapixels=megapixels, scale=scale, payload=str(payload_path),
                            weights_dir=str(weights_dir) if weights_dir else None)
                row = summarise(case, run_case(case, args.timeout))
                report["cases"].append(row)
                print(json.dumps({k: row.get(k) for k in ("kind", "megapixels", "scale", "runtime", "tile", "tiles",
                                                          "median_s", "peak_rss", "error")}), flush=True)

    report["load_average_after"] = os.getloadavg()
    if not args.no_receiver:
        from benchmarks import receiver

        report["receiver"] = receiver.run(args.receiver_venv, args.reuse_venv, args.repeats)
        report["receiver_md"] = receiver.markdown(report["receiver"])
    if (args.data / "BSD100").is_dir() and not args.random_weights and weights_dir is None:
        models = run_case({"kind": "litert_models", "repeats": args.repeats, "data": str(args.data),
                           "precisions": args.precisions}, args.timeout * 4)
        report["litert_models"] = models
        if "error" not in models:
            from benchmarks import litert_models

            report["litert_models_md"] = litert_models.markdown(models)
    report["load_average_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "speed.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "speed.md").write_text(markdown(report))
    print(f"wrote {args.out / 'speed.json'} and {args.out / 'speed.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
