"""``python -m sr_codec.batch encode|decode INPUT... --out DIR [options]``: a corpus on Ray Data.

Prints Ray's progress, then one summary line (files, bytes saved, errors, time). Exit status 0
when the job ran (even with error rows: they are in the results table), 1 when it could not run.
"""

from __future__ import annotations

import argparse
import sys

from ..errors import SrCodecError
from ..sender.builder import SENDERS
from . import transcode


def _scale(text: str) -> int | str:
    return "auto" if text.strip().lower() == "auto" else int(text)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sr_codec.batch", description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["encode", "decode"])
    p.add_argument("inputs", nargs="+", help="folders, globs, list files (.txt/.lst: a path or URI a line), URIs")
    p.add_argument("--out", required=True, help="output folder (payloads .src, or decoded .png)")
    enc = p.add_argument_group("encode options (as sr-codec encode)")
    enc.add_argument("--scale", type=_scale, default=None, metavar="S|auto")
    enc.add_argument("--quality", type=int, default=None)
    enc.add_argument("--inner", default=None, help="avif (default), webp, jpeg, png")
    enc.add_argument("--max-bytes", type=int, default=None)
    enc.add_argument("--target-psnr", type=float, default=None)
    enc.add_argument("--rate-mode", choices=["fast", "best"], default="fast")
    enc.add_argument("--sender", choices=SENDERS, default="auto",
                     help="who makes the thumbnail (encode's sender): the learned downscaler, bicubic, or auto")
    enc.add_argument("--psnr", action="store_true", help="also decode every payload and record its RGB PSNR")
    p.add_argument("--model", default=None, help="decode: 'default', 'bicubic' or a model id (default: the payload's)")
    out = p.add_argument_group("results and resuming")
    out.add_argument("--results", default=None, help="table location (default OUT/_results, or OUT/_results.jsonl)")
    out.add_argument("--results-format", choices=["parquet", "jsonl"], default="parquet")
    out.add_argument("--retry-errors", action="store_true", help="re-run files that failed before")
    ray = p.add_argument_group("Ray")
    ray.add_argument("--address", default=None, help="a Ray cluster (default $RAY_ADDRESS, else an embedded local Ray)")
    ray.add_argument("--num-cpus", type=int, default=None, help="local Ray: CPUs to use (default: all)")
    ray.add_argument("--concurrency", type=int, default=None, help="actors in the pool (default: from the cluster)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0)
    ray.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (>0: networks run on GPU workers)")
    ray.add_argument("--batch-size", type=int, default=8)
    ray.add_argument("--no-progress", action="store_true")
    ray.add_argument("--verbose", action="store_true", help="Ray's logs and the workers' output")
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    try:
        summary = transcode(a.inputs, a.out, mode=a.mode, scale=a.scale, quality=a.quality, inner=a.inner,
                            max_bytes=a.max_bytes, target_psnr=a.target_psnr, rate_mode=a.rate_mode, sender=a.sender,
                            psnr=a.psnr,
                            model=a.model, results=a.results, results_format=a.results_format,
                            retry_errors=a.retry_errors, address=a.address, num_cpus=a.num_cpus,
                            concurrency=a.concurrency, cpus_per_worker=a.cpus_per_worker, num_gpus=a.num_gpus,
                            batch_size=a.batch_size, progress=not a.no_progress, verbose=a.verbose)
    except SrCodecError as exc:
        print(f"sr_codec.batch: error: {exc}", file=sys.stderr)
        return 1
    for example in summary.error_examples:
        print(f"  error: {example}")
    print(summary.line())
    print(f"results: {summary.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
