"""``python -m sr_codec.batch encode|decode INPUT... --out DIR [options]`` (= ``sr-codec batch ...``): a corpus.

Prints one summary line (files, bytes, errors, time, where it ran) and the results table's location;
a ``done/total`` progress line on stderr when it is a terminal; Ray's own output only with ``--verbose``.
Exit status 0 when the job ran (even with error rows: they are in the results table), 1 when it could not run.
The encode options are ``sr-codec encode``'s (:func:`sr_codec.cli.add_encode_options`).
"""

from __future__ import annotations

import argparse
import sys

from ..cli import add_encode_options
from ..errors import SrCodecError
from . import RUNNERS, transcode


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sr-codec batch", description=__doc__.split("\n\n")[0].strip("`"))
    p.add_argument("mode", choices=["encode", "decode"])
    p.add_argument("inputs", nargs="+", help="folders, globs, list files (.txt/.lst: a path or URI a line), URIs")
    p.add_argument("--out", required=True, help="output folder (payloads .src, or decoded .png)")
    enc = p.add_argument_group("encode options (as sr-codec encode)")
    add_encode_options(enc)
    enc.add_argument("--psnr", action="store_true", help="also decode every payload and record its RGB PSNR")
    p.add_argument("--model", default=None, help="decode: 'default', 'bicubic' or a model id (default: the payload's)")
    out = p.add_argument_group("results and resuming")
    out.add_argument("--results", default=None, help="table location (default OUT/_results, or OUT/_results.jsonl)")
    out.add_argument("--results-format", choices=["parquet", "jsonl"], default="parquet")
    out.add_argument("--retry-errors", action="store_true",
                     help="process again the files that failed in an earlier run (else skipped, and counted)")
    ray = p.add_argument_group("where it runs")
    ray.add_argument("--runner", choices=RUNNERS, default="auto",
                     help="auto (default): in this process, moving to a local Ray when the job is long enough to "
                          "pay for Ray's start-up; Ray when --address / $RAY_ADDRESS names a cluster; "
                          "ray: always; local: never")
    ray.add_argument("--address", default=None, help="a Ray cluster (default $RAY_ADDRESS, else an embedded local Ray)")
    ray.add_argument("--num-cpus", type=int, default=None, help="local Ray: CPUs to use (default: all)")
    ray.add_argument("--concurrency", type=int, default=None, help="actors in the pool (default: from the cluster)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0,
                     help="CPUs per actor, also its LiteRT threads (SR_CODEC_THREADS)")
    ray.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (>0: networks run on GPU workers)")
    ray.add_argument("--batch-size", type=int, default=8)
    ray.add_argument("--no-progress", action="store_true", help="no done/total line on stderr")
    ray.add_argument("--verbose", action="store_true", help="Ray's logs, progress bars and the workers' output")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        summary = transcode(a.inputs, a.out, mode=a.mode, scale=a.scale, quality=a.quality, inner=a.inner,
                            max_bytes=a.max_bytes, target_psnr=a.target_psnr, rate_mode=a.rate_mode, sender=a.sender,
                            psnr=a.psnr, model=a.model, results=a.results, results_format=a.results_format,
                            retry_errors=a.retry_errors, runner=a.runner, address=a.address, num_cpus=a.num_cpus,
                            concurrency=a.concurrency, cpus_per_worker=a.cpus_per_worker, num_gpus=a.num_gpus,
                            batch_size=a.batch_size, progress=not a.no_progress, verbose=a.verbose)
    except SrCodecError as exc:
        print(f"sr-codec batch: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    for example in summary.error_examples:
        print(f"  error: {example}")
    print(summary.line())
    print(f"results: {summary.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
