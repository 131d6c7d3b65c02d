"""Calibrating the predictor: ``python -m sr_codec.rate --data ../shared/data/train`` writes ``rate_proxy.json``."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ... import codecs
from ...imaging.io import list_images, load_rgb
from ...imaging.metrics import psnr
from ...imaging.resample import downsample, upsample_bicubic
from ...zoo import manifest as zoo
from ..builder import effective_scale
from .predictor import PROXY_FILE, GainCurve, GainTable
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
) -> GainTable:
    """Measure each shipped network's PSNR gain over bicubic against low-res bits per pixel.

    For every image, scale with a network and quality: the gain = PSNR(network decode) -
    PSNR(bicubic decode) of the same low-res bitstream. The curve is the mean gain in ``bins``
    equal-count bins of log2 bpp; ``residual_db`` is the spread of single gains around it.
    """
    codec = codecs.by_name(inner)
    points: dict[str, list[tuple[float, float]]] = {}
    model_scale: dict[str, int] = {}
    for rgb in images:
        h, w = rgb.shape[:2]
        for scale in scales:
            model_id = receiver.model_for(scale)
            if model_id == zoo.BICUBIC or effective_scale(h, w, scale) != scale:
                continue
            model_scale[model_id] = scale
            low = downsample(rgb, scale)
            for q in qualities:
                bitstream = codec.encode(low, q)
                decoded = codec.decode(bitstream)
                bicubic = psnr(rgb, upsample_bicubic(decoded, scale, (h, w)))
                network = psnr(rgb, np.asarray(receiver.upscale(decoded, scale, model_id))[:h, :w])
                bpp = 8.0 * len(bitstream) / (low.shape[0] * low.shape[1])
                points.setdefault(model_id, []).append((math.log2(bpp), network - bicubic))
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
    """``python -m sr_codec.rate --data ../shared/data/train --weights-dir DIR``: write DIR/rate_proxy.json."""
    import shlex
    import sys

    p = argparse.ArgumentParser(prog="python -m sr_codec.rate", description=main.__doc__)
    p.add_argument("--data", nargs="+", default=["../shared/data/train"], help="training photos (never the validation set)")
    p.add_argument("--weights-dir", default=str(zoo.WEIGHTS_DIR))
    p.add_argument("--limit", type=int, default=40, help="photos to measure on")
    p.add_argument("--crop", type=int, default=384, help="side of the random crop taken from each photo")
    p.add_argument("--qualities", type=int, nargs="+", default=list(range(0, 100, 10)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help=f"default: WEIGHTS_DIR/{PROXY_FILE}")
    args = p.parse_args(argv)
    command = "python -m sr_codec.rate " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    receiver = Receiver.shipped(args.weights_dir)
    images = _calibration_images(args.data, args.limit, args.crop, args.seed)
    table = calibrate(images, receiver, qualities=args.qualities, command=command)
    out = Path(args.out) if args.out else Path(args.weights_dir) / PROXY_FILE
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    for model_id, c in sorted(table.curves.items()):
        gains = ", ".join(f"{2 ** x:.2f} bpp: {g:+.2f}" for x, g in zip(c.log2_bpp, c.gain_db))
        print(f"{model_id} (x{c.scale}, {c.samples} samples, residual {c.residual_db:.2f} dB): {gains}")
    print(f"wrote {out}")
    return 0
