"""Validation during training: Y-PSNR on clean low-res (the SR protocol) and the gain over bicubic on coded low-res."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..codecs.degrade import degrade
from ..imaging.io import load_rgb
from ..imaging.metrics import mod_crop, psnr, psnr_y
from ..imaging.resample import downsample, upsample_bicubic
from ..nn.geometry import geometry
from .config import TrainConfig
from .data import training_files


def run_model(model, lr: np.ndarray, pad_to: int = 1) -> np.ndarray:
    """Apply ``model`` to one uint8 LR image and return uint8 HR (pads so sides are multiples of ``pad_to``)."""
    h, w = lr.shape[:2]
    ph, pw = (-h) % pad_to, (-w) % pad_to
    x = np.pad(lr, ((0, ph), (0, pw), (0, 0)), mode="edge") if (ph or pw) else lr
    y = model(x[None].astype(np.float32) / 255.0, training=False)
    y = np.asarray(y)[0]
    s = y.shape[0] // x.shape[0]
    return np.clip(np.round(y[: h * s, : w * s] * 255.0), 0, 255).astype(np.uint8)


def validate(model, cfg: TrainConfig, val_sets: dict[str, list[np.ndarray]]) -> dict[str, float]:
    """Y-PSNR (SR protocol) on clean LR and RGB PSNR gain over bicubic on codec-degraded LR."""
    pad = geometry(model).multiple  # e.g. the seed autoencoder's poolings need even low-res sides at x2
    out: dict[str, float] = {}
    for name, images in val_sets.items():
        clean, codec_gain = [], []
        for hr in images:
            hr = mod_crop(hr, cfg.scale)
            lr = downsample(hr, cfg.scale)
            clean.append(psnr_y(hr, run_model(model, lr, pad), cfg.scale))
            if cfg.val_codec and cfg.scale > 1:
                mid = (cfg.quality_min + cfg.quality_max) // 2
                dlr = degrade(hr, cfg.scale, cfg.val_codec, mid)
                codec_gain.append(psnr(hr, run_model(model, dlr, pad)) - psnr(hr, upsample_bicubic(dlr, cfg.scale)))
        out[f"{name}_y_psnr"] = round(float(np.mean(clean)), 3)
        if codec_gain:
            out[f"{name}_codec_gain_db"] = round(float(np.mean(codec_gain)), 3)
    return out


def validation_sets(cfg: TrainConfig) -> dict[str, list[np.ndarray]]:
    """``{"Set5": images}`` when ``cfg.val`` holds a Set5 folder, else nothing to validate on."""
    if cfg.val and Path(cfg.val, "Set5").is_dir():
        return {"Set5": [load_rgb(f) for f in training_files([str(Path(cfg.val, "Set5"))])]}
    return {}
