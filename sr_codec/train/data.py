"""Training data: photos degraded once by the codec's own path and cached, then random aligned patches."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from ..codecs.degrade import degrade
from ..imaging.io import list_images, load_rgb
from ..imaging.metrics import mod_crop
from ..imaging.resample import downsample
from .config import TrainConfig


def training_files(folders: list[str]) -> list[Path]:
    files = list_images(folders)
    if not files:
        raise SystemExit(f"no images found under {folders}")
    return files


def save_ragged(cache: Path, hrs: list[np.ndarray], lrs: list[list[np.ndarray]], **extra: np.ndarray) -> None:
    """Cache HR images of different sizes and, per image, a list of LR versions (object arrays in one .npz)."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    hr_arr = np.empty(len(hrs), object)
    hr_arr[:] = hrs
    lr_arr = np.empty(len(lrs), object)
    lr_arr[:] = [np.array(v + [None], object)[:-1] for v in lrs]
    np.savez(cache, hr=hr_arr, lr=lr_arr, **extra)


def random_aligned_crop(lr: np.ndarray, hr: np.ndarray, lp: int, scale: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random ``lp`` x ``lp`` LR crop and the HR crop it covers, with the same random 90-degree turn and flip."""
    y0 = int(rng.integers(lr.shape[0] - lp + 1))
    x0 = int(rng.integers(lr.shape[1] - lp + 1))
    a = lr[y0 : y0 + lp, x0 : x0 + lp]
    b = hr[y0 * scale : (y0 + lp) * scale, x0 * scale : (x0 + lp) * scale]
    rot = int(rng.integers(4))
    a, b = np.rot90(a, rot), np.rot90(b, rot)
    if rng.random() < 0.5:
        a, b = a[:, ::-1], b[:, ::-1]
    return a, b


def build_dataset(cfg: TrainConfig, cache_dir: Path) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[int]]:
    """HR images and, per image, ``variants`` codec-degraded LR versions plus the clean one (last).

    Cached in ``cache_dir`` keyed by the file list and degradation settings.
    """
    files = training_files(cfg.data)
    key = hashlib.sha256(
        json.dumps([[str(f) for f in files], cfg.scale, cfg.inner, cfg.quality_min, cfg.quality_max,
                    cfg.variants, cfg.seed]).encode()
    ).hexdigest()[:16]
    cache = cache_dir / f"patches_x{cfg.scale}_{key}.npz"
    if cache.exists():
        blob = np.load(cache, allow_pickle=True)
        return list(blob["hr"]), [list(v) for v in blob["lr"]], list(blob["q"])
    rng = np.random.default_rng(cfg.seed)
    hrs, lrs, qualities = [], [], []
    from tqdm import tqdm

    for path in tqdm(files, desc=f"degrading x{cfg.scale} (cached once)", file=sys.stdout):
        hr = mod_crop(load_rgb(path), cfg.scale)
        if min(hr.shape[:2]) < cfg.patch:
            continue
        versions = []
        for _ in range(cfg.variants):
            q = int(rng.integers(cfg.quality_min, cfg.quality_max + 1))
            versions.append(degrade(hr, cfg.scale, cfg.inner, q))
            qualities.append(q)
        versions.append(downsample(hr, cfg.scale))  # clean LR, always last
        hrs.append(hr)
        lrs.append(versions)
    save_ragged(cache, hrs, lrs, q=np.array(qualities))
    return hrs, lrs, qualities


class PatchSampler:
    """Random aligned (LR, HR) crops with flips and 90-degree rotations, as float32 in [0, 1]."""

    def __init__(self, hrs, lrs, cfg: TrainConfig, rng: np.random.Generator):
        self.hrs, self.lrs, self.cfg, self.rng = hrs, lrs, cfg, rng

    def batch(self) -> tuple[np.ndarray, np.ndarray]:
        cfg, s = self.cfg, self.cfg.scale
        lp = cfg.patch // s
        xs = np.empty((cfg.batch, lp, lp, 3), np.float32)
        ys = np.empty((cfg.batch, lp * s, lp * s, 3), np.float32)
        for i in range(cfg.batch):
            k = int(self.rng.integers(len(self.hrs)))
            variants = self.lrs[k]
            v = len(variants) - 1 if self.rng.random() < cfg.clean_fraction else int(self.rng.integers(len(variants) - 1))
            xs[i], ys[i] = random_aligned_crop(variants[v], self.hrs[k], lp, s, self.rng)
        return xs / 255.0, ys / 255.0
