"""Learned sender vs bicubic sender at equal bytes: ``python -m benchmarks.learned_sender --data DIR``.

Both routes use the same scale, the same inner codec (AVIF, the library's speed rule) and the
same qualities; the bicubic route decodes with the shipped codec-role network, the learned one
with the pair's network. Reports BD-rate / BD-PSNR (RGB), thumbnail fidelity (learned vs bicubic
thumbnail PSNR), both RD curves (CompressAI JSON) and a plot.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

DEFAULT_QUALITIES = [10, 20, 30, 40, 50, 60, 70, 80]


def load_pair(checkpoint: Path | None, scale: int):
    """(down, up, label): from a training checkpoint folder, else the shipped pair of the scale."""
    from sr_codec.train.pair import PairConfig, build_models

    if checkpoint is not None:
        cfg = PairConfig(**json.loads((checkpoint / "state.json").read_text())["config"])
        down, up = build_models(cfg)
        down.load_weights(checkpoint / "down.weights.h5")
        up.load_weights(checkpoint / "up.weights.h5")
        step = json.loads((checkpoint / "state.json").read_text())["step"]
        return down, up, f"checkpoint {checkpoint} (step {step})"
    from sr_codec.nn.downscaler import downscaler
    from sr_codec.nn.loading import load_model
    from sr_codec.sender.learned import learned_pair
    from sr_codec.zoo import manifest as zoo

    pair = learned_pair(scale)
    if pair is None:
        raise SystemExit(f"no learned pair ships for x{scale}; pass --checkpoint")
    down_id, up_id = pair
    info = zoo.model_info(down_id)
    down = downscaler(scale, info["config"]["width"], info["config"]["blocks"])
    down.load_weights(zoo.WEIGHTS_DIR / info["file"])
    return down, load_model(up_id), f"{down_id} + {up_id}"


def rd_plot(res: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, curve in res["curves"].items():
        ax.plot(curve["bpp"], curve["psnr-rgb"], "o-", label=f"{name} sender")
    ax.set_xlabel("bits per pixel (whole payload)")
    ax.set_ylabel("RGB PSNR (dB)")
    ax.set_title(f"{res['data']}, {res['photos']} photos: BD-rate {res['bd_rate_pct']:+.1f} %")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def thumbnail_figure(down, up, scale: int, path: Path, quality: int, out: Path) -> Path:
    """Side by side: bicubic and learned thumbnails (shown 2x, nearest), their difference x8, and both decodes."""
    from PIL import Image, ImageDraw

    from sr_codec.codecs import by_name
    from sr_codec.imaging.io import load_rgb
    from sr_codec.imaging.metrics import mod_crop, psnr
    from sr_codec.imaging.resample import downsample
    from sr_codec.nn.loading import load_model
    from sr_codec.train.evaluate import run_model
    from sr_codec.train.pair_eval import run_down
    from sr_codec.zoo.manifest import default_model_id

    codec = by_name("avif")
    hr = mod_crop(load_rgb(path), scale)
    base = downsample(hr, scale)
    learned = run_down(down, hr, base)
    diff = np.clip(128 + 8 * (learned.astype(int) - base.astype(int)), 0, 255).astype(np.uint8)
    panels = []
    for name, low, net in (("bicubic", base, load_model(default_model_id(scale))), ("learned", learned, up)):
        data = codec.encode(low, quality)
        decoded = run_model(net, codec.decode(data))
        panels.append((f"{name} decode: {len(data) + 22} B, {psnr(hr, decoded):.2f} dB", decoded))
    zoom = lambda a: np.asarray(Image.fromarray(a).resize((a.shape[1] * 2, a.shape[0] * 2), Image.NEAREST))
    thumbs = [("bicubic thumbnail", zoom(base)), (f"learned ({psnr(base, learned):.1f} dB vs bicubic)", zoom(learned)),
              ("difference x8", zoom(diff))]
    h, w = hr.shape[:2]
    th, tw = thumbs[0][1].shape[:2]
    canvas = Image.new("RGB", (max(3 * tw, 2 * w) + 40, th + h + 60), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, img) in enumerate(thumbs):
        canvas.paste(Image.fromarray(img), (10 + i * (tw + 10), 20))
        draw.text((10 + i * (tw + 10), 4), label, fill="black")
    for i, (label, img) in enumerate(panels):
        canvas.paste(Image.fromarray(img), (10 + i * (w + 10), th + 50))
        draw.text((10 + i * (w + 10), th + 34), label, fill="black")
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.learned_sender", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder of photos (e.g. ../shared/data/val/BSD100)")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--checkpoint", type=Path, default=None, help="a pair training checkpoint (default: shipped pair)")
    p.add_argument("--qualities", type=int, nargs="+", default=DEFAULT_QUALITIES)
    p.add_argument("--limit", type=int, default=None, help="first N photos only (reports say so)")
    p.add_argument("--out", type=Path, default=Path("results/learned_sender"))
    p.add_argument("--perceptual", action="store_true",
                   help="also SSIMULACRA2 and butteraugli of every decode, and BD-rates by them (slow: ~2 s a decode)")
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from sr_codec.codecs import by_name
    from sr_codec.imaging.io import list_images
    from sr_codec.train.pair_eval import route_curves

    from .common.report import compressai_result, write_compressai_json

    files = list_images([a.data])[: a.limit]
    down, up, label = load_pair(a.checkpoint, a.scale)
    t0 = time.perf_counter()
    extra = None
    if a.perceptual:
        from .common.perceptual import announce_skipped, perceptual_scores

        announce_skipped()
        extra = perceptual_scores
    res = route_curves(down, up, a.scale, files, a.qualities, by_name("avif"), extra_metrics=extra)
    res.update({"pair": label, "data": Path(a.data).name, "seconds": round(time.perf_counter() - t0, 1)})
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"x{a.scale}.json").write_text(json.dumps(res, indent=1) + "\n")
    for name, curve in res["curves"].items():
        write_compressai_json(a.out / "compressai" / f"{name}-x{a.scale}.json", compressai_result(
            f"sr_codec x{a.scale} {name} sender", f"{name} thumbnail, AVIF, {label}", curve["bpp"],
            curve["psnr-rgb"], curve.get("ms-ssim-rgb", []),
            **{k: v for k, v in curve.items() if k not in ("bpp", "psnr-rgb", "ms-ssim-rgb")}))
    rd_plot(res, a.out / f"rd_x{a.scale}.png")
    thumbnail_figure(down, up, a.scale, files[0], 40, a.out / f"thumbnails_x{a.scale}.png")
    print(json.dumps({k: v for k, v in res.items() if k != "curves"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
