"""Encode or decode a whole corpus on Ray Data: ``python -m sr_codec.batch encode IN... --out DIR``.

    from sr_codec.batch import transcode
    summary = transcode(["photos/"], "payloads/", mode="encode", max_bytes=4000)

The plan: list the inputs (:mod:`.corpus`), drop what the results table says is finished
(:mod:`.results`), then ``ray.data.from_items(paths)`` -> ``map_batches`` over a pool of actors
(:mod:`.workers`; each loads its models once) -> the driver streams the result rows into the
table. Execution is streaming: workers read the files themselves and only result rows come
back, so memory follows the pool size and batch size, not the corpus size.

Ray: an embedded local instance by default (no service to start), or a running cluster with
``address=`` / ``$RAY_ADDRESS``. Outputs and the results table are written from the workers and
the driver to ordinary paths: on a cluster, point them at a filesystem every node shares.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

from ..errors import SrCodecError
from ..sender.builder import check_sender

try:
    import pyarrow  # noqa: F401
    import ray.data  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("sr_codec.batch needs the `scale` extra: pip install 'sr-codec[scale]' (ray[data], pyarrow)") from exc

from .corpus import list_sources, plan_outputs
from .results import ResultsWriter, default_location, finished
from .workers import DecodeWorker, EncodeWorker, Options

MODES = ("encode", "decode")


@dataclass
class BatchSummary:
    """What a run did; ``line()`` is the summary the command prints."""

    mode: str
    files: int = 0
    skipped: int = 0
    processed: int = 0
    errors: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    results: str = ""
    error_examples: list[str] = field(default_factory=list)

    @property
    def bytes_saved(self) -> int:
        return self.bytes_in - self.bytes_out

    def line(self) -> str:
        rate = self.processed / self.seconds if self.seconds else 0.0
        saved = f"{self.bytes_saved / 1e6:.2f} MB saved ({self.bytes_in / 1e6:.2f} -> {self.bytes_out / 1e6:.2f} MB)"
        return (f"sr_codec.batch {self.mode}: {self.files} files, {self.processed} processed, {self.skipped} skipped "
                f"(done before), {self.errors} errors, {saved}, {self.seconds:.1f} s ({rate:.2f} files/s)")


def _connect(address: str | None, num_cpus: int | None, verbose: bool) -> bool:
    """Attach to Ray (already running in this process, a cluster, or a new local one); True when we started it."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    level = logging.INFO if verbose else logging.WARNING
    if address:
        ray.init(address=address, logging_level=level, log_to_driver=verbose)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, logging_level=level,
                 log_to_driver=verbose)
    return True


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
    address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    cpus_per_worker: float = 1.0,
    num_gpus: float = 0.0,
    batch_size: int = 8,
    progress: bool = True,
    verbose: bool = False,
) -> BatchSummary:
    """Encode images to payloads (``mode="encode"``) or decode payloads to PNG (``"decode"``) on Ray Data.

    ``inputs``: folders, globs, list files or URIs (:mod:`sr_codec.batch.corpus`); outputs mirror
    them under ``out_dir``. ``scale``/``quality``/``inner``/``max_bytes``/``target_psnr``/``sender``, and
    ``rate_mode`` (its ``mode``), are ``sr_codec.encode``'s; ``psnr=True`` also decodes each payload and
    records its RGB PSNR. ``model`` is ``sr_codec.decode``'s. ``results``: the table's location (default ``out_dir/_results``
    for Parquet, ``out_dir/_results.jsonl`` for ``results_format="jsonl"``). A re-run skips files the
    table lists as done (output present) or failed (unless ``retry_errors``). ``concurrency``: actors
    in the pool (default: cluster CPUs / ``cpus_per_worker``, or GPUs / ``num_gpus`` with ``num_gpus > 0``,
    which runs the networks on the workers' GPUs).
    """
    if mode not in MODES:
        raise SrCodecError(f"mode must be one of {MODES}, got {mode!r}")
    if results_format not in ("parquet", "jsonl"):
        raise SrCodecError(f"results_format must be 'parquet' or 'jsonl', got {results_format!r}")
    check_sender(sender)  # before any work: a bad sender would make every row an error
    start = time.perf_counter()
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    location = results or default_location(out_dir, results_format)
    items = plan_outputs(list_sources(inputs, mode), out_dir, mode)
    done = finished(location, retry_errors)
    todo = [item for item in items if item.source not in done]
    summary = BatchSummary(mode=mode, files=len(items), skipped=len(items) - len(todo), results=location)
    if todo:
        _run(todo, summary, location, Options(
            mode=mode, scale=scale, quality=quality, inner=inner, max_bytes=max_bytes, target_psnr=target_psnr,
            rate_mode=rate_mode, sender=sender, psnr=psnr, model=model, device="gpu" if num_gpus > 0 else "cpu",
            threads=max(1, int(cpus_per_worker))),
            address=address, num_cpus=num_cpus, concurrency=concurrency, cpus_per_worker=cpus_per_worker,
            num_gpus=num_gpus, batch_size=batch_size, progress=progress, verbose=verbose)
    summary.seconds = time.perf_counter() - start
    return summary


def _run(todo, summary: BatchSummary, location: str, options: Options, *, address, num_cpus, concurrency,
         cpus_per_worker, num_gpus, batch_size, progress, verbose) -> None:
    import ray
    import ray.data

    started = _connect(address, num_cpus, verbose)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.enable_operator_progress_bars = progress
        logging.getLogger("ray.data").setLevel(logging.INFO if progress or verbose else logging.WARNING)
        size = concurrency or _pool_size(num_gpus, cpus_per_worker)
        dataset = ray.data.from_items([{"path": item.source, "output": item.output} for item in todo],
                                      override_num_blocks=_blocks(len(todo), batch_size, size))
        worker = EncodeWorker if options.mode == "encode" else DecodeWorker
        mapped = dataset.map_batches(worker, fn_constructor_args=(options,), batch_size=batch_size,
                                     batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=size),
                                     num_cpus=cpus_per_worker, num_gpus=num_gpus or None)
        with ResultsWriter(location) as writer:
            for batch in mapped.iter_batches(batch_size=batch_size, batch_format="pyarrow"):
                rows = batch.to_pylist()
                writer.add(rows)
                for row in rows:
                    summary.processed += 1
                    if row["error"] is not None:
                        summary.errors += 1
                        if len(summary.error_examples) < 5:
                            summary.error_examples.append(f"{row['path']}: {row['error']}")
                    else:
                        summary.bytes_in += row["bytes_in"]
                        summary.bytes_out += row["bytes_out"]
    finally:
        if started:
            ray.shutdown()
