"""Bytes saved versus picture quality: sr_codec against JPEG, WebP and AVIF at full resolution.

    python -m benchmarks.bandwidth [--data DIR] [--scales 1 2 4 10] [--codecs jpeg,webp,avif]
                                   [--qualities ...] [--out results/] [--limit N]

For every image, every *method* (one rate-distortion curve) is swept over its settings; each
point records the bytes a chat app would send, bits per pixel, and the RGB PSNR and MS-SSIM of
what the receiver displays against the original. The methods separate where a saving comes from:

* **JPEG / WebP / AVIF**: the classical codecs at full resolution, as ordinary files from Pillow
  with sr_codec's own codec settings as a plain file (``benchmarks.common.codecs.classical_file``).
* **(a) x1**: sr_codec at scale 1: the inner codec at full resolution in sr_codec's payload
  (no downsampling, no network); its gap to the AVIF file is what sr_codec's container and
  inner-codec settings change on their own.
* **(b) xS bicubic**: downsample + inner codec + plain bicubic (``decode(model="bicubic")``).
* **(c) xS sr_codec**: the same payload decoded by the shipped network (``decode()``).
* **(d) auto**: rate control (``encode(scale="auto", max_bytes=N)``), when the library has it.

Rates are whole payloads (container included), never the inner bitstream alone. Curves are
averaged over images at each setting (the CompressAI convention) before Bjøntegaard deltas.
Adding a method is one entry in the list :func:`build_methods` returns. Tables and JSON:
:mod:`benchmarks.bandwidth_report`; plots: :mod:`benchmarks.bandwidth_plots`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.bandwidth_report import write_outputs
from benchmarks.common.codecs import (BenchCodec, Point, auto_rez_curve, classical_file, measure_point, rate_controlled,
                                     sr_codec_scale)
from benchmarks.common.perceptual import announce_skipped
from benchmarks.common.report import progress_bar
from benchmarks.common.data import DEFAULT_IMAGES, default_image_paths, image_paths, load_images, load_rgb

__all__ = ["DEFAULT_IMAGES", "DEFAULT_GRIDS", "BenchCodec", "Point", "build_methods", "default_image_paths", "load_rgb", "main", "measure",
           "parse_qualities", "sweep"]

DEFAULT_SCALES = (1, 2, 4, 10)
DEFAULT_CODECS = ("jpeg", "webp", "avif")
DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "jpeg": (2, 5, 10, 20, 35, 55, 80),
    "webp": (0, 5, 15, 30, 55, 80),
    "avif": (0, 10, 20, 30, 45, 60, 80),
    "sr": (5, 20, 35, 50, 70, 90),
    # rate control: target bits per pixel, turned into max_bytes per image
    "auto": (0.03, 0.06, 0.12, 0.25),
}


def auto_rate_control_available() -> bool:
    """Whether ``sr_codec.encode`` accepts ``scale="auto", max_bytes=N`` (rate control, path d)."""
    import sr_codec
    from sr_codec.errors import SrCodecError

    probe = np.zeros((48, 64, 3), np.uint8)
    probe[..., 0] = np.arange(64, dtype=np.uint8)[None, :] * 4
    probe[..., 1] = np.arange(48, dtype=np.uint8)[:, None] * 5
    try:
        sr_codec.encode(probe, scale="auto", max_bytes=4000)
    except (TypeError, ValueError, SrCodecError):
        return False
    return True


def build_methods(
    scales: Sequence[int],
    codecs: Sequence[str],
    grids: dict[str, tuple[float, ...]],
    include_auto: bool | None = None,
    include_auto_rez: bool = False,
) -> list[BenchCodec]:
    """Every curve of the benchmark. ``include_auto=None`` detects rate control in the library;
    ``include_auto_rez`` adds the AUTO-REZ baseline at the ``auto`` grid's target bpp."""
    methods = [classical_file(name, grids[name]) for name in codecs]
    if include_auto_rez:
        methods.append(auto_rez_curve(grids["auto"]))
    for scale in scales:
        methods += sr_codec_scale(int(scale), grids["sr"])
    if include_auto is None:
        include_auto = auto_rate_control_available()
    if include_auto:
        methods.append(rate_controlled(grids["auto"]))
    return methods


def measure(method: BenchCodec, image: np.ndarray, setting: float, name: str = "") -> tuple[Point, bytes, np.ndarray]:
    """Encode and decode one point; the rate is ``len`` of what ``method.encode`` returns, all of it."""
    payload = method.encode(image, setting)
    decoded = method.decode(payload)
    return measure_point(method, image, setting, name, payload, decoded), payload, decoded


def sweep(
    images: Sequence[tuple[str, np.ndarray]],
    methods: Sequence[BenchCodec],
    keep_pictures_of: int | None = 0,
    progress: bool = True,
    perceptual: bool = False,
) -> tuple[list[Point], dict[tuple[str, float], np.ndarray]]:
    """Measure every (image, method, setting). Returns the points and the decoded pictures of image
    number ``keep_pictures_of`` (for the visual grid)."""

    total = len(images) * sum(len(m.settings) for m in methods)
    points: list[Point] = []
    pictures: dict[tuple[str, float], np.ndarray] = {}
    with progress_bar(total=total, enabled=progress, desc="bandwidth", unit="pt") as bar:
        for index, (name, image) in enumerate(images):
            payloads: dict[tuple[str, float], bytes] = {}
            measured: dict[tuple[str, str, float], tuple[Point, np.ndarray]] = {}
            for method in methods:
                for setting in method.settings:
                    bar.set_postfix_str(f"{name} {method.key} {setting:g}")
                    same = (method.encode_key, method.decode_key, setting)
                    if same in measured:  # identical bytes and picture: e.g. (c) while no network ships
                        first, decoded = measured[same]
                        point = Point(**{**asdict(first), "method": method.key, "role": method.role})
                    else:
                        pkey = (method.encode_key, setting)
                        if pkey not in payloads:
                            payloads[pkey] = method.encode(image, setting)
                        decoded = method.decode(payloads[pkey])
                        point = measure_point(method, image, setting, name, payloads[pkey], decoded, perceptual)
                        if method.decode_key:
                            measured[same] = (point, decoded)
                    points.append(point)
                    if index == keep_pictures_of:
                        pictures[(method.key, setting)] = decoded
                    bar.update()
    return points, pictures


def parse_qualities(tokens: Sequence[str] | None) -> dict[str, tuple[float, ...]]:
    """``["10,50,90"]`` sets every grid; ``["avif=0,20,40", "sr=30,60"]`` sets named ones."""
    grids = dict(DEFAULT_GRIDS)
    for token in tokens or ():
        name, _, values = token.rpartition("=")
        parsed = tuple(float(v) for v in values.split(",") if v.strip())
        if not parsed:
            raise SystemExit(f"--qualities: no values in {token!r}")
        if name:
            if name not in grids:
                raise SystemExit(f"--qualities: unknown grid {name!r}; use one of {sorted(grids)}")
            grids[name] = parsed
        else:
            grids.update({k: parsed for k in grids if k != "auto"})
    return grids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bandwidth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder of images (default: scikit-image's sample photos, no download)")
    parser.add_argument("--scales", type=int, nargs="+", default=list(DEFAULT_SCALES),
                        help="sr_codec scales; 1 = inner codec at full resolution in the payload (default 1 2 4 10)")
    parser.add_argument("--codecs", default=",".join(DEFAULT_CODECS), help="classical codecs (default jpeg,webp,avif)")
    parser.add_argument("--qualities", nargs="+", metavar="[GRID=]Q,Q,...",
                        help="override quality grids: a bare list sets all; GRID is one of jpeg, webp, avif, sr, auto"
                        " (auto: target bits per pixel)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.add_argument("--no-auto", action="store_true", help="skip rate control even when available")
    parser.add_argument("--no-auto-rez", action="store_true",
                        help="skip the AUTO-REZ baseline (best shrink factor + AVIF + Lanczos, per photo)")
    parser.add_argument("--no-perceptual", action="store_true",
                        help="skip SSIMULACRA2 and butteraugli (PSNR and MS-SSIM only; several times faster)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    codecs = [c.strip().lower() for c in args.codecs.split(",") if c.strip()]
    unknown = set(codecs) - set(DEFAULT_CODECS)
    if unknown:
        parser.error(f"unknown codecs {sorted(unknown)}; choose from {','.join(DEFAULT_CODECS)}")
    grids = parse_qualities(args.qualities)
    paths = image_paths(args.data, args.limit)
    if not paths:
        parser.error(f"no images found in {args.data}")
    images = load_images(paths)
    methods = build_methods(args.scales, codecs, grids, include_auto=False if args.no_auto else None,
                            include_auto_rez=not args.no_auto_rez)
    perceptual = not args.no_perceptual
    if perceptual:
        announce_skipped()
    points, pictures = sweep(images, methods, progress=not args.quiet, perceptual=perceptual)
    command = "python -m benchmarks.bandwidth" + (" " + " ".join(sys.argv[1:] if argv is None else argv)).rstrip()
    data_label = f"folder {args.data}" if args.data else "scikit-image sample photos"
    files = write_outputs(Path(args.out), points, methods, images, pictures, command, started, data_label)
    print(Path(files["summary (Markdown)"]).read_text().split("## BD-rate")[0])
    print(f"wrote {len(files)} files to {args.out}/ in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
