"""Train the decoder networks: ``python -m sr_codec.train --scale 4 --data ../shared/data/train``.

Degradation is the codec's own encode path (:func:`sr_codec.degrade.degrade`): the
antialiased downsampler, then the inner codec at qualities drawn from the range the
encoder uses, plus a share of clean (lossless) low-res. Every training image is
degraded once per (scale, variant) and cached, so the CPU spends its time on the network.

Runs are budgeted in minutes (``--minutes``), checkpoint every ``--checkpoint-minutes``
and continue with ``--resume``; ``--export`` writes the weights and a manifest entry into
``sr_codec/weights/``. The learning rate follows a cosine over the run's time budget.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .degrade import degrade
from .downsample import downsample, upsample_bicubic
from .metrics import mod_crop, psnr, psnr_y

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_QUALITY_RANGE = {1: (20, 90), 2: (0, 70), 4: (0, 90), 10: (10, 95)}


@dataclass
class TrainConfig:
    scale: int = 4
    arch: str = "fast"
    width: int = 32
    blocks: int = 3
    transpose: bool = False
    data: list[str] = field(default_factory=list)
    val: str | None = None
    val_codec: str | None = None
    patch: int = 96
    batch: int = 16
    loss: str = "l1"
    vgg_weights: str | None = None
    lr: float = 1e-3
    lr_min: float = 1e-5
    minutes: float = 30.0
    inner: str = "avif"
    quality_min: int = 0
    quality_max: int = 90
    variants: int = 4
    clean_fraction: float = 0.25
    seed: int = 0
    role: str = "codec"
    init_from: dict | None = None


def list_images(folders: list[str]) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        files += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SystemExit(f"no images found under {folders}")
    return files


def load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def build_dataset(cfg: TrainConfig, cache_dir: Path) -> tuple[list[np.ndarray], list[list[np.ndarray]], list[int]]:
    """HR images and, per image, ``variants`` codec-degraded LR versions plus the clean one (last).

    Cached in ``cache_dir`` keyed by the file list and degradation settings.
    """
    files = list_images(cfg.data)
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    hr_arr = np.empty(len(hrs), object)
    hr_arr[:] = hrs
    lr_arr = np.empty(len(lrs), object)
    lr_arr[:] = [np.array(v + [None], object)[:-1] for v in lrs]
    np.savez(cache, hr=hr_arr, lr=lr_arr, q=np.array(qualities))
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
            lr, hr = variants[v], self.hrs[k]
            y0 = int(self.rng.integers(lr.shape[0] - lp + 1))
            x0 = int(self.rng.integers(lr.shape[1] - lp + 1))
            a = lr[y0 : y0 + lp, x0 : x0 + lp]
            b = hr[y0 * s : (y0 + lp) * s, x0 * s : (x0 + lp) * s]
            rot = int(self.rng.integers(4))
            a, b = np.rot90(a, rot), np.rot90(b, rot)
            if self.rng.random() < 0.5:
                a, b = a[:, ::-1], b[:, ::-1]
            xs[i], ys[i] = a, b
        return xs / 255.0, ys / 255.0


def build_model(cfg: TrainConfig):
    if cfg.arch == "fast":
        from .models.fast import fast_sr

        return fast_sr(cfg.scale, cfg.width, cfg.blocks)
    if cfg.arch == "autoencoder":
        from .models.autoencoder import seed_sr

        return seed_sr(cfg.scale, cfg.transpose)
    raise SystemExit(f"unknown --arch {cfg.arch!r}")


def make_loss(cfg: TrainConfig):
    """The training loss on [0, 1] images: l1, mse, ms-ssim (1 - MS-SSIM + L1/10) or perceptual (VGG19 features)."""
    import tensorflow as tf

    if cfg.loss == "l1":
        return lambda y, p: tf.reduce_mean(tf.abs(y - p))
    if cfg.loss == "mse":
        return lambda y, p: tf.reduce_mean(tf.square(y - p))
    if cfg.loss == "ms-ssim":
        # Patches are small, so use as many of the standard 5 scales as fit (each needs >= 11 px after halving).
        levels = max(1, min(5, int(math.log2(cfg.patch / 11)) + 1))
        weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)[:levels]

        def ms_ssim_loss(y, p):
            ssim = tf.image.ssim_multiscale(y, tf.clip_by_value(p, 0, 1), 1.0, power_factors=weights)
            return 1.0 - tf.reduce_mean(ssim) + 0.1 * tf.reduce_mean(tf.abs(y - p))

        return ms_ssim_loss
    if cfg.loss == "perceptual":
        if not cfg.vgg_weights or not Path(cfg.vgg_weights).is_file():
            raise SystemExit("--loss perceptual needs --vgg-weights FILE (a local VGG19 .h5/.weights.h5; nothing is downloaded)")
        import keras

        vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
        vgg.load_weights(cfg.vgg_weights)
        features = keras.Model(vgg.input, vgg.get_layer("block3_conv4").output)
        features.trainable = False
        mean = tf.constant([103.939, 116.779, 123.68])

        def prep(x):  # RGB [0,1] -> VGG's caffe-style BGR minus mean
            return tf.reverse(x * 255.0, axis=[-1]) - mean

        def perceptual_loss(y, p):
            fy, fp = features(prep(y)), features(prep(p))
            return tf.reduce_mean(tf.abs(y - p)) + 0.01 * tf.reduce_mean(tf.square(fy - fp)) / 1000.0

        return perceptual_loss
    raise SystemExit(f"unknown --loss {cfg.loss!r}")


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
    pad = 4 // cfg.scale if cfg.arch == "autoencoder" and cfg.scale < 4 else 1
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


def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "model.weights.h5.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, path / "model.weights.h5")
    opt_vars = {f"v{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)}
    np.savez(path / "optimizer.tmp.npz", **opt_vars)
    os.replace(path / "optimizer.tmp.npz", path / "optimizer.npz")
    (path / "state.json").write_text(json.dumps(state, indent=1))


def load_checkpoint(path: Path, model, optimizer) -> dict:
    model.load_weights(path / "model.weights.h5")
    optimizer.build(model.trainable_variables)
    blob = np.load(path / "optimizer.npz")
    for i, v in enumerate(optimizer.variables):
        v.assign(blob[f"v{i}"])
    return json.loads((path / "state.json").read_text())


def export(model, cfg: TrainConfig, state: dict, weights_dir: Path) -> str:
    """Write ``<model_id>.weights.h5`` and its manifest entry; returns the model id."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    tmp = weights_dir / "export.tmp.weights.h5"
    model.save_weights(tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    arch_tag = f"w{cfg.width}b{cfg.blocks}" if cfg.arch == "fast" else ("tconv" if cfg.transpose else "upsamp")
    role_tag = "-clean" if cfg.role == "clean" else ""
    model_id = f"{cfg.arch}-x{cfg.scale}-{arch_tag}{role_tag}-{digest[:8]}"
    final = weights_dir / f"{model_id}.weights.h5"
    os.replace(tmp, final)
    manifest_path = weights_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"models": {}, "default": {}}
    manifest["models"][model_id] = {
        "file": final.name,
        "sha256": digest,
        "arch": cfg.arch,
        "scale": cfg.scale,
        "config": {"width": cfg.width, "blocks": cfg.blocks, "transpose": cfg.transpose},
        "parameters": int(model.count_params()),
        "training": {
            "data": [Path(d).name for d in cfg.data],
            "degradation": {"inner": cfg.inner, "quality_range": [cfg.quality_min, cfg.quality_max],
                            "clean_fraction": cfg.clean_fraction},
            "loss": cfg.loss,
            "patch": cfg.patch,
            "batch": cfg.batch,
            "steps": state["step"],
            "wall_time_s": round(state["elapsed"], 1),
            "init_from": cfg.init_from,
        },
        "role": cfg.role,
        "validation": state.get("validation", {}),
    }
    if cfg.arch == "fast":
        # Codec-role weights decode payloads (and upscale when no clean model exists);
        # clean-role weights are what upscale() uses on clean low-res images.
        key = "upscale_default" if cfg.role == "clean" else "default"
        manifest.setdefault(key, {})[str(cfg.scale)] = model_id
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return model_id


def parse_args(argv: list[str] | None = None) -> tuple[TrainConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m sr_codec.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=4, choices=[1, 2, 4, 10])
    p.add_argument("--arch", default="fast", choices=["fast", "autoencoder"])
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--transpose", action="store_true", help="autoencoder: Conv2DTranspose instead of UpSampling2D")
    p.add_argument("--data", nargs="+", default=["../shared/data/train"])
    p.add_argument("--val", default="../shared/data/val", help="folder holding Set5/ (and BSD100/) for validation")
    p.add_argument("--val-codec", default="avif")
    p.add_argument("--patch", type=int, default=None, help="HR patch side (default 96, 64 at x2, 160 at x10)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--loss", default="l1", choices=["l1", "mse", "ms-ssim", "perceptual"])
    p.add_argument("--vgg-weights", default=None)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget (total, across resumes)")
    p.add_argument("--inner", default="avif")
    p.add_argument("--quality-range", type=int, nargs=2, default=None)
    p.add_argument("--variants", type=int, default=4, help="codec-degraded versions cached per image")
    p.add_argument("--clean-fraction", type=float, default=0.25)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--role", default="codec", choices=["codec", "clean"],
                   help="codec: learn to undo downsampling + inner-codec artifacts (decode's model); "
                        "clean: clean low-res only (upscale()'s model; implies --clean-fraction 1 --variants 0)")
    p.add_argument("--init-from", default=None,
                   help="checkpoint folder of the same architecture to start from (fresh optimizer and schedule)")
    p.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/<arch>_x<scale>[_clean]")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/sr_codec"))
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", action="store_true", help="export weights + manifest when training ends")
    p.add_argument("--export-only", action="store_true", help="export the checkpoint without training")
    p.add_argument("--weights-dir", default=str(Path(__file__).parent / "weights"))
    # Several devices (sr_codec/distribute.py); without --strategy the single-device loop below runs.
    p.add_argument("--strategy", default=None, choices=["default", "mirrored", "multiworker"],
                   help="tf.distribute strategy; --batch becomes the per-replica batch")
    p.add_argument("--logical-cpus", type=int, default=None, help="mirrored: split the CPU into N logical devices")
    p.add_argument("--lr-scaling", default="linear", choices=["linear", "sqrt", "none"],
                   help="with --strategy: scale --lr by the replica count (linear), its square root, or not")
    p.add_argument("--steps", type=int, default=None,
                   help="with --strategy: stop at this total step count (cosine over steps instead of --minutes)")
    a = p.parse_args(argv)
    qmin, qmax = a.quality_range or DEFAULT_QUALITY_RANGE[a.scale]
    patch = a.patch or {2: 64, 10: 160}.get(a.scale, 96)
    cfg = TrainConfig(scale=a.scale, arch=a.arch, width=a.width, blocks=a.blocks, transpose=a.transpose,
                      data=a.data, val=a.val, val_codec=a.val_codec, patch=patch, batch=a.batch, loss=a.loss,
                      vgg_weights=a.vgg_weights, lr=a.lr, minutes=a.minutes, inner=a.inner, quality_min=qmin,
                      quality_max=qmax, variants=0 if a.role == "clean" else a.variants,
                      clean_fraction=1.0 if a.role == "clean" else a.clean_fraction, seed=a.seed, role=a.role)
    return cfg, a


def _same_architecture(ckpt_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The checkpoint's saved config; exits with a message (before any weights load) when its network differs."""
    saved = TrainConfig(**json.loads((ckpt_dir / "state.json").read_text())["config"])
    if (saved.arch, saved.scale, saved.width, saved.blocks) != (cfg.arch, cfg.scale, cfg.width, cfg.blocks):
        raise SystemExit(f"checkpoint in {ckpt_dir} is for {saved.arch} x{saved.scale} w{saved.width}b{saved.blocks}")
    return saved


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    if args.steps and not args.strategy:
        raise SystemExit("--steps needs --strategy (default|mirrored|multiworker); without it --minutes is the budget")
    if args.strategy and not args.export_only:
        from .distribute import train_distributed

        return train_distributed(cfg, args)
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    ckpt_dir = Path(args.checkpoint_dir or f"checkpoints/{cfg.arch}_x{cfg.scale}{'_clean' if cfg.role == 'clean' else ''}")
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg)
    optimizer = keras.optimizers.Adam(learning_rate=cfg.lr)
    state = {"step": 0, "elapsed": 0.0, "config": asdict(cfg), "validation": {}, "history": []}
    if args.resume or args.export_only:
        if not (ckpt_dir / "state.json").exists():
            raise SystemExit(f"no checkpoint in {ckpt_dir}")
        saved = _same_architecture(ckpt_dir, cfg)
        state = load_checkpoint(ckpt_dir, model, optimizer)
        # A resumed run continues with its own settings; only the time budget may grow.
        cfg = replace(saved, minutes=cfg.minutes)
        state["config"] = asdict(cfg)
    elif args.init_from:
        init_dir = Path(args.init_from)
        if not (init_dir / "state.json").exists():
            raise SystemExit(f"no checkpoint in {init_dir}")
        _same_architecture(init_dir, cfg)
        model.load_weights(init_dir / "model.weights.h5")
        init_state = json.loads((init_dir / "state.json").read_text())
        cfg.init_from = {"checkpoint": init_dir.name, "steps": init_state.get("step"),
                         "wall_time_s": round(init_state.get("elapsed", 0.0), 1)}
        state["config"] = asdict(cfg)
    if args.export_only:
        print("exported", export(model, cfg, state, Path(args.weights_dir)))
        return 0

    val_sets: dict[str, list[np.ndarray]] = {}
    if cfg.val and Path(cfg.val, "Set5").is_dir():
        val_sets["Set5"] = [load_rgb(f) for f in list_images([str(Path(cfg.val, "Set5"))])]
    hrs, lrs, _ = build_dataset(cfg, Path(args.cache_dir))
    sampler = PatchSampler(hrs, lrs, cfg, np.random.default_rng(cfg.seed + state["step"]))
    loss_fn = make_loss(cfg)
    print(f"{model.name}: {model.count_params():,} parameters, {len(hrs)} training images, loss {cfg.loss}", flush=True)

    @tf.function(reduce_retracing=True)
    def train_step(x, y, lr):
        optimizer.learning_rate.assign(lr)
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    budget = cfg.minutes * 60.0
    last_ckpt = time.monotonic()
    start_elapsed, start = state["elapsed"], time.monotonic()
    bar = tqdm(total=int(budget), initial=int(state["elapsed"]), unit="s", file=sys.stdout, mininterval=10)
    losses: list[float] = []
    while state["elapsed"] < budget:
        frac = min(1.0, state["elapsed"] / budget)
        lr = cfg.lr_min + 0.5 * (cfg.lr - cfg.lr_min) * (1 + math.cos(math.pi * frac))
        x, y = sampler.batch()
        losses.append(float(train_step(tf.constant(x), tf.constant(y), tf.constant(lr, tf.float32))))
        state["step"] += 1
        now = time.monotonic()
        bar.update(int(start_elapsed + now - start) - bar.n)
        state["elapsed"] = start_elapsed + now - start
        if state["step"] % 50 == 0:
            bar.set_postfix(step=state["step"], loss=f"{np.mean(losses[-50:]):.4f}", lr=f"{lr:.1e}",
                            **{k: v for k, v in state["validation"].items() if k.endswith("y_psnr")})
        if now - last_ckpt > args.checkpoint_minutes * 60 or state["elapsed"] >= budget:
            state["validation"] = validate(model, cfg, val_sets)
            state["history"].append({"step": state["step"], "elapsed": round(state["elapsed"]),
                                     "loss": float(np.mean(losses[-200:])), **state["validation"]})
            save_checkpoint(ckpt_dir, model, optimizer, state)
            bar.write(f"checkpoint step {state['step']} t={state['elapsed']:.0f}s {state['validation']}")
            last_ckpt = time.monotonic()
            # The validation pass is not training time.
            start += time.monotonic() - now
    bar.close()
    if args.export:
        print("exported", export(model, cfg, state, Path(args.weights_dir)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
