"""Which classical codec should code the small image? Rate-distortion of the inner codecs per scale.

For every image, scale and inner codec, sweep the quality and record what the receiver would get
without a network: the coded low-resolution image, decoded and bicubic-upscaled back to the
original size. Rates are bits per pixel of the *original* image (8 x bytes / original pixels,
only the inner bitstream: the payload header is the same for every codec), distortion is RGB
PSNR against the original. Codecs:

* ``avif``: :class:`~sr_codec.codecs.avif.AvifCodec` as shipped (bare AV1 bitstream, speed by size);
* ``avif-container``: the same encodes counted with the full AVIF file Pillow writes;
* ``avif-speedN``: the bare bitstream at libavif speed N (``--avif-speeds``);
* ``webp``, ``jpeg``: the ``webp`` and ``jpeg`` codecs of :mod:`sr_codec.codecs`.

Writes, under ``--out``: ``x{scale}/{codec}.json`` (CompressAI's results layout, with the extra
keys ``bytes``, ``encode-ms`` and ``quality``), ``summary.json`` (everything, plus PSNR
interpolated at equal bpp and the winners) and ``inner_codecs.md`` (the tables)::

    python -m benchmarks.inner_codecs --data ../shared/data/val/BSD100 --limit 25 \\
        --scales 1 2 4 10 --avif-speeds 6 7 8 9 --timing --out results/inner_codecs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.common.data import image_paths, load_rgb
from sr_codec import codecs
from sr_codec.codecs import InnerCodec
from sr_codec.codecs.avif import AvifCodec
from sr_codec.imaging.curves import psnr_at_rate
from sr_codec.imaging.metrics import psnr
from sr_codec.imaging.resample import downsample, upsample_bicubic

QUALITIES: dict[str, tuple[int, ...]] = {
    "avif": (0, 5, 10, 15, 20, 25, 30, 35, 40, 50, 60, 70, 80, 90),
    "webp": (0, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95),
    "jpeg": (1, 5, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 95),
}
TARGET_BPP = (0.02, 0.05, 0.1, 0.25)


@dataclass
class CodecSweep:
    """Per-quality lists of per-image measurements for one codec at one scale."""

    name: str
    description: str
    qualities: tuple[int, ...]
    bytes: dict[int, list[int]] = field(default_factory=dict)
    bpp: dict[int, list[float]] = field(default_factory=dict)
    psnr: dict[int, list[float]] = field(default_factory=dict)
    encode_ms: dict[int, list[float]] = field(default_factory=dict)

    def add(self, quality: int, num_bytes: int, bpp: float, psnr_db: float, encode_ms: float) -> None:
        self.bytes.setdefault(quality, []).append(num_bytes)
        self.bpp.setdefault(quality, []).append(bpp)
        self.psnr.setdefault(quality, []).append(psnr_db)
        self.encode_ms.setdefault(quality, []).append(encode_ms)

    def compressai(self) -> dict:
        """Means over images per quality, in CompressAI's ``{"name", "description", "results"}`` layout."""
        qs = [q for q in self.qualities if q in self.bpp]
        mean = lambda d: [float(np.mean(d[q])) for q in qs]  # noqa: E731
        return {
            "name": self.name,
            "description": self.description,
            "results": {
                "quality": qs,
                "bytes": mean(self.bytes),
                "bpp": mean(self.bpp),
                "psnr-rgb": mean(self.psnr),
                "encode-ms": mean(self.encode_ms),
            },
        }


def psnr_at_bpp(bpp: list[float], psnr_db: list[float], target: float) -> float | None:
    """PSNR of the curve at ``target`` bpp (the package's curve rule: linear in log-bpp, no extrapolation)."""
    return psnr_at_rate(bpp, psnr_db, target)


def list_images(folder: Path, limit: int | None) -> list[Path]:
    paths = image_paths(folder, limit)
    if not paths:
        raise SystemExit(f"no images in {folder}")
    return paths


def measure(paths: list[Path], scales: list[int], avif_speeds: list[int], quiet: bool) -> dict[int, dict[str, CodecSweep]]:
    """Run every codec x quality on every image and scale."""
    variants: list[tuple[str, InnerCodec, str]] = [
        ("avif", AvifCodec(), "AvifCodec as shipped: bare AV1 bitstream, 4:2:0, speed by size (avif_speed_for)"),
        ("webp", codecs.by_name("webp"), "WebpCodec (libwebp method 6)"),
        ("jpeg", codecs.by_name("jpeg"), "JpegCodec (libjpeg-turbo, optimized Huffman, 4:2:0)"),
    ]
    for speed in avif_speeds:
        variants.append((f"avif-speed{speed}", AvifCodec(speed=speed), f"bare AV1 bitstream, libavif speed {speed}"))

    curves: dict[int, dict[str, CodecSweep]] = {}
    for scale in scales:
        curves[scale] = {name: CodecSweep(name, desc, QUALITIES[codec.name]) for name, codec, desc in variants}
        curves[scale]["avif-container"] = CodecSweep(
            "avif-container", "the same encodes as avif, counted as the full AVIF file Pillow writes", QUALITIES["avif"]
        )
    for index, path in enumerate(paths):
        original = load_rgb(path)
        height, width = original.shape[:2]
        for scale in scales:
            low = downsample(original, scale)
            done: dict[tuple, tuple[bytes, float, float]] = {}  # AVIF at a speed already measured: reuse
            for name, codec, _ in variants:
                for quality in QUALITIES[codec.name]:
                    key = (codec.name, quality, codec.speed_for(*low.shape[:2]))
                    if key in done:
                        data, quality_db, encode_ms = done[key]
                    else:
                        start = time.perf_counter()
                        data = codec.encode(low, quality)
                        encode_ms = 1000.0 * (time.perf_counter() - start)
                        decoded = codec.decode(data)
                        restored = upsample_bicubic(decoded, scale, size=(height, width))
                        quality_db = psnr(original, restored)
                        done[key] = data, quality_db, encode_ms
                    bpp = 8.0 * len(data) / (height * width)
                    curves[scale][name].add(quality, len(data), bpp, quality_db, encode_ms)
                    if name == "avif":
                        full = len(codec.to_avif_file(data))
                        full_bpp = 8.0 * full / (height * width)
                        curves[scale]["avif-container"].add(quality, full, full_bpp, quality_db, encode_ms)
        if not quiet:
            print(f"[{index + 1}/{len(paths)}] {path.name} {width}x{height}", file=sys.stderr, flush=True)
    return curves


def _timed(fn, repeats: int) -> tuple[object, list[float], list[float]]:
    """(result, wall ms, process CPU ms) of ``repeats`` calls; CPU time counts all the process's threads."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall.append(1000 * (time.perf_counter() - start))
        cpu.append(1000 * (time.process_time() - start_cpu))
    return result, wall, cpu


def photo_of_megapixels(path: Path, megapixels: float) -> np.ndarray:
    """The image at ``path`` bicubic-resized to about ``megapixels`` (same aspect ratio)."""
    photo = Image.fromarray(load_rgb(path))
    aspect = photo.width / photo.height
    height = int(round(math.sqrt(megapixels * 1e6 / aspect)))
    return np.asarray(photo.resize((int(round(height * aspect)), height), Image.BICUBIC))


def time_2mp(first_image: Path, avif_speeds: list[int], repeats: int) -> list[dict]:
    """Encoder-side time at x4 of a 2 MP photo: downsample + inner encode, at each codec's default quality."""
    big = photo_of_megapixels(first_image, 2.0)
    configs: list[tuple[str, InnerCodec]] = [("avif", AvifCodec())]
    configs += [(f"avif-speed{s}", AvifCodec(speed=s)) for s in avif_speeds]
    configs += [("webp", codecs.by_name("webp")), ("jpeg", codecs.by_name("jpeg"))]
    rows = []
    for name, codec in configs:
        low, down_wall, down_cpu = _timed(lambda: downsample(big, 4), repeats)
        data, enc_wall, enc_cpu = _timed(lambda: codec.encode(low, codec.default_quality), repeats)
        rows.append(
            {
                "codec": name,
                "photo": f"{big.shape[1]}x{big.shape[0]}",
                "low_res": f"{low.shape[1]}x{low.shape[0]}",
                "quality": codec.default_quality,
                "bytes": len(data),
                "downsample_ms": {"wall_min": min(down_wall), "cpu_min": min(down_cpu)},
                "encode_ms": {
                    "wall_min": min(enc_wall),
                    "wall_median": statistics.median(enc_wall),
                    "cpu_min": min(enc_cpu),
                },
                "total_ms": {"wall_min": min(down_wall) + min(enc_wall), "cpu_min": min(down_cpu) + min(enc_cpu)},
            }
        )
    return rows


def time_speeds(first_image: Path, speeds: list[int], repeats: int, quality: int = 50) -> list[dict]:
    """AVIF encode time per libavif speed and image size (the basis of ``AVIF_SPEED_BY_PIXELS``)."""
    big = photo_of_megapixels(first_image, 2.0)
    rows = []
    for pixels in (10_000, 16_384, 32_768, 65_536, 125_000):
        aspect = big.shape[1] / big.shape[0]
        height = int(math.sqrt(pixels / aspect))
        width = int(height * aspect)  # at most ``pixels``: the boundaries of AVIF_SPEED_BY_PIXELS
        low = np.asarray(Image.fromarray(big).resize((width, height), Image.BICUBIC))
        row = {"size": f"{width}x{height}", "pixels": width * height, "quality": quality}
        for speed in speeds:
            codec = AvifCodec(speed=speed)
            data, wall, cpu = _timed(lambda: codec.encode(low, quality), repeats)
            row[f"speed{speed}"] = {"bytes": len(data), "wall_ms_min": min(wall), "cpu_ms_min": min(cpu)}
        rows.append(row)
    return rows


def summarise(curves: dict[int, dict[str, CodecSweep]]) -> dict:
    """PSNR at each target bpp per scale and codec, the winner per scale, and the best (codec, scale)."""
    at_bpp: dict[str, dict[str, dict[str, float | None]]] = {}
    winners: dict[str, dict[str, str | None]] = {}
    best_overall: dict[str, dict | None] = {}
    for target in TARGET_BPP:
        best = None
        for scale, by_name in curves.items():
            row = at_bpp.setdefault(f"x{scale}", {})
            candidates = []
            for name, curve in by_name.items():
                res = curve.compressai()["results"]
                value = psnr_at_bpp(res["bpp"], res["psnr-rgb"], target)
                row.setdefault(name, {})[str(target)] = value
                if value is not None and not name.startswith("avif-speed"):
                    candidates.append((value, name))
                    if best is None or value > best["psnr"]:
                        best = {"codec": name, "scale": scale, "psnr": value}
            winners.setdefault(f"x{scale}", {})[str(target)] = max(candidates)[1] if candidates else None
        best_overall[str(target)] = best
    return {"psnr_at_bpp": at_bpp, "winner_at_bpp": winners, "best_at_bpp": best_overall}


def container_overhead(curves: dict[int, dict[str, CodecSweep]]) -> dict[str, dict[str, float]]:
    """Bytes the bare bitstream saves over the full AVIF file, per scale (over all images and qualities)."""
    out = {}
    for scale, by_name in curves.items():
        saved = [
            full - bare
            for q in by_name["avif"].bytes
            for full, bare in zip(by_name["avif-container"].bytes[q], by_name["avif"].bytes[q])
        ]
        share = [
            (full - bare) / full
            for q in by_name["avif"].bytes
            for full, bare in zip(by_name["avif-container"].bytes[q], by_name["avif"].bytes[q])
        ]
        out[f"x{scale}"] = {
            "bytes_saved_min": min(saved),
            "bytes_saved_max": max(saved),
            "bytes_saved_mean": float(np.mean(saved)),
            "share_of_full_file_mean": float(np.mean(share)),
        }
    return out


def _fmt(value: float | None, bold: bool = False) -> str:
    if value is None:
        return "–"
    text = f"{value:.2f}"
    return f"**{text}**" if bold else text


def markdown(
    summary: dict,
    curves: dict[int, dict[str, CodecSweep]],
    timing: list[dict] | None,
    speed_table: list[dict] | None,
    command: str,
) -> str:
    lines = [
        "# Inner codecs: rate-distortion per scale",
        "",
        f"Command: `{command}`",
        "",
        f"Images: {summary['images']} from `{summary['data']}`. Rate: bits per *original* pixel of the inner "
        "bitstream; distortion: RGB PSNR (dB) of the bicubic-upscaled decode against the original. "
        "PSNR interpolated linearly in log-bpp between measured qualities, never extrapolated (– = outside "
        "the measured range). Best of the shipped-speed codecs in bold.",
        "",
    ]
    header = "| scale | codec | " + " | ".join(f"PSNR @ {t} bpp" for t in TARGET_BPP) + " |"
    lines += [header, "|" + "---|" * (2 + len(TARGET_BPP))]
    for scale_key, by_name in summary["psnr_at_bpp"].items():
        winners = summary["winner_at_bpp"][scale_key]
        for name, values in by_name.items():
            cells = [_fmt(values[str(t)], winners[str(t)] == name) for t in TARGET_BPP]
            lines.append(f"| {scale_key} | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Best (codec, scale) at each rate:", ""]
    for target, best in summary["best_at_bpp"].items():
        text = "–" if best is None else f"{best['codec']} x{best['scale']} ({best['psnr']:.2f} dB)"
        lines.append(f"* {target} bpp: {text}")
    lines += ["", "Container bytes the bare AV1 bitstream saves (all images and qualities):", ""]
    lines += ["| scale | mean | min | max | mean share of the full file |", "|---|---|---|---|---|"]
    for scale_key, row in summary["container_overhead"].items():
        lines.append(
            f"| {scale_key} | {row['bytes_saved_mean']:.1f} | {row['bytes_saved_min']} | {row['bytes_saved_max']} "
            f"| {100 * row['share_of_full_file_mean']:.1f} % |"
        )
    lines += ["", "Measured points (means over images):", ""]
    lines += ["| scale | codec | quality | bytes | bpp | PSNR | encode ms |", "|---|---|---|---|---|---|---|"]
    for scale, by_name in curves.items():
        for name, curve in by_name.items():
            res = curve.compressai()["results"]
            for i, q in enumerate(res["quality"]):
                lines.append(
                    f"| x{scale} | {name} | {q} | {res['bytes'][i]:.0f} | {res['bpp'][i]:.4f} "
                    f"| {res['psnr-rgb'][i]:.2f} | {res['encode-ms'][i]:.1f} |"
                )
    if timing:
        lines += ["", "Encoder time at x4 of a 2 MP photo (downsample + inner encode, default quality), ms:", ""]
        lines += [
            "| codec | photo | low-res | bytes | downsample wall / CPU "
            "| encode wall (min / median) / CPU | total wall / CPU |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in timing:
            d, e, t = row["downsample_ms"], row["encode_ms"], row["total_ms"]
            lines.append(
                f"| {row['codec']} | {row['photo']} | {row['low_res']} | {row['bytes']} "
                f"| {d['wall_min']:.1f} / {d['cpu_min']:.1f} "
                f"| {e['wall_min']:.1f} / {e['wall_median']:.1f} / {e['cpu_min']:.1f} "
                f"| {t['wall_min']:.1f} / {t['cpu_min']:.1f} |"
            )
    if speed_table:
        speeds = [k for k in speed_table[0] if k.startswith("speed")]
        lines += ["", f"AVIF encode per libavif speed and image size (quality {speed_table[0]['quality']}): "
                  "bytes, CPU ms (min):", ""]
        lines += ["| size | pixels | " + " | ".join(speeds) + " |", "|---|---|" + "---|" * len(speeds)]
        for row in speed_table:
            cells = [f"{row[k]['bytes']} B, {row[k]['cpu_ms_min']:.1f} ms" for k in speeds]
            lines.append(f"| {row['size']} | {row['pixels']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder of original images")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4, 10])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images (sorted by name)")
    parser.add_argument("--avif-speeds", type=int, nargs="*", default=[], help="extra libavif speeds to measure")
    parser.add_argument(
        "--timing", action="store_true", help="also time the x4 encode of a 2 MP photo and AVIF speeds by image size"
    )
    parser.add_argument("--repeats", type=int, default=5, help="repetitions of each timing (the minimum is reported)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if any(s < 1 for s in args.scales):
        parser.error("scales must be >= 1")

    paths = list_images(args.data, args.limit)
    curves = measure(paths, args.scales, args.avif_speeds, args.quiet)
    summary = summarise(curves)
    summary.update(
        data=str(args.data),
        images=len(paths),
        scales=args.scales,
        target_bpp=list(TARGET_BPP),
        container_overhead=container_overhead(curves),
        cpu_count=os.cpu_count(),
        load_average=os.getloadavg(),
    )
    timing = time_2mp(paths[0], args.avif_speeds, args.repeats) if args.timing else None
    speed_table = time_speeds(paths[0], args.avif_speeds or [6, 9], args.repeats) if args.timing else None
    summary["timing_2mp_x4"] = timing
    summary["avif_speed_by_size"] = speed_table
    command = "python -m benchmarks.inner_codecs " + " ".join(argv if argv is not None else sys.argv[1:])
    summary["command"] = command

    args.out.mkdir(parents=True, exist_ok=True)
    for scale, by_name in curves.items():
        for name, curve in by_name.items():
            path = args.out / f"x{scale}" / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(curve.compressai(), indent=2) + "\n")
    summary["curves"] = {f"x{s}": {n: c.compressai() for n, c in by.items()} for s, by in curves.items()}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(summary, curves, timing, speed_table, command)
    (args.out / "inner_codecs.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
