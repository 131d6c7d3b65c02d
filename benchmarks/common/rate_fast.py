"""Issue 22's numbers for rate control v2 (``python -m benchmarks.rate_control --v2 ...``).

* ``stats``: on every BSD100 photo x budget (and on large mosaics), the fast choice decoded as ``sr_codec.decode``
  shows it, against (a) the best plain AVIF file (Pillow, speed 6) of the same size, (b) ``mode="best"``.
  Records per (photo, budget); the summary counts the budgets where fast decodes more than 0.1 dB below the
  AVIF file, and the mean loss against best. Also the BD-rate of the fast path against AVIF files.
* ``timing``: ``rate.choose(max_bytes=...)`` in fast mode and one plain Pillow AVIF speed-6 encode (q50) of the
  same photo, in the same child process (which reports its peak RSS), median over photos.

Large photos are mosaics of several training photos (whole crops side by side, never upscaled); 0.4 MP photos
are 2 x 2 mosaics of BSD100 crops.
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

AVIF_QUALITIES = (0, 10, 22, 36, 55, 75)
LOSS_DB = 0.1
"""A budget counts against the guarantee when fast decodes more than this below the plain AVIF file."""


def classical_at_budget(image: np.ndarray, name: str, max_bytes: int, metrics=None) -> dict:
    """A full-resolution Pillow file of ``name`` at the highest quality that fits ``max_bytes``.

    ``metrics``: a function (original, decoded) -> {name: value} whose values join the record."""
    from sr_codec import codecs
    from sr_codec.imaging.metrics import psnr
    from sr_codec.rate import highest_fitting

    codec = codecs.by_name(name).as_plain_file()
    files: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in files:
            files[q] = codec.encode_file(image, q)
        return len(files[q])

    q = highest_fitting(size, max_bytes)
    if q is None:
        return {"quality": None, "bytes": None, "psnr": None, "smallest_bytes": size(0)}
    shown = codec.decode(files[q])
    return {"quality": q, "bytes": len(files[q]), "psnr": psnr(image, shown), **(metrics(image, shown) if metrics else {})}


def mosaic_photo(paths: list, height: int, width: int, cell: tuple[int, int], start: int) -> np.ndarray:
    """A ``height`` x ``width`` photo of whole ``cell`` crops (centre crops) of consecutive photos from ``start``."""
    from sr_codec.imaging.io import load_rgb

    ch, cw = cell
    out = np.empty((height, width, 3), np.uint8)
    index = start
    for top in range(0, height, ch):
        for left in range(0, width, cw):
            while True:
                rgb = load_rgb(paths[index % len(paths)])
                index += 1
                if rgb.shape[0] >= ch and rgb.shape[1] >= cw:
                    break
            y, x = (rgb.shape[0] - ch) // 2, (rgb.shape[1] - cw) // 2
            h, w = min(ch, height - top), min(cw, width - left)
            out[top : top + h, left : left + w] = rgb[y : y + h, x : x + w]
    return out


SIZES = {  # name: (height, width, cell, photos per mosaic)
    "0.4 MP": (640, 640, (320, 320)),
    "2 MP": (1224, 1632, (612, 816)),
    "12 MP": (3000, 4000, (600, 1000)),
}


def photo_for(size: str, index: int, val: str, train: str) -> np.ndarray:
    from sr_codec.imaging.io import list_images

    height, width, cell = SIZES[size]
    folder = val if size == "0.4 MP" else train
    paths = list_images([folder])
    per = (height // cell[0]) * (width // cell[1])
    return mosaic_photo(paths, height, width, cell, index * per)


# ------------------------------------------------------------------------------------------ stats


def stats_one(rgb: np.ndarray, bpps: list[float], best: bool | list[float]) -> list[dict]:
    """Per budget: fast's choice decoded, best's (every budget, or those in ``best``), and the plain AVIF file at
    the same bytes."""
    import sr_codec
    from sr_codec import LimitExceededError, rate
    from sr_codec.imaging.metrics import psnr

    pixels = rgb.shape[0] * rgb.shape[1]
    rows = []
    for bpp in bpps:
        budget = int(bpp * pixels / 8)
        row: dict = {"bpp": bpp, "max_bytes": budget}
        try:
            started = time.perf_counter()
            fast = rate.choose(rgb, max_bytes=budget)
            row["fast_s"] = time.perf_counter() - started
            row["fast"] = {"scale": fast.scale, "sender": fast.sender, "quality": fast.quality,
                           "bytes": fast.payload_bytes, "psnr": psnr(rgb, sr_codec.decode(fast.payload)),
                           "estimate": fast.estimate_db, "encodes": fast.encodes}
        except LimitExceededError:
            row["fast"] = None
        if best is True or (best and bpp in best):
            try:
                choice = rate.choose(rgb, max_bytes=budget, mode="best")
                row["best"] = {"scale": choice.scale, "bytes": choice.payload_bytes,
                               "psnr": psnr(rgb, sr_codec.decode(choice.payload))}
            except LimitExceededError:
                row["best"] = None
        row["avif"] = classical_at_budget(rgb, "avif", budget)
        rows.append(row)
    return rows


def avif_curve(rgb: np.ndarray) -> dict:
    from sr_codec import codecs
    from sr_codec.imaging.metrics import psnr

    codec = codecs.by_name("avif").as_plain_file()
    sizes, psnrs = [], []
    for q in AVIF_QUALITIES:
        data = codec.encode_file(rgb, q)
        sizes.append(len(data))
        psnrs.append(psnr(rgb, codec.decode(data)))
    return {"bytes": sizes, "psnr": psnrs}


def stats_worker(job: tuple) -> dict:
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    kind, key, bpps, best, val, train = job
    if kind == "file":
        from benchmarks.common.data import load_rgb

        rgb = load_rgb(Path(key))
        name = Path(key).stem
    else:
        size, index = key
        rgb = photo_for(size, index, val, train)
        name = f"{size} mosaic {index}"
    record = {"photo": name, "pixels": int(rgb.shape[0] * rgb.shape[1]), "rows": stats_one(rgb, bpps, best)}
    if kind == "file":
        record["avif_curve"] = avif_curve(rgb)
    print(f"{name}: " + ", ".join(
        f"{r['bpp']:g}: x{r['fast']['scale']} {r['fast']['psnr']:.2f}"
        + (f" / AVIF {r['avif']['psnr']:.2f}" if r["avif"]["psnr"] is not None else "")
        + (f" / best {r['best']['psnr']:.2f}" if r.get("best") else "")
        for r in record["rows"] if r["fast"]), flush=True)
    return record


def summarise_stats(records: list[dict], bd_bpps: list[float]) -> dict:
    from sr_codec.imaging.curves import bd_rate

    rows = [r for rec in records for r in rec["rows"] if r["fast"] is not None]
    checked = [r for r in rows if r["avif"]["psnr"] is not None]
    losses = [r["avif"]["psnr"] - r["fast"]["psnr"] for r in checked]
    with_best = [r for r in rows if r.get("best")]
    vs_best = [r["best"]["psnr"] - r["fast"]["psnr"] for r in with_best]
    bd = []
    for rec in records:
        if "avif_curve" not in rec:
            continue
        points = [r for r in rec["rows"] if r["fast"] is not None and r["bpp"] in bd_bpps]
        if len(points) >= 3:
            value = bd_rate(rec["avif_curve"]["bytes"], rec["avif_curve"]["psnr"], [r["fast"]["bytes"] for r in points],
                            [r["fast"]["psnr"] for r in points], "pchip")
            if value is not None:
                bd.append(value)
    return {
        "photos": len(records),
        "budgets": len(rows),
        "budgets_where_avif_fits": len(checked),
        "worse_than_avif_by_more_than_0.1_db": sum(loss > LOSS_DB for loss in losses),
        "worse_than_avif_share_pct": 100.0 * sum(loss > LOSS_DB for loss in losses) / max(len(checked), 1),
        "worst_loss_vs_avif_db": max(losses, default=None),
        "mean_gain_over_avif_db": -float(np.mean(losses)) if losses else None,
        "budgets_with_best": len(with_best),
        "mean_loss_vs_best_db": float(np.mean(vs_best)) if vs_best else None,
        "worst_loss_vs_best_db": max(vs_best, default=None),
        "bd_rate_vs_avif_pct": {"mean": float(np.mean(bd)) if bd else None, "photos": len(bd), "bpp": bd_bpps},
        "scales": {str(s): sum(1 for r in rows if r["fast"]["scale"] == s) for s in (1, 2, 4, 10)},
        "learned": sum(1 for r in rows if r["fast"]["sender"] == "learned"),
        "mean_fast_encodes": float(np.mean([r["fast"]["encodes"] for r in rows])) if rows else None,
    }


def compressai_json(records: list[dict], name: str, description: str, bpps: list[float]) -> dict:
    """Mean bpp and decoded PSNR of the fast path per budget (CompressAI's results shape)."""
    out_bpp, out_psnr = [], []
    for bpp in bpps:
        rows = [r for rec in records for r in rec["rows"] if r["bpp"] == bpp and r["fast"] is not None]
        if rows:
            out_bpp.append(float(np.mean([8.0 * r["fast"]["bytes"] / rec_pixels for r, rec_pixels in
                                          ((r, rec["pixels"]) for rec in records for r in rec["rows"]
                                           if r["bpp"] == bpp and r["fast"] is not None)])))
            out_psnr.append(float(np.mean([r["fast"]["psnr"] for r in rows])))
    return {"name": name, "description": description, "results": {"bpp": out_bpp, "psnr-rgb": out_psnr}}


# ----------------------------------------------------------------------------------------- timing


def time_one(rgb: np.ndarray, bpp: float, repeats: int = 1) -> dict:
    """Fast ``max_bytes`` (and the default budget) beside one plain Pillow AVIF speed-6 encode, same process."""
    from sr_codec import codecs, rate

    plain = codecs.by_name("avif").as_plain_file()
    pixels = rgb.shape[0] * rgb.shape[1]
    out: dict = {"pixels": pixels}
    times, plains, defaults = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        plain.encode_file(rgb, 50)
        plains.append(time.perf_counter() - started)
        started = time.perf_counter()
        choice = rate.choose(rgb, max_bytes=int(bpp * pixels / 8))
        times.append(time.perf_counter() - started)
        started = time.perf_counter()
        default = rate.choose(rgb)
        defaults.append(time.perf_counter() - started)
    out.update(plain_avif_s=min(plains), max_bytes_s=min(times), default_s=min(defaults), scale=choice.scale,
               sender=choice.sender, encodes=choice.encodes, default_scale=default.scale,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def timing_child(size: str, index: int, bpp: float, val: str, train: str, repeats: int) -> None:
    """Runs in a child process (peak RSS is per process): prints one JSON line."""
    import sr_codec.rate  # noqa: F401  (imported before the clock, as an app would have)
    from sr_codec import rate

    rgb = photo_for(size, index, val, train)
    rate.choose(rgb[:320, :320], max_bytes=2000)  # load the learned downscaler and the gain table once, as an app would
    print(json.dumps(time_one(rgb, bpp, repeats)))


def timings(sizes: list[str], photos: int, bpp: float, val: str, train: str, repeats: int) -> dict:
    report = {}
    for size in sizes:
        runs = []
        for index in range(photos):
            code = (f"from benchmarks.common.rate_fast import timing_child; "
                    f"timing_child({size!r}, {index}, {bpp}, {val!r}, {train!r}, {repeats})")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  {size} #{index}: {runs[-1]}", flush=True)
        ratios = [r["max_bytes_s"] / r["plain_avif_s"] for r in runs]
        med = statistics.median(r["max_bytes_s"] for r in runs)
        report[size] = {
            "photos": len(runs), "bpp": bpp,
            "plain_avif_s_median": statistics.median(r["plain_avif_s"] for r in runs),
            "max_bytes_s_median": med,
            "max_bytes_ratio_to_plain_median": statistics.median(ratios),
            "max_bytes_s_slowest": max(r["max_bytes_s"] for r in runs),
            "slowest_over_median": max(r["max_bytes_s"] for r in runs) / med,
            "default_s_median": statistics.median(r["default_s"] for r in runs),
            "default_ratio_to_plain_median": statistics.median(r["default_s"] / r["plain_avif_s"] for r in runs),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
            "scales": {str(s): sum(1 for r in runs if r["scale"] == s) for s in (1, 2, 4, 10)},
            "runs": runs,
        }
    return report


def run(args) -> int:
    from multiprocessing import Pool

    from benchmarks.common.data import image_paths

    args.out.mkdir(parents=True, exist_ok=True)
    report: dict = {"command": "python -m benchmarks.rate_control " + " ".join(sys.argv[1:]),
                    "note": "2-core CPU shared with two training runs (python -m sr_codec.train.adversarial) and "
                            "other engineers' jobs: absolute times are pessimistic, ratios to the plain AVIF "
                            "encode timed in the same process are the comparable figures"}
    if args.timing:
        report["timing"] = timings(args.timing, args.photos, args.timing_bpp, args.data, args.train, args.repeats)
        name = "timing.json"
    else:
        best = (args.best_bpp or True) if args.best else False
        jobs = [("file", str(p), args.bpp, best, args.data, args.train) for p in image_paths(args.data)[: args.limit]]
        jobs += [("mosaic", (size, i), args.large_bpp, args.best_large, args.data, args.train)
                 for size in args.large for i in range(args.large_photos)]
        with Pool(args.workers) as pool:
            records = pool.map(stats_worker, jobs, chunksize=1)
        small = [r for r in records if "mosaic" not in r["photo"]]
        large = [r for r in records if "mosaic" in r["photo"]]
        report["bsd"] = summarise_stats(small, args.bd_bpp)
        report["large"] = summarise_stats(large, [])
        report["all"] = summarise_stats(records, [])
        (args.out / "records.json").write_text(json.dumps(records))
        (args.out / "rate_v2_bsd100.json").write_text(json.dumps(compressai_json(
            small, "sr_codec fast rate control v2",
            f"rate.choose(max_bytes=bpp*pixels/8), mode='fast', BSD100 ({len(small)} photos), decoded by sr_codec.decode",
            args.bpp), indent=1) + "\n")
        name = "stats.json"
    (args.out / name).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "timing"}, indent=1))
    if "timing" in report:
        print(json.dumps({s: {k: v for k, v in t.items() if k != "runs"} for s, t in report["timing"].items()}, indent=1))
    return 0
