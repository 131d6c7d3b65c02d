"""Encode or decode a whole corpus: ``python -m sr_codec.batch encode IN... --out DIR``, on Ray Data or in-process.

    from sr_codec.batch import transcode
    summary = transcode(["photos/"], "payloads/", mode="encode", max_bytes=4000)

The plan: list the inputs (:mod:`.corpus`), drop what the results table says is finished or failed
before (:mod:`.results`), then run the rest through the workers (:mod:`.workers`; each loads its models
once) and stream their result rows into the table.

Where the work runs (``runner``): ``"ray"``: ``ray.data.from_items(paths)`` -> ``map_batches`` over a
pool of actors, one per ``cpus_per_worker`` CPUs; workers read the files themselves and only result rows
come back, so memory follows the pool size and batch size, not the corpus size. ``"local"``: the same
workers in this process, on one thread per free CPU, up to 4 (coding and the networks release the GIL: a plain loop's
work, side by side). ``"auto"`` (default): Ray when
a cluster is named (``address=``, ``$RAY_ADDRESS``) or Ray is already running here; otherwise the job
starts in this process and moves the rest to a local Ray only when the files done so far say the rest
would take clearly longer than Ray's start-up (:data:`RAY_START_S`) costs, with one actor per free CPU
(the CPUs less the load average: actors add nothing on a machine that is already busy); a small job
never starts Ray, and the summary says which ran.

Ray: an embedded local instance by default (no service to start), or a running cluster with
``address=`` / ``$RAY_ADDRESS``. Ray prints nothing unless ``verbose``. Outputs and the results table
are written from the workers and the driver to ordinary paths: on a cluster, point them at a
filesystem every node shares.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import statistics
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..errors import SrCodecError
from ..sender.builder import check_sender

if importlib.util.find_spec("ray") is None or importlib.util.find_spec("pyarrow") is None:  # pragma: no cover
    raise ImportError("sr_codec.batch needs the `scale` extra: pip install 'sr-codec[scale]' (ray[data], pyarrow)")
# Ray itself is imported only when a job runs on it (importing ray.data alone takes a second or more).

from .corpus import list_sources, plan_outputs
from .results import ResultsWriter, default_location, finished
from .workers import DecodeWorker, EncodeWorker, Options

MODES = ("encode", "decode")
RUNNERS = ("auto", "ray", "local")
LOCAL_MAX_THREADS = 4
"""Files at once in this process by default, however many CPUs are free: each holds a photo and its coding
buffers, and the GIL makes more threads pay less; past it, a long job is weighed for Ray's processes."""
RAY_START_S = 15.0
"""What moving a job to a local Ray costs before its first file: ``ray.init`` plus an actor pool that has imported
sr_codec and loaded its networks (measured 6-11 s on a loaded 2-core machine, docs/scale_out.md), with a margin."""


@dataclass
class BatchSummary:
    """What a run did; ``line()`` is the summary the command prints."""

    mode: str
    files: int = 0
    skipped: int = 0
    failed_earlier: int = 0
    processed: int = 0
    errors: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    pixels_out: int = 0
    seconds: float = 0.0
    results: str = ""
    runner: str = ""
    """Where the files ran: ``"none"`` (nothing to do), ``"local"``, ``"ray"`` or ``"local+ray"``."""
    local_files: int = 0
    threads: int = 1
    """Files coded at once in this process (after the first batch, which runs alone)."""
    runner_note: str = ""
    error_examples: list[str] = field(default_factory=list)

    @property
    def bytes_saved(self) -> int:
        return self.bytes_in - self.bytes_out

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            self.processed += 1
            if row["error"] is not None:
                self.errors += 1
                if len(self.error_examples) < 5:
                    self.error_examples.append(f"{row['path']}: {row['error']}")
            else:
                self.bytes_in += row["bytes_in"]
                self.bytes_out += row["bytes_out"]
                self.pixels_out += row["width"] * row["height"]

    def line(self) -> str:
        rate = self.processed / self.seconds if self.seconds else 0.0
        done = self.skipped - self.failed_earlier
        parts = [f"{self.files} files, {self.processed} processed, {done} skipped (done before), {self.errors} errors"]
        if self.failed_earlier:
            parts.append(f"{self.failed_earlier} failed earlier (--retry-errors to try again)")
        good = self.processed - self.errors
        if self.mode == "encode":
            parts.append(f"{self.bytes_in / 1e6:.2f} MB of images -> {self.bytes_out / 1e6:.3f} MB of payloads "
                         f"({self.bytes_saved / 1e6:.2f} MB saved)")
        else:
            parts.append(f"{self.bytes_in / 1e6:.3f} MB of payloads -> {good} images, "
                         f"{self.pixels_out / 1e6:.2f} megapixels ({self.bytes_out / 1e6:.2f} MB of PNG)")
        parts.append(f"{self.seconds:.1f} s ({rate:.2f} files/s)")
        line = f"sr_codec.batch {self.mode}: " + ", ".join(parts)
        return f"{line}; {self.runner_note}" if self.runner_note else line


def _connect(address: str | None, num_cpus: int | None, verbose: bool) -> bool:
    """Attach to Ray (already running in this process, a cluster, or a new local one); True when we started it.

    Quiet unless ``verbose``: Ray's Python loggers at ERROR (its start-up and token-authentication notices are
    INFO and WARNING), the workers' output not forwarded to the driver.
    """
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    level = logging.INFO if verbose else logging.ERROR
    if address:
        ray.init(address=address, logging_level=level, log_to_driver=verbose)
    else:
        ray.init(num_cpus=num_cpus or _cpus(), include_dashboard=False, logging_level=level, log_to_driver=verbose)
    return True


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class CpuMeter:
    """How many CPUs the rest of the machine leaves free, measured while this process works.

    From a reading at construction to :meth:`free_cpus`: the CPU time the whole machine was busy (psutil), less
    this process's own (threads included), per second of wall time, is what other programs used. The 1-minute
    load average would do without psutil, but it lags: a job started right after another (or after a benchmark
    run) would see the CPUs it has just freed as busy.
    """

    def __init__(self):
        self.start = self._reading()

    @staticmethod
    def _reading() -> tuple[float, float, float] | None:
        """(wall time, machine-wide busy CPU seconds, this process's CPU seconds), or None without psutil."""
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with the `scale` extra
            return None
        times = psutil.cpu_times()
        busy = sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
        own = os.times()
        return time.perf_counter(), busy, own.user + own.system

    def free_cpus(self) -> int:
        """This process's CPUs less what other programs kept busy since construction (at least 1)."""
        now = self._reading()
        if self.start is None or now is None or now[0] - self.start[0] < 0.05:
            return _free_cpus_by_load()
        others = ((now[1] - self.start[1]) - (now[2] - self.start[2])) / (now[0] - self.start[0])
        return max(1, min(_cpus(), round(_cpus() - max(0.0, others))))


def _free_cpus_by_load() -> int:
    """CPUs not busy with other work by the 1-minute load average, not counting this process (where the load
    average is unknown: all of them)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return _cpus()
    return max(1, min(_cpus(), round(_cpus() - max(0.0, load - 1.0))))


def _pool_size(num_gpus: float, cpus_per_worker: float) -> int:
    import ray

    resources = ray.cluster_resources()
    if num_gpus > 0:
        gpus = resources.get("GPU", 0)
        if gpus < num_gpus:
            raise SrCodecError(f"num_gpus={num_gpus} per worker but the Ray cluster has {gpus} GPUs")
        return max(1, int(gpus // num_gpus))
    return max(1, int(resources.get("CPU", 1) // cpus_per_worker))


def _blocks(items: int, batch_size: int, pool: int) -> int:
    """Enough blocks to keep every actor busy, few enough that scheduling stays cheap."""
    return max(1, min(items, max(4 * pool, -(-items // batch_size)), 200))


def ray_is_worth_it(seconds_per_file: float, remaining: int, workers: int, start_s: float = RAY_START_S,
                    here_seconds_per_file: float | None = None) -> bool:
    """Whether ``remaining`` files finish sooner on ``workers`` Ray actors, each taking ``seconds_per_file`` a file
    after ``start_s`` to start them, than here at ``here_seconds_per_file`` (wall time per file in this process,
    threads included; default: one after another, ``seconds_per_file``); by a margin (a fifth), so a close call
    stays in this process."""
    if workers < 2 or remaining < 2 * workers:
        return False
    here = (seconds_per_file if here_seconds_per_file is None else here_seconds_per_file) * remaining
    return start_s + seconds_per_file * remaining / workers < 0.8 * here


def transcode(
    inputs: list[str] | str,
    out_dir: str,
    *,
    mode: str = "encode",
    scale: int | str | None = None,
    quality: int | None = None,
    inner: str | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    rate_mode: str = "fast",
    sender: str = "auto",
    psnr: bool = False,
    model: str | None = None,
    results: str | None = None,
    results_format: str = "parquet",
    retry_errors: bool = False,
    runner: str = "auto",
    address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    cpus_per_worker: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = 8,
    progress: bool = True,
    verbose: bool = False,
) -> BatchSummary:
    """Encode images to payloads (``mode="encode"``) or decode payloads to PNG (``"decode"``).

    ``inputs``: folders, globs, list files or URIs (:mod:`sr_codec.batch.corpus`); outputs mirror
    them under ``out_dir``. ``scale``/``quality``/``inner``/``max_bytes``/``target_psnr``/``sender``, and
    ``rate_mode`` (its ``mode``), are ``sr_codec.encode``'s; ``psnr=True`` also decodes each payload and
    records its RGB PSNR. ``model`` is ``sr_codec.decode``'s. ``results``: the table's location (default ``out_dir/_results``
    for Parquet, ``out_dir/_results.jsonl`` for ``results_format="jsonl"``). A re-run skips files the
    table lists as done (output present) or failed (counted in ``failed_earlier``; ``retry_errors`` runs them
    again). ``runner``: ``"auto"``, ``"ray"`` or ``"local"`` (module docstring). ``concurrency``: files at
    once, as threads in this process or actors in the Ray pool (default: in this process one per free CPU; on Ray
    cluster CPUs / ``cpus_per_worker``, or GPUs / ``num_gpus`` with ``num_gpus > 0``, which runs the networks on
    the workers' GPUs); each actor's LiteRT runs ``cpus_per_worker`` threads.
    ``progress``: a ``done/total`` line on stderr when it is a terminal (Ray's own bars only with ``verbose``).
    """
    if mode not in MODES:
        raise SrCodecError(f"mode must be one of {MODES}, got {mode!r}")
    if runner not in RUNNERS:
        raise SrCodecError(f"runner must be one of {RUNNERS}, got {runner!r}")
    if results_format not in ("parquet", "jsonl"):
        raise SrCodecError(f"results_format must be 'parquet' or 'jsonl', got {results_format!r}")
    if runner == "local" and (num_gpus > 0 or address):
        raise SrCodecError("runner='local' runs in this process: it takes no address and no num_gpus")
    check_sender(sender)  # before any work: a bad sender would make every row an error
    start = time.perf_counter()
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    location = results or default_location(out_dir, results_format)
    items = plan_outputs(list_sources(inputs, mode), out_dir, mode)
    done, failed = finished(location, retry_errors)
    todo = [item for item in items if item.source not in done and item.source not in failed]
    summary = BatchSummary(mode=mode, files=len(items), skipped=len(items) - len(todo),
                           failed_earlier=sum(item.source in failed for item in items), results=location,
                           runner="none")
    if todo:
        options = Options(mode=mode, scale=scale, quality=quality, inner=inner, max_bytes=max_bytes,
                          target_psnr=target_psnr, rate_mode=rate_mode, sender=sender, psnr=psnr, model=model,
                          device="gpu" if num_gpus > 0 else "cpu")
        if runner == "auto":
            ray_running = "ray" in sys.modules and sys.modules["ray"].is_initialized()
            runner = "ray" if num_gpus > 0 or address or os.environ.get("RAY_ADDRESS") or ray_running else "auto"
        ray_args = dict(address=address, num_cpus=num_cpus, concurrency=concurrency, cpus_per_worker=cpus_per_worker,
                        num_gpus=num_gpus, batch_size=batch_size, verbose=verbose)
        # Files at once (threads here, or Ray actors on this machine): as asked, else one per CPU that the rest of
        # the machine leaves free (a busy machine has none to give them), measured while the first files run.
        share = max(1, int((num_cpus or _cpus()) // cpus_per_worker))
        with ResultsWriter(location) as writer, _Progress(len(todo), progress) as bar:
            rest = todo
            if runner in ("local", "auto"):
                rest = _run_local(todo, summary, writer, bar, options, batch_size, concurrency=concurrency,
                                  share=share, consider_ray=runner == "auto")
                summary.runner = "local"
                summary.local_files = len(todo) - len(rest)
            if rest:
                summary.runner = "local+ray" if summary.local_files else "ray"
                _run_ray(rest, summary, writer, bar, options, **ray_args)
        if summary.runner == "local":
            at_once = f" ({summary.threads} files at a time)" if summary.threads > 1 else ""
            summary.runner_note = f"ran in this process{at_once}" + (
                f": Ray's start-up (about {RAY_START_S:.0f} s) would not have paid off for this job "
                "(--runner ray to use it anyway)" if runner == "auto" else "")
        elif summary.runner == "local+ray":
            summary.runner_note = (f"the first {summary.local_files} files ran in this process, the other "
                                   f"{len(todo) - summary.local_files} on Ray")
        else:
            summary.runner_note = "ran on Ray"
    summary.seconds = time.perf_counter() - start
    return summary


class _Progress:
    """``done/total files`` on one line of stderr, redrawn, only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()

    def add(self, count: int) -> None:
        self.done += count
        if self.enabled:
            print(f"\r{self.done}/{self.total} files", end="", file=sys.stderr, flush=True)

    def __enter__(self) -> "_Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled and self.done:
            print(file=sys.stderr, flush=True)


def _run_local(todo, summary: BatchSummary, writer: ResultsWriter, bar: _Progress, options: Options,
               batch_size: int, concurrency: int | None, share: int, consider_ray: bool) -> list:
    """Run files in this process, several at a time on threads (coding and the networks release the GIL: on 2
    cores two threads code 1.3-1.6x the files of a plain loop, the same bytes: docs/scale_out.md):
    ``concurrency``, else one per CPU of ``share`` that other programs leave free, at most
    :data:`LOCAL_MAX_THREADS`. The first batch runs alone, on one thread: its per-file time is what
    one Ray actor would take, and meanwhile :class:`CpuMeter` measures the free CPUs. With ``consider_ray``
    (runner "auto"), stop as soon as the files done so far say the rest would finish sooner on that many Ray
    actors, and return the rest."""
    worker = (EncodeWorker if options.mode == "encode" else DecodeWorker)(options)

    def run(items) -> list[dict]:
        return worker.rows({"path": [item.source for item in items], "output": [item.output for item in items]})

    def record(rows: list[dict]) -> list[dict]:
        writer.add(rows)
        summary.add(rows)
        bar.add(len(rows))
        return rows

    meter = CpuMeter()
    alone = [row["seconds"] for row in record(run(todo[:batch_size])) if row["seconds"] is not None]
    if len(todo) <= batch_size:
        return []
    free = min(share, meter.free_cpus())
    threads = concurrency or min(free, LOCAL_MAX_THREADS)
    summary.threads = threads
    ray_workers = (concurrency or free) if consider_ray else 1  # actors: one per free CPU
    start, done, first = time.perf_counter(), 0, batch_size
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sr_codec-batch") as pool:
        while first < len(todo):
            rest = todo[first:]
            here = (time.perf_counter() - start) / done if done else None  # None: one after another, as `alone`
            measured = here is not None or threads == 1  # decide on the threads' real pace, once it is known
            if alone and measured and ray_is_worth_it(statistics.median(alone), len(rest), ray_workers,
                                                      here_seconds_per_file=here):
                return rest
            chunk = todo[first:first + batch_size * threads]
            # one file per task, so a slow file holds up no other; rows are recorded in the order of the inputs
            for rows in pool.map(lambda item: run([item]), chunk):
                record(rows)
            done += len(chunk)
            first += len(chunk)
    return []


def _run_ray(todo, summary: BatchSummary, writer: ResultsWriter, bar: _Progress, options: Options, *, address,
             num_cpus, concurrency, cpus_per_worker, num_gpus, batch_size, verbose) -> None:
    import ray
    import ray.data

    started = _connect(address, num_cpus, verbose)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = verbose
        context.enable_operator_progress_bars = verbose
        context.print_on_execution_start = verbose
        logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)
        size = concurrency or _pool_size(num_gpus, cpus_per_worker)
        options = Options(**{**options.__dict__, "threads": max(1, int(cpus_per_worker)), "warm_up": True})
        dataset = ray.data.from_items([{"path": item.source, "output": item.output} for item in todo],
                                      override_num_blocks=_blocks(len(todo), batch_size, size))
        worker = EncodeWorker if options.mode == "encode" else DecodeWorker
        # max_restarts=0: Ray Data hands every actor its map function as an object-store reference, and an actor
        # that may restart with such an argument is an error-level line of Ray's (ray-project/ray#53727). A worker
        # turns every failure of a file into a row, so a restart would only follow a crashed process (killed for
        # memory): that ends the job, and a re-run resumes it (the table and the outputs say what is done).
        # Ray 2.60 names no parameter for it and calls its remote-args keywords deprecated: that notice is hidden.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            mapped = dataset.map_batches(worker, fn_constructor_args=(options,), batch_size=batch_size,
                                         batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size),
                                         num_cpus=cpus_per_worker, num_gpus=num_gpus or None, max_restarts=0)
        for batch in mapped.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
            rows = batch.to_pylist()
            writer.add(rows)
            summary.add(rows)
            bar.add(len(rows))
    finally:
        if started:
            ray.shutdown()
