"""Calibrating the gain table: ``python -m sr_codec.rate --data ../shared/data/train`` writes ``gain_table.json``.

Two measurements: each network's PSNR gain over bicubic by low-res bits per pixel (:func:`calibrate`), and
the speed maps that carry the fast probes' sizes and PSNRs to the final encode's speed (:func:`calibrate_speeds`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from ... import codecs
from ...imaging.io import list_images, load_rgb
from ...imaging.metrics import psnr
from ...imaging.resample import downsample, upsample_bicubic
from ...zoo import manifest as zoo
from ..builder import effective_scale
from .predictor import GAIN_TABLE_FILE, GainCurve, GainTable, SpeedMap, speed_key
from .receiver_model import Receiver


def calibrate(
    images: Iterable[np.ndarray],
    receiver: Receiver,
    *,
    scales: Sequence[int] = (2, 4, 10),
    qualities: Sequence[int] = tuple(range(0, 100, 10)),
    inner: str | None = None,
    bins: int = 8,
    command: str = "",
    learned: Callable[[int, str], tuple[str, str] | None] = lambda scale, codec_name: None,
    weights_dir: Path | str = zoo.WEIGHTS_DIR,
) -> GainTable:
    """Measure each shipped network's PSNR gain over bicubic against low-res bits per pixel.

    For every image, route with a network and quality: the gain = PSNR(network decode) -
    PSNR(bicubic decode) of the same low-res bitstream. The curve is the mean gain in ``bins``
    equal-count bins of log2 bpp; ``residual_db`` is the spread of single gains around it.
    ``learned(scale, codec_name)``: the (downscaler, upscaler) pair a payload of that codec may use at a scale
    (:func:`~sr_codec.sender.learned.learned_pair_for`); its route's thumbnail is the downscaler's and its curve
    is keyed by the upscaler id (the model its payloads name).
    """
    from ..learned import learned_low_res

    codec = codecs.by_name(inner)
    points: dict[str, list[tuple[float, float]]] = {}
    model_scale: dict[str, int] = {}
    for rgb in images:
        h, w = rgb.shape[:2]
        for scale in scales:
            if effective_scale(h, w, scale) != scale:
                continue
            bicubic_low = downsample(rgb, scale)
            routes = [(receiver.model_for(scale), bicubic_low)]
            pair = learned(scale, codec.name)
            if pair is not None:
                routes.append((pair[1], learned_low_res(rgb, scale, pair[0], weights_dir, bicubic_low_res=bicubic_low)))
            for model_id, low in routes:
                if model_id == zoo.BICUBIC:
                    continue
                model_scale[model_id] = scale
                _measure(points.setdefault(model_id, []),
                         rgb, low, scale, model_id, codec, receiver, qualities)
    return _table(points, model_scale, bins, command)


def _measure(out: list, rgb, low, scale, model_id, codec, receiver, qualities) -> None:
    """(log2 low-res bpp, network - bicubic dB) of ``low`` coded at each quality."""
    h, w = rgb.shape[:2]
    for q in qualities:
        bitstream = codec.encode(low, q)
        decoded = codec.decode(bitstream)
        bicubic = psnr(rgb, upsample_bicubic(decoded, scale, (h, w)))
        network = psnr(rgb, np.asarray(receiver.upscale(decoded, scale, model_id))[:h, :w])
        if math.isfinite(bicubic) and math.isfinite(network):
            bpp = 8.0 * len(bitstream) / (low.shape[0] * low.shape[1])
            out.append((math.log2(bpp), network - bicubic))


def calibrate_speeds(
    images: Iterable[np.ndarray],
    *,
    inner: str | None = None,
    scales: Sequence[int] = (1, 2, 4, 10),
    qualities: Sequence[int] = tuple(range(0, 100, 10)),
    bins: int = 8,
) -> dict[str, SpeedMap]:
    """Speed maps from the codec's probe speed to every final speed rate control uses, per scale.

    For each image, scale and quality: the low-res image coded at the probe speed and at the final
    speed; the map's size ratio is the mean ln(final bytes / probe bytes) at the same quality, its
    gain the bicubic-decoded PSNR of the final speed's curve (interpolated on log bytes) minus the
    probe's, at the probe's bytes, by the probe bitstream's log2 bits per low-res pixel.
    Scale 1 is always coded as a plain file (:meth:`~sr_codec.codecs.InnerCodec.as_plain_file`).
    """
    from ...codecs.avif import FINAL_SPEED_BY_PIXELS

    codec = codecs.by_name(inner)
    probe = codec.for_probes()
    probe_speed = probe.speed_for(1, 1)
    if probe_speed is None:
        return {}
    finals_above_1 = sorted({speed for _, speed in FINAL_SPEED_BY_PIXELS} - {probe_speed})
    ratios: dict[tuple[int, int], list[float]] = {}
    gains: dict[tuple[int, int], list[tuple[float, float]]] = {}
    for rgb in images:
        h, w = rgb.shape[:2]
        for scale in scales:
            if effective_scale(h, w, scale) != scale:
                continue
            low = downsample(rgb, scale)
            finals = [codec.as_plain_file().speed_for(1, 1)] if scale == 1 else finals_above_1
            probe_curve = _coded_curve(rgb, low, scale, probe, qualities)
            for final in finals:
                final_curve = _coded_curve(rgb, low, scale, codec.at_speed(final), qualities)
                key = (final, scale)
                ratios.setdefault(key, []).extend(
                    math.log(f[0] / p[0]) for p, f in zip(probe_curve, final_curve))
                fx = np.log([f[0] for f in final_curve])
                fy = np.array([f[1] for f in final_curve])
                order = np.argsort(fx)
                for size, value in probe_curve:
                    if fx.min() <= math.log(size) <= fx.max():
                        at = float(np.interp(math.log(size), fx[order], fy[order]))
                        gains.setdefault(key, []).append(
                            (math.log2(8.0 * size / (low.shape[0] * low.shape[1])), at - value))
    maps = {}
    for (final, scale), pts in gains.items():
        curve = _table({"m": pts}, {"m": scale}, bins, "").curves["m"]
        maps[speed_key(probe_speed, final, scale)] = SpeedMap(
            probe_speed, final, scale, float(np.mean(ratios[(final, scale)])), curve)
    return maps


def _coded_curve(rgb, low, scale, codec, qualities) -> list[tuple[int, float]]:
    """(bytes, bicubic-decoded PSNR) of ``low`` coded with ``codec`` at each quality (finite PSNRs only)."""
    h, w = rgb.shape[:2]
    out = []
    for q in qualities:
        bitstream = codec.encode(low, q)
        value = psnr(rgb, upsample_bicubic(codec.decode(bitstream), scale, (h, w)))
        out.append((len(bitstream), min(value, 99.0)))
    return out


def _table(points: dict[str, list[tuple[float, float]]], model_scale: dict[str, int], bins: int, command: str) -> GainTable:
    curves = {}
    for model_id, pts in points.items():
        pts.sort()
        x = np.array([p[0] for p in pts])
        g = np.array([p[1] for p in pts])
        groups = [grp for grp in np.array_split(np.arange(len(pts)), min(bins, len(pts))) if len(grp)]
        knots_x = [float(np.median(x[grp])) for grp in groups]
        knots_g = [float(np.mean(g[grp])) for grp in groups]
        residual = float(np.std(g - np.interp(x, knots_x, knots_g)))
        curves[model_id] = GainCurve(model_scale[model_id], tuple(knots_x), tuple(knots_g), residual, len(pts))
    return GainTable(curves, command)


def _calibration_images(folders: Sequence[str], limit: int, crop: int, seed: int) -> list[np.ndarray]:
    """``limit`` photos drawn at random from ``folders``, each cut to a random ``crop`` x ``crop`` patch."""
    paths = list_images(folders)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=min(limit, len(paths)), replace=False)
    images = []
    for index in sorted(chosen):
        rgb = load_rgb(paths[index])
        h, w = rgb.shape[:2]
        top, left = rng.integers(0, max(h - crop, 0) + 1), rng.integers(0, max(w - crop, 0) + 1)
        images.append(np.ascontiguousarray(rgb[top : top + crop, left : left + crop]))
    return images


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sr_codec.rate --data ../shared/data/train --weights-dir DIR``: write DIR/gain_table.json."""
    import shlex
    import sys

    p = argparse.ArgumentParser(prog="python -m sr_codec.rate", description=main.__doc__)
    p.add_argument("--data", nargs="+", default=["../shared/data/train"], help="training photos (never the validation set)")
    p.add_argument("--weights-dir", default=str(zoo.WEIGHTS_DIR))
    p.add_argument("--limit", type=int, default=40, help="photos to measure on")
    p.add_argument("--crop", type=int, default=384, help="side of the random crop taken from each photo")
    p.add_argument("--qualities", type=int, nargs="+", default=list(range(0, 100, 10)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help=f"default: WEIGHTS_DIR/{GAIN_TABLE_FILE}")
    p.add_argument("--speeds-only", action="store_true",
                   help="keep the networks' gain curves of the existing table; measure only the speed maps (no network runs)")
    args = p.parse_args(argv)
    command = "python -m sr_codec.rate " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    images = _calibration_images(args.data, args.limit, args.crop, args.seed)
    out = Path(args.out) if args.out else Path(args.weights_dir) / GAIN_TABLE_FILE
    if args.speeds_only:
        table = GainTable.load(args.weights_dir)
        command = f"{table.command}; speed maps: {command}" if table.command else command
    else:
        from ..learned import learned_pair_for

        receiver = Receiver.shipped(args.weights_dir)
        table = calibrate(images, receiver, qualities=args.qualities, command=command,
                          learned=lambda scale, codec_name: learned_pair_for(scale, codec_name, args.weights_dir),
                          weights_dir=args.weights_dir)
    table = GainTable(table.curves, command, calibrate_speeds(images, qualities=args.qualities))
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    for key, m in sorted(table.speeds.items()):
        print(f"speed {key}: size x{math.exp(m.log_size_ratio):.3f} at equal quality; PSNR at equal bytes "
              + ", ".join(f"{2 ** x:.2f} bpp: {g:+.2f}" for x, g in zip(m.gain.log2_bpp, m.gain.gain_db))
              + f" (residual {m.gain.residual_db:.2f} dB)")
    for model_id, c in sorted(table.curves.items()):
        gains = ", ".join(f"{2 ** x:.2f} bpp: {g:+.2f}" for x, g in zip(c.log2_bpp, c.gain_db))
        print(f"{model_id} (x{c.scale}, {c.samples} samples, residual {c.residual_db:.2f} dB): {gains}")
    print(f"wrote {out}")
    return 0
