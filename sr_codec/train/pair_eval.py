"""Measure a pair against the bicubic route at equal bytes, with the real inner codec.

For each photo (mod-cropped to the scale) and quality: the bicubic route codes the bicubic
thumbnail and decodes it with the shipped codec-role U; the learned route codes D's thumbnail
and decodes it with the pair's U. Bytes are the inner bitstream plus the payload's fixed 22
bytes of container, so bits per pixel are those of a whole payload.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..imaging.curves import bd_psnr, bd_rate
from ..imaging.io import load_rgb
from ..imaging.metrics import mod_crop, ms_ssim, psnr
from ..imaging.resample import downsample
from .evaluate import run_model

PAYLOAD_OVERHEAD_BYTES = 22


def run_down(down, hr: np.ndarray, base: np.ndarray) -> np.ndarray:
    y = np.asarray(down([hr[None].astype(np.float32) / 255.0, base[None].astype(np.float32) / 255.0],
                        training=False))[0]
    return np.clip(np.round(y * 255.0), 0, 255).astype(np.uint8)


def route_curves(down, up, scale: int, files: list[Path], qualities: list[int], codec,
                 baseline_up=None, summary_only: bool = False, extra_metrics=None) -> dict:
    """Per-quality mean bpp / RGB PSNR of both routes, thumbnail PSNR, and BD-rate of learned vs bicubic.

    ``extra_metrics``: a function (original, decoded) -> {name: value} (e.g. the benchmarks' perceptual
    metrics), averaged into the curves under those names; a BD-rate by each (``bd_rate_pct_<name>``) joins
    the summary (a name containing "butteraugli" is a distance: negated for the fit)."""
    if baseline_up is None:
        from ..nn.loading import load_model
        from ..zoo.manifest import default_model_id

        baseline_up = load_model(default_model_id(scale))
    rows = {"bicubic": {q: [] for q in qualities}, "learned": {q: [] for q in qualities}}
    thumbs = []
    for path in files:
        hr = mod_crop(load_rgb(path), scale)
        base = downsample(hr, scale)
        learned = run_down(down, hr, base)
        thumbs.append(psnr(base, learned))
        pixels = hr.shape[0] * hr.shape[1]
        for q in qualities:
            for name, low, net in (("bicubic", base, baseline_up), ("learned", learned, up)):
                data = codec.encode(low, q)
                decoded = run_model(net, codec.decode(data))
                bpp = 8.0 * (len(data) + PAYLOAD_OVERHEAD_BYTES) / pixels
                extra = extra_metrics(hr, decoded) if extra_metrics else {}
                rows[name][q].append((bpp, psnr(hr, decoded), 0.0 if summary_only else ms_ssim(hr, decoded), extra))
    curves = {name: {"bpp": [float(np.mean([r[0] for r in per_q[q]])) for q in qualities],
                     "psnr-rgb": [float(np.mean([r[1] for r in per_q[q]])) for q in qualities],
                     "ms-ssim-rgb": [float(np.mean([r[2] for r in per_q[q]])) for q in qualities],
                     **{key: [float(np.mean([r[3][key] for r in per_q[q]])) for q in qualities]
                        for key in (per_q[qualities[0]][0][3] if per_q[qualities[0]] else {})}}
              for name, per_q in rows.items()}
    b, l = curves["bicubic"], curves["learned"]
    summary = {"bd_rate_pct": round(bd_rate(b["bpp"], b["psnr-rgb"], l["bpp"], l["psnr-rgb"]) or float("nan"), 2),
               "bd_psnr_db": round(bd_psnr(b["bpp"], b["psnr-rgb"], l["bpp"], l["psnr-rgb"]) or float("nan"), 3),
               "thumb_psnr_db": round(float(np.mean(thumbs)), 2),
               "thumb_psnr_min_db": round(float(np.min(thumbs)), 2)}
    for key in (k for k in b if k not in ("bpp", "psnr-rgb", "ms-ssim-rgb")):
        sign = -1.0 if "butteraugli" in key else 1.0
        rate = bd_rate(b["bpp"], [sign * v for v in b[key]], l["bpp"], [sign * v for v in l[key]])
        summary[f"bd_rate_pct_{key}"] = round(rate if rate is not None else float("nan"), 2)
    if summary_only:
        return summary
    return {**summary, "qualities": list(qualities), "curves": curves, "photos": len(files)}
