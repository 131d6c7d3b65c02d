"""Scale-out numbers: ``python -m benchmarks.batch --data ../shared/data [--synthetic 10000] [--out docs/results]``.

``--sections runners`` (results: ``batch_runners.json`` and ``batch_runners.md`` in ``--out``): what a user
waits for, each run a fresh process timed from outside: a plain single-process loop (``python -c``: read,
``sr_codec.encode`` or ``decode``, write) against ``sr-codec batch`` with ``--runner auto`` (the default:
in-process, moving to Ray only when the job pays for its start-up) and ``--runner ray``, same files, same
options, interleaved in one run (the order rotates per repeat), median of ``--repeats``; on the validation
photos (``val/BSD100``, ``val/Set14``, ``val/Set5``; never the training photos): encode at the defaults,
encode with ``--max-bytes 3000`` (rate control), and decode of the default payloads to PNG (``--jobs
defaults,rate,decode`` picks some).

The other sections (``--sections encode,corrupt,memory,training``, the default; results: ``batch.json`` and
``batch.md``):

* **Batch encode throughput** on BSD100 + the training photos (``--data``: ``val/BSD100`` and
  ``train``): a plain Python loop (read, ``sr_codec.encode``, write, one process) against
  ``sr_codec.batch.transcode`` on an embedded local Ray (one actor per CPU), same options (scale 4,
  the default quality), same run. Photos/s and input MB/s, median of ``--repeats`` runs; Ray's
  start-up (``ray.init``) is timed apart, the actor pool's start-up is inside every run.
* **Re-run**: the same corpus into the same output folder again: every file is skipped.
* **Corrupt files**: BSD100 plus truncated, random-byte, 0-byte and text files named ``.jpg``:
  the job finishes, and the bad files are error rows.
* **Memory**: ``--synthetic`` small PNGs (64 x 64 crops of scikit-image photos) encoded by Ray,
  at 1/10 and at the full count, with the RSS of the driver and of every Ray worker process
  (``ray::*``, children of this process) sampled every 0.25 s (psutil): peaks and their growth.
* **Training throughput**: ``python -m sr_codec.train --strategy default`` (one device) against
  ``--strategy mirrored --logical-cpus 2`` (per-replica batch 16 = global 32, and 8 = global 16),
  the shipped x4 architecture (fast w32 b3, 96 px patches) on ``--train-images`` training photos,
  ``--train-steps`` steps, steps/s and samples/s after the first (tracing) step; median of
  ``--repeats`` subprocess runs.

The machine's load average is recorded with the results: timings taken while other jobs share
the CPU are slower than on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------ memory


class RssSampler(threading.Thread):
    """Peak RSS of the driver (this process, or ``pid``) and of the Ray processes under it, sampled in the background."""

    def __init__(self, interval: float = 0.25, pid: int | None = None):
        super().__init__(daemon=True)
        import psutil

        self.driver = psutil.Process(pid)
        self.interval = interval
        self.peak = {"driver": 0, "worker_max": 0, "workers_sum": 0, "ray_processes_sum": 0}
        self.most_workers = 0
        self.timeline: list[tuple[float, int, int]] = []
        self._stop_event = threading.Event()
        self._start = time.monotonic()

    def processes(self) -> list[tuple[str, int]]:
        """(title, RSS bytes) of every process under the driver, now."""
        import psutil

        found = []
        for child in self.driver.children(recursive=True):
            try:
                found.append((" ".join(child.cmdline()[:1]), child.memory_info().rss))
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return found

    def sample(self) -> None:
        driver = self.driver.memory_info().rss
        workers, others = [], []
        for title, rss in self.processes():
            (workers if title.startswith("ray::") else others).append(rss)
        peak = self.peak
        self.most_workers = max(self.most_workers, len(workers))
        peak["driver"] = max(peak["driver"], driver)
        peak["worker_max"] = max(peak["worker_max"], max(workers, default=0))
        peak["workers_sum"] = max(peak["workers_sum"], sum(workers))
        peak["ray_processes_sum"] = max(peak["ray_processes_sum"], sum(workers) + sum(others))
        self.timeline.append((round(time.monotonic() - self._start, 2), driver, sum(workers)))

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> dict:
        self._stop_event.set()
        if self.is_alive():
            self.join()
        return {**{key: round(value / 2**20, 1) for key, value in self.peak.items()},  # MiB
                "worker_processes": self.most_workers}


# ------------------------------------------------------------------------------------------ corpora


def photo_corpus(data: Path) -> list[Path]:
    files = []
    for folder in (data / "val" / "BSD100", data / "train"):
        files += sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no photos under {data}/val/BSD100 or {data}/train")
    return files


def list_file(paths: list[Path], where: Path) -> Path:
    where.parent.mkdir(parents=True, exist_ok=True)
    where.write_text("\n".join(str(p.resolve()) for p in paths) + "\n")  # list entries: absolute paths
    return where


def corrupt_files(folder: Path, source: Path, count: int) -> list[Path]:
    """``count`` bad inputs: truncated JPEGs, random bytes, empty files, text."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    content = source.read_bytes()
    makers = [lambda: content[: len(content) // 3], lambda: rng.bytes(5000), lambda: b"",
              lambda: b"this is not an image\n" * 20]
    paths = []
    for i in range(count):
        path = folder / f"bad_{i:03d}.jpg"
        path.write_bytes(makers[i % len(makers)]())
        paths.append(path)
    return paths


def synthetic_images(folder: Path, count: int) -> list[Path]:
    from PIL import Image
    from skimage import data as samples

    photos = [samples.astronaut(), samples.coffee(), samples.chelsea(), samples.rocket()]
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        y, x = int(rng.integers(photo.shape[0] - 64)), int(rng.integers(photo.shape[1] - 64))
        path = folder / f"s{i // 1000:02d}" / f"img{i:05d}.png"
        path.parent.mkdir(exist_ok=True)
        Image.fromarray(np.ascontiguousarray(photo[y : y + 64, x : x + 64])).save(path, compress_level=1)
        paths.append(path)
    return paths


# ------------------------------------------------------------------------------------------ encode


def plain_loop(paths: list[Path], out: Path) -> float:
    import sr_codec

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for i, path in enumerate(paths):
        try:
            payload = sr_codec.encode(path.read_bytes(), scale=4)
        except sr_codec.SrCodecError:
            continue
        (out / f"{i:06d}.src").write_bytes(payload)
    return time.perf_counter() - start


def ray_run(inputs: list[str], out: Path, **options) -> tuple[float, object]:
    from sr_codec.batch import transcode

    start = time.perf_counter()
    summary = transcode(inputs, str(out), scale=4, progress=False, **options)
    return time.perf_counter() - start, summary


def rate(files: int, megabytes: float, seconds: float) -> dict:
    return {"seconds": round(seconds, 2), "photos_per_s": round(files / seconds, 2),
            "mb_per_s": round(megabytes / seconds, 2)}


def encode_section(paths: list[Path], work: Path, repeats: int, concurrency: int) -> dict:
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    listing = str(list_file(paths, work / "corpus.txt"))
    loop_times, ray_times = [], []
    summary = None
    for r in range(repeats):
        loop_times.append(plain_loop(paths, work / f"loop{r}"))
        seconds, summary = ray_run([listing], work / f"ray{r}", concurrency=concurrency)
        ray_times.append(seconds)
        if summary.errors:  # a clean corpus: any error means the run measured something else
            raise SystemExit(f"{summary.errors} errors encoding the corpus, e.g. {summary.error_examples[:2]}")
        print(f"  repeat {r}: loop {loop_times[-1]:.1f} s, ray {seconds:.1f} s ({summary.errors} errors)", flush=True)
    rerun_seconds, rerun = ray_run([listing], work / f"ray{repeats - 1}", concurrency=concurrency)
    return {
        "files": len(paths), "input_mb": round(megabytes, 2),
        "payload_mb": round(summary.bytes_out / 1e6, 3), "errors": summary.errors,
        "plain_loop": {**rate(len(paths), megabytes, statistics.median(loop_times)), "runs_s": [round(t, 2) for t in loop_times]},
        "ray": {**rate(len(paths), megabytes, statistics.median(ray_times)), "runs_s": [round(t, 2) for t in ray_times],
                "concurrency": concurrency},
        "rerun": {"seconds": round(rerun_seconds, 2), "skipped": rerun.skipped, "processed": rerun.processed},
    }


def corrupt_section(data: Path, work: Path, bad: int, concurrency: int) -> dict:
    good = sorted((data / "val" / "BSD100").glob("*.jpg"))
    corpus = work / "mixed"
    corpus.mkdir(parents=True, exist_ok=True)
    for path in good:
        os.symlink(path, corpus / path.name)
    corrupt_files(corpus, good[0], bad)
    seconds, summary = ray_run([str(corpus)], work / "mixed_out", concurrency=concurrency)
    from sr_codec.batch.results import read_rows

    rows = read_rows(summary.results, ("path", "error"))
    kinds = sorted({row["error"].split(":")[0] for row in rows if row["error"]})
    return {"files": summary.files, "good": len(good), "bad": bad, "processed": summary.processed,
            "errors": summary.errors, "error_kinds": kinds, "seconds": round(seconds, 2), "job_succeeded": True,
            "example_errors": summary.error_examples[:3]}


def memory_section(work: Path, count: int, concurrency: int) -> dict:
    paths = synthetic_images(work / "synthetic", count)
    results = {}
    for n in sorted({max(1, count // 10), count}):
        listing = str(list_file(paths[:n], work / f"synthetic_{n}.txt"))
        sampler = RssSampler()
        sampler.start()
        seconds, summary = ray_run([listing], work / f"synthetic_out_{n}", concurrency=concurrency, batch_size=32)
        peaks = sampler.stop()
        timeline = sampler.timeline
        quarter = [timeline[int(f * (len(timeline) - 1))] for f in (0.25, 0.5, 0.75, 1.0)] if timeline else []
        results[str(n)] = {"items": n, "seconds": round(seconds, 1), "items_per_s": round(n / seconds, 1),
                           "errors": summary.errors, "peak_mib": peaks,
                           "rss_mib_at_25_50_75_100_percent": [
                               {"t": t, "driver": round(d / 2**20, 1), "workers": round(w / 2**20, 1)}
                               for t, d, w in quarter]}
        print(f"  {n} items: {seconds:.1f} s, peaks {peaks}", flush=True)
    return results


# ------------------------------------------------------------------------------------------ runners

LOOP = """
import sys, time
from pathlib import Path
import sr_codec
from sr_codec.cli import parse_scale
mode, listing, out, *flags = sys.argv[1:]
options = dict(zip(flags[::2], flags[1::2]))
kwargs = {"scale": parse_scale(options["--scale"])} if "--scale" in options else {}
if "--max-bytes" in options:
    kwargs["max_bytes"] = int(options["--max-bytes"])
out = Path(out)
out.mkdir(parents=True, exist_ok=True)
for i, line in enumerate(Path(listing).read_text().split()):
    data = Path(line).read_bytes()
    try:
        if mode == "encode":
            (out / f"{i:05d}.src").write_bytes(sr_codec.encode(data, **kwargs))
        else:
            from PIL import Image
            Image.fromarray(sr_codec.decode(data)).save(out / f"{i:05d}.png")
    except sr_codec.SrCodecError:
        pass
"""


def validation_photos(data: Path) -> list[Path]:
    files = []
    for name in ("BSD100", "Set14", "Set5"):
        files += sorted(p for p in (data / "val" / name).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise SystemExit(f"no photos under {data}/val/{{BSD100,Set14,Set5}}")
    return files


def _timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RAY_ADDRESS", None)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return seconds, done


JOBS = ("defaults", "rate", "decode")


def runners_section(paths: list[Path], work: Path, repeats: int, which: tuple[str, ...] = JOBS) -> dict:
    """Plain loop vs ``sr-codec batch --runner auto`` vs ``--runner ray``, each a fresh process, interleaved."""
    photos = list_file(paths, work / "photos.txt")
    payload_dir = work / "payloads"  # the decode job's inputs: the defaults' payloads, made once
    _timed([sys.executable, "-m", "sr_codec.batch", "encode", str(photos), "--out", str(payload_dir), "--no-progress",
            "--runner", "local", "--scale", "4"])
    payloads = list_file(sorted(payload_dir.rglob("*.src")), work / "payloads.txt")
    jobs = {"encode, defaults (x4)": ("encode", photos, ["--scale", "4"]),
            "encode, --max-bytes 3000 (rate control)": ("encode", photos, ["--max-bytes", "3000"]),
            "decode to PNG": ("decode", payloads, [])}
    jobs = {name: job for key, (name, job) in zip(JOBS, jobs.items()) if key in which}
    results = {}
    for name, (mode, listing, flags) in jobs.items():
        files = len(listing.read_text().split())
        runs: dict[str, list[float]] = {"plain loop": [], "batch --runner auto": [], "batch --runner ray": []}
        notes: dict[str, str] = {}
        quiet = True
        for r in range(repeats):
            order = list(runs)[r % 3:] + list(runs)[:r % 3]
            for runner in order:
                out = work / f"{mode}_{len(results)}_{runner.split()[-1]}_{r}"
                if runner == "plain loop":
                    seconds, _ = _timed([sys.executable, "-c", LOOP, mode, str(listing), str(out), *flags])
                else:
                    seconds, done = _timed([sys.executable, "-m", "sr_codec.batch", mode, str(listing), "--out",
                                            str(out), "--no-progress", "--runner", runner.split()[-1], *flags])
                    summary = done.stdout.splitlines()[-2]
                    notes[runner] = summary.split("; ", 1)[1] if "; " in summary else ""
                    quiet = quiet and done.stderr == ""
                    if " 0 errors" not in summary:
                        raise SystemExit(f"errors in {name}: {summary}")
                runs[runner].append(seconds)
                print(f"  {name}, repeat {r}: {runner} {seconds:.1f} s", flush=True)
        loop = statistics.median(runs["plain loop"])
        results[name] = {"files": files, "stderr_empty": quiet, "runners": {
            runner: {"seconds": round(statistics.median(times), 2), "files_per_s": round(files / statistics.median(times), 2),
                     "vs_loop": round(loop / statistics.median(times), 2), "runs_s": [round(t, 2) for t in times],
                     "where": notes.get(runner, "this process")}
            for runner, times in runs.items()}}
    return results


def runners_markdown(result: dict) -> str:
    lines = [
        "# sr-codec batch against a plain loop, on one machine",
        "",
        f"`{result['command']}` on {result['machine']} ({result['cpus']} CPUs), {result['date']}, Ray {result['ray']}. "
        f"Load average {result['load_before']} before and {result['load_after']} after. Each run is a fresh process "
        "(Python start-up, imports, models and, for Ray, its start-up included), timed from outside; the three runners "
        "ran interleaved, in a rotating order; median of the runs listed.",
        "",
    ]
    for name, job in result["runners"].items():
        lines += [f"## {name}: {job['files']} validation photos (BSD100, Set14, Set5)", "",
                  "| runner | median time | files/s | vs the plain loop | where it ran | runs |", "|---|---:|---:|---:|---|---|"]
        for runner, r in job["runners"].items():
            lines.append(f"| {runner} | {r['seconds']} s | {r['files_per_s']} | {r['vs_loop']}x | {r['where']} | "
                         f"{r['runs_s']} |")
        lines += ["", f"Batch runs printed nothing on stderr: {job['stderr_empty']}.", ""]
    lines += ["Reproduce: `" + result["command"] + "`.", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ training


def training_section(data: Path, work: Path, images: int, steps: int, repeats: int) -> dict:
    photos = sorted((data / "train").rglob("*.jpg"))[:images]
    subset = work / "train_subset"
    subset.mkdir(parents=True, exist_ok=True)
    for path in photos:
        os.symlink(path, subset / path.name)
    configs = {"default (1 device), batch 16": ["--strategy", "default", "--batch", "16"],
               "mirrored, 2 logical CPUs, 16 per replica (global 32)":
                   ["--strategy", "mirrored", "--logical-cpus", "2", "--batch", "16"],
               "mirrored, 2 logical CPUs, 8 per replica (global 16)":
                   ["--strategy", "mirrored", "--logical-cpus", "2", "--batch", "8"]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}
    env.pop("TF_CONFIG", None)
    results = {}
    for name, extra in configs.items():
        runs = []
        for r in range(repeats):
            ck = work / f"ck_{len(results)}_{r}"
            cmd = [sys.executable, "-m", "sr_codec.train", "--scale", "4", "--width", "32", "--blocks", "3",
                   "--patch", "96", "--data", str(subset), "--val", str(work / "no_val"), "--cache-dir",
                   str(work / "cache"), "--checkpoint-dir", str(ck), "--weights-dir", str(work / "weights"),
                   "--steps", str(steps), "--checkpoint-minutes", "1000", *extra]
            done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
            if done.returncode != 0:
                raise SystemExit(f"training run failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
            line = next(l for l in done.stdout.splitlines() if l.startswith("distributed-run "))
            runs.append(json.loads(line.split(" ", 1)[1]))
        results[name] = {"replicas": runs[0]["replicas"], "global_batch": runs[0]["global_batch"],
                         "steps_per_s": statistics.median(r["steps_per_s"] for r in runs),
                         "samples_per_s": statistics.median(r["samples_per_s"] for r in runs),
                         "runs_samples_per_s": [r["samples_per_s"] for r in runs]}
        print(f"  {name}: {results[name]}", flush=True)
    return {"images": len(photos), "steps": steps, "configs": results}


# ------------------------------------------------------------------------------------------ report


def markdown(result: dict) -> str:
    enc, bad, mem, tr = result["encode"], result["corrupt"], result["memory"], result["training"]
    lines = [
        "# Scale-out: batch transcoding on Ray Data, multi-device training",
        "",
        f"`{result['command']}` on {result['machine']} ({result['cpus']} CPUs), {result['date']}. Load average "
        f"{result['load_before']} before and {result['load_after']} after: "
        + ("**taken under load** (a niced training job and other work shared the 2 cores), so absolute "
           "rates are lower than on an idle machine; the comparisons ran interleaved in the same conditions."
           if max(result["load_before"][0], result["load_after"][0]) > 1.5 else "an otherwise idle machine."),
        "",
        f"## Batch encode: {enc['files']} photos (BSD100 + training), {enc['input_mb']} MB, scale 4, default quality",
        "",
        "| runner | photos/s | MB/s (input) | median time | runs |",
        "|---|---:|---:|---:|---|",
        f"| plain Python loop (1 process) | {enc['plain_loop']['photos_per_s']} | {enc['plain_loop']['mb_per_s']} | "
        f"{enc['plain_loop']['seconds']} s | {enc['plain_loop']['runs_s']} |",
        f"| Ray Data, local, {enc['ray']['concurrency']} actors | {enc['ray']['photos_per_s']} | "
        f"{enc['ray']['mb_per_s']} | {enc['ray']['seconds']} s | {enc['ray']['runs_s']} |",
        "",
        f"`ray.init` (embedded, {result['cpus']} CPUs): {result['ray_init_s']} s, once per process; every Ray run "
        f"above includes starting its actor pool. Payloads: {enc['payload_mb']} MB in all.",
        f"Second run over the same corpus and output folder: {enc['rerun']['skipped']} skipped, "
        f"{enc['rerun']['processed']} processed, {enc['rerun']['seconds']} s (listing + reading the results table).",
        "",
        f"## Corrupt files mixed in: {bad['good']} BSD100 photos + {bad['bad']} bad files",
        "",
        f"The job finished: {bad['processed']} rows, {bad['errors']} error rows ({', '.join(bad['error_kinds'])}), "
        f"{bad['seconds']} s. Examples: " + "; ".join(f"`{e}`" for e in bad["example_errors"]),
        "",
        "## Memory: synthetic 64 x 64 PNGs (RSS, MiB, peak over the run, sampled every 0.25 s)",
        "",
        "| items | time | items/s | driver | largest worker | all workers (count) | all Ray processes |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in mem.values():
        p = run["peak_mib"]
        lines.append(f"| {run['items']} | {run['seconds']} s | {run['items_per_s']} | {p['driver']} | "
                     f"{p['worker_max']} | {p['workers_sum']} ({p['worker_processes']}) | {p['ray_processes_sum']} |")
    lines += ["", "RSS of the driver and the workers at 25/50/75/100 % of the largest run: "
              + ", ".join(f"{s['driver']}/{s['workers']}" for s in list(mem.values())[-1]["rss_mib_at_25_50_75_100_percent"]),
              "(worker RSS includes the shared object-store pages a worker has touched).", "",
              f"## Training throughput: {tr['images']} training photos, {tr['steps']} steps, x4 fast w32 b3, 96 px patches",
              "", "| strategy | replicas | global batch | steps/s | samples/s | runs (samples/s) |",
              "|---|---:|---:|---:|---:|---|"]
    for name, c in tr["configs"].items():
        lines.append(f"| {name} | {c['replicas']} | {c['global_batch']} | {c['steps_per_s']} | {c['samples_per_s']} | "
                     f"{c['runs_samples_per_s']} |")
    lines += ["", "Reproduce: `" + result["command"] + "`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.batch", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--synthetic", type=int, default=10000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N photos (a quick run)")
    p.add_argument("--bad", type=int, default=12, help="corrupt files mixed into BSD100")
    p.add_argument("--train-images", type=int, default=40)
    p.add_argument("--train-steps", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=None, help="Ray actors (default: the CPU count)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "results")
    p.add_argument("--sections", default="encode,corrupt,memory,training",
                   help="comma-separated: runners (batch_runners.*), or encode,corrupt,memory,training (batch.*)")
    p.add_argument("--jobs", default=",".join(JOBS), help=f"runners section: some of {','.join(JOBS)}")
    a = p.parse_args(argv)
    a.data = a.data.resolve()  # list files and symlinks below need absolute paths
    sections = set(a.sections.split(","))
    import ray

    cpus = os.cpu_count() or 1
    concurrency = a.concurrency or cpus
    result = {"command": "python -m benchmarks.batch " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{platform.processor() or platform.machine()}, {platform.system()}", "cpus": cpus,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "ray": ray.__version__,
              "load_before": [round(x, 2) for x in os.getloadavg()]}
    work = Path(tempfile.mkdtemp(prefix="sr_codec_batch_bench_"))
    a.out.mkdir(parents=True, exist_ok=True)
    try:
        if "runners" in sections:
            paths = validation_photos(a.data)[: a.limit]
            print(f"runners: {len(paths)} validation photos", flush=True)
            result["runners"] = runners_section(paths, work / "runners", a.repeats, tuple(a.jobs.split(",")))
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
            (a.out / "batch_runners.json").write_text(json.dumps(result, indent=1) + "\n")
            (a.out / "batch_runners.md").write_text(runners_markdown(result))
            print(f"wrote {a.out / 'batch_runners.md'}")
            if sections == {"runners"}:
                return 0
        start = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
        result["ray_init_s"] = round(time.perf_counter() - start, 2)
        paths = photo_corpus(a.data)[: a.limit]
        print(f"encode: {len(paths)} photos", flush=True)
        result["encode"] = encode_section(paths, work / "encode", a.repeats, concurrency)
        print("corrupt files", flush=True)
        result["corrupt"] = corrupt_section(a.data, work / "corrupt", a.bad, concurrency)
        print(f"memory: {a.synthetic} synthetic images", flush=True)
        result["memory"] = memory_section(work / "memory", a.synthetic, concurrency)
        ray.shutdown()
        print("training throughput", flush=True)
        result["training"] = training_section(a.data, work / "train", a.train_images, a.train_steps, a.repeats)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    (a.out / "batch.json").write_text(json.dumps(result, indent=1) + "\n")
    (a.out / "batch.md").write_text(markdown(result))
    print(f"wrote {a.out / 'batch.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
