"""Train a *sharp* decoder: ``python -m sr_codec.train.adversarial --scale 4 --minutes 60``.

A sharp decoder has the architecture of the faithful decoder it starts from (so both looks cost the
same to decode and read the same payloads) and is trained on the same real AVIF-coded low-res, with

    L1 + w_low * L1(avgpool_s(out), avgpool_s(hr)) + w_phase * phase + w_adv * RaGAN + w_fm * FM

- L1 keeps it near the photo; the low-frequency term (the average of each s x s cell) anchors colour
  and brightness, which the adversarial term alone pushed away (a pink cap turned red);
- ``phase`` is the mean absolute deviation, across the s x s sub-pixel positions, of the per-position
  mean error of each patch: a pixel-shuffle checkerboard is exactly an error that depends on the
  sub-pixel position, so this term is zero for any error pattern without that period;
- RaGAN is the relativistic average GAN loss against a discriminator trained from scratch alongside
  (spectrally normalised convolutions, no pretrained network anywhere); FM matches the
  discriminator's intermediate features of the output to those of the photo.

``--sender learned`` trains the sharp twin of a learned pair's upscaler on the pair downscaler's
thumbnails. Checkpoints (generator, discriminator, both optimisers) go to ``checkpoints/sharp_x<s>``
(``_pair`` for the learned sender) every few minutes; ``--resume`` continues; an existing
checkpoint is never replaced without ``--resume`` or ``--overwrite``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..codecs import by_name
from ..imaging.io import list_images, load_rgb
from ..imaging.metrics import mod_crop, psnr
from ..zoo import manifest as zoo
from .config import DEFAULT_QUALITY_RANGE
from .data import random_aligned_crop, save_ragged


@dataclass
class SharpConfig:
    scale: int = 4
    sender: str = "bicubic"  # bicubic: the codec-role decoder's twin; learned: the pair upscaler's twin
    init_model: str | None = None  # the faithful model id it starts from (default: the scale's decoder)
    data: list[str] = field(default_factory=lambda: ["../shared/data/train"])
    val: str = "../shared/data/val"
    patch: int = 96
    batch: int = 16
    quality_min: int = 0
    quality_max: int = 90
    variants: int = 4
    w_low: float = 1.0
    w_phase: float = 1.0
    w_adv: float = 0.01
    w_fm: float = 0.1
    disc_width: int = 32
    lr_g: float = 1e-4
    lr_d: float = 2e-4
    minutes: float = 60.0
    seed: int = 0


def faithful_model_id(cfg: SharpConfig) -> str:
    if cfg.init_model:
        return cfg.init_model
    if cfg.sender == "learned":
        return zoo.read_manifest()["pairs"][str(cfg.scale)]["upscaler"]
    return zoo.default_model_id(cfg.scale)


def build_pairs(cfg: SharpConfig, cache_dir: Path) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Per training photo: the HR image and ``variants`` AVIF-coded thumbnails (bicubic or learned), cached."""
    files = list_images(cfg.data)
    if not files:
        raise SystemExit(f"no images found under {cfg.data}")
    down_id = zoo.read_manifest()["pairs"][str(cfg.scale)]["downscaler"] if cfg.sender == "learned" else "bicubic"
    key = hashlib.sha256(json.dumps([[str(f) for f in files], cfg.scale, down_id, cfg.quality_min,
                                     cfg.quality_max, cfg.variants, cfg.seed]).encode()).hexdigest()[:16]
    cache = cache_dir / f"sharp_x{cfg.scale}_{key}.npz"
    if cache.exists():
        blob = np.load(cache, allow_pickle=True)
        return list(blob["hr"]), [list(v) for v in blob["lr"]]
    from tqdm import tqdm

    from ..imaging.resample import downsample

    codec = by_name("avif")
    rng = np.random.default_rng(cfg.seed)
    hrs, lrs = [], []
    for path in tqdm(files, desc=f"coding x{cfg.scale} {down_id} thumbnails (cached once)", file=sys.stdout):
        hr = mod_crop(load_rgb(path), cfg.scale)
        if min(hr.shape[:2]) < cfg.patch:
            continue
        if cfg.sender == "learned":
            from ..sender.learned import learned_low_res

            thumb = learned_low_res(hr, cfg.scale, down_id)
        else:
            thumb = downsample(hr, cfg.scale)
        versions = []
        for _ in range(cfg.variants):
            q = int(rng.integers(cfg.quality_min, cfg.quality_max + 1))
            versions.append(codec.decode(codec.encode(thumb, q)))
        hrs.append(hr)
        lrs.append(versions)
    save_ragged(cache, hrs, lrs)
    return hrs, lrs


def sample(hrs, lrs, cfg: SharpConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    s, lp = cfg.scale, cfg.patch // cfg.scale
    xs = np.empty((cfg.batch, lp, lp, 3), np.float32)
    ys = np.empty((cfg.batch, lp * s, lp * s, 3), np.float32)
    for i in range(cfg.batch):
        k = int(rng.integers(len(hrs)))
        xs[i], ys[i] = random_aligned_crop(lrs[k][int(rng.integers(len(lrs[k])))], hrs[k], lp, s, rng)
    return xs / 255.0, ys / 255.0


def build_discriminator(width: int):
    """A from-scratch patch discriminator with spectrally normalised convolutions; returns (logits, features)."""
    import keras
    from keras import layers

    x = inp = keras.Input((None, None, 3))
    feats = []
    for i, (mult, stride) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2)]):
        x = layers.SpectralNormalization(layers.Conv2D(width * mult, 3, strides=stride, padding="same"),
                                         name=f"d_conv{i}")(x)
        x = layers.LeakyReLU(0.2)(x)
        feats.append(x)
    logits = layers.SpectralNormalization(layers.Conv2D(1, 3, padding="same"), name="d_logits")(x)
    return keras.Model(inp, [logits] + feats, name="discriminator")


def phase_error(err, s: int):
    """Mean |per-sub-pixel-position mean error - its average|: zero unless the error has period ``s``."""
    import tensorflow as tf

    b, h, w, c = tf.shape(err)[0], tf.shape(err)[1], tf.shape(err)[2], tf.shape(err)[3]
    cells = tf.reshape(err, (b, h // s, s, w // s, s, c))
    per_phase = tf.reduce_mean(cells, axis=[1, 3])  # (b, s, s, c)
    return tf.reduce_mean(tf.abs(per_phase - tf.reduce_mean(per_phase, axis=[1, 2], keepdims=True)))


def validation_images(cfg: SharpConfig) -> list[np.ndarray]:
    folder = Path(cfg.val, "Set14")
    return [mod_crop(load_rgb(f), cfg.scale) for f in list_images([str(folder)])][:8] if folder.is_dir() else []


def parse(argv) -> tuple[SharpConfig, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m sr_codec.train.adversarial", description=__doc__.split("\n")[0])
    defaults = SharpConfig()
    for f in ("scale", "patch", "batch", "variants", "disc_width", "seed"):
        p.add_argument("--" + f.replace("_", "-"), type=int, default=getattr(defaults, f))
    for f in ("w_low", "w_phase", "w_adv", "w_fm", "lr_g", "lr_d", "minutes"):
        p.add_argument("--" + f.replace("_", "-"), type=float, default=getattr(defaults, f))
    p.add_argument("--sender", choices=["bicubic", "learned"], default="bicubic")
    p.add_argument("--init-model", default=None)
    p.add_argument("--data", nargs="+", default=defaults.data)
    p.add_argument("--val", default=defaults.val)
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--cache-dir", default=os.path.expanduser("~/.cache/sr_codec"))
    p.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0: all)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--export-only", action="store_true",
                   help="publish the checkpoint's generator as the sharp twin of its faithful model, no training")
    p.add_argument("--weights-dir", default=str(zoo.WEIGHTS_DIR))
    a = p.parse_args(argv)
    qmin, qmax = DEFAULT_QUALITY_RANGE[a.scale]
    cfg = SharpConfig(**{f: getattr(a, f) for f in ("scale", "patch", "batch", "variants", "disc_width", "seed",
                                                      "w_low", "w_phase", "w_adv", "w_fm", "lr_g", "lr_d",
                                                      "minutes", "sender", "init_model", "data", "val")},
                      quality_min=qmin, quality_max=qmax)
    if cfg.patch % cfg.scale:
        p.error("--patch must be a multiple of --scale")
    return cfg, a


def export_sharp(ckpt: Path, weights_dir: Path) -> str:
    """Publish the checkpoint's generator: ``<faithful arch tag>-sharp-<sha8>.weights.h5``, its manifest entry
    (``role: "sharp"``, ``faithful``: the model it was trained from) and the ``looks`` link; the new model id."""
    from ..nn.loading import build_architecture

    state = json.loads((ckpt / "state.json").read_text())
    base_id = state["init_model"]
    info = zoo.model_info(base_id, weights_dir)
    gen = build_architecture(info)
    gen.load_weights(ckpt / "model.weights.h5")
    tmp = weights_dir / "export.tmp.weights.h5"
    gen.save_weights(tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    stem = base_id.rsplit("-", 1)[0]  # fast-x4-w32b3[-pair]
    model_id = f"{stem}-sharp-{digest[:8]}"
    os.replace(tmp, weights_dir / f"{model_id}.weights.h5")
    cfg = state["config"]
    entry = {"file": f"{model_id}.weights.h5", "sha256": digest, "arch": info["arch"], "scale": info["scale"],
             "config": info["config"], "parameters": int(gen.count_params()), "role": "sharp", "faithful": base_id,
             "training": {"data": [Path(d).name for d in cfg["data"]],
                          "degradation": {"inner": "avif", "sender": cfg["sender"],
                                          "quality_range": [cfg["quality_min"], cfg["quality_max"]]},
                          "loss": {k: cfg[k] for k in ("w_low", "w_phase", "w_adv", "w_fm")} | {"l1": 1.0},
                          "discriminator": f"spectral-norm patch, width {cfg['disc_width']}, from scratch",
                          "patch": cfg["patch"], "batch": cfg["batch"], "steps": state["step"],
                          "wall_time_s": round(state["elapsed"], 1), "init_from": base_id},
             "validation": state["history"][-1] if state["history"] else {}}
    zoo.add_model(weights_dir, model_id, entry, make_default=False)
    zoo.set_look(weights_dir, "sharp", base_id, model_id)
    return model_id


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse(argv)
    if args.export_only:
        ckpt = Path(args.checkpoint_dir or f"checkpoints/sharp_x{cfg.scale}{'_pair' if cfg.sender == 'learned' else ''}")
        print("exported", export_sharp(ckpt, Path(args.weights_dir)))
        return 0
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from ..nn.loading import build_architecture
    from .checkpoint import load_checkpoint, save_checkpoint
    from .evaluate import run_model

    ckpt = Path(args.checkpoint_dir or f"checkpoints/sharp_x{cfg.scale}{'_pair' if cfg.sender == 'learned' else ''}")
    if not args.resume and (ckpt / "state.json").exists() and not args.overwrite:
        raise SystemExit(f"{ckpt} holds another run's checkpoint: --resume, --overwrite or --checkpoint-dir")
    keras.utils.set_random_seed(cfg.seed)
    base_id = faithful_model_id(cfg)
    info = zoo.model_info(base_id)
    gen = build_architecture(info)
    disc = build_discriminator(cfg.disc_width)
    opt_g = keras.optimizers.Adam(cfg.lr_g, beta_1=0.5, beta_2=0.99)
    opt_d = keras.optimizers.Adam(cfg.lr_d, beta_1=0.5, beta_2=0.99)
    state = {"step": 0, "elapsed": 0.0, "config": asdict(cfg), "init_model": base_id, "history": []}
    if args.resume:
        saved = SharpConfig(**json.loads((ckpt / "state.json").read_text())["config"])
        cfg = SharpConfig(**{**asdict(saved), "minutes": cfg.minutes})
        state = load_checkpoint(ckpt, gen, opt_g)
        load_checkpoint(ckpt / "discriminator", disc, opt_d)
        state["config"] = asdict(cfg)
    else:
        gen.load_weights(zoo.WEIGHTS_DIR / info["file"])
    faithful = build_architecture(info)
    faithful.load_weights(zoo.WEIGHTS_DIR / info["file"])

    hrs, lrs = build_pairs(cfg, Path(args.cache_dir))
    val = validation_images(cfg)
    codec = by_name("avif")
    val_lr = []
    for hr in val:
        from ..imaging.resample import downsample

        if cfg.sender == "learned":
            from ..sender.learned import learned_low_res

            thumb = learned_low_res(hr, cfg.scale, zoo.read_manifest()["pairs"][str(cfg.scale)]["downscaler"])
        else:
            thumb = downsample(hr, cfg.scale)
        val_lr.append(codec.decode(codec.encode(thumb, 40)))
    val_faithful = [psnr(hr, run_model(faithful, lr)) for hr, lr in zip(val, val_lr)]
    rng = np.random.default_rng(cfg.seed + state["step"])
    s = cfg.scale
    print(f"sharp x{s} from {base_id}: {gen.count_params():,} + D {disc.count_params():,} parameters, "
          f"{len(hrs)} photos, {cfg}", flush=True)

    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def low(x):
        return tf.nn.avg_pool2d(x, s, s, "VALID")

    @tf.function(reduce_retracing=True)
    def train_step(x, y):
        with tf.GradientTape() as tape_g, tf.GradientTape() as tape_d:
            out = gen(x, training=True)
            real = disc(y, training=True)
            fake = disc(out, training=True)
            rl, fl = real[0], fake[0]
            # Relativistic average: real should look more real than the average fake, and vice versa.
            d_loss = (bce(tf.ones_like(rl), rl - tf.reduce_mean(fl)) + bce(tf.zeros_like(fl), fl - tf.reduce_mean(rl))) / 2
            g_adv = (bce(tf.zeros_like(rl), rl - tf.reduce_mean(fl)) + bce(tf.ones_like(fl), fl - tf.reduce_mean(rl))) / 2
            fm = tf.add_n([tf.reduce_mean(tf.abs(tf.stop_gradient(a) - b)) / (tf.reduce_mean(tf.abs(tf.stop_gradient(a))) + 1e-3)
                           for a, b in zip(real[1:], fake[1:])]) / len(real[1:])
            l1 = tf.reduce_mean(tf.abs(y - out))
            l_low = tf.reduce_mean(tf.abs(low(y) - low(out)))
            l_phase = phase_error(out - y, s)
            g_loss = l1 + cfg.w_low * l_low + cfg.w_phase * l_phase + cfg.w_adv * g_adv + cfg.w_fm * fm
        opt_g.apply_gradients(zip(tape_g.gradient(g_loss, gen.trainable_variables), gen.trainable_variables))
        opt_d.apply_gradients(zip(tape_d.gradient(d_loss, disc.trainable_variables), disc.trainable_variables))
        return tf.stack([l1, l_low, l_phase, g_adv, fm, d_loss])

    def checkpoint(recent):
        vals = [psnr(hr, run_model(gen, lr)) for hr, lr in zip(val, val_lr)]
        rec = {"step": state["step"], "elapsed": round(state["elapsed"]),
               "losses": dict(zip(["l1", "low", "phase", "adv", "fm", "d"], np.round(recent, 5).tolist())),
               "val_psnr_vs_faithful_db": round(float(np.mean(vals) - np.mean(val_faithful)), 3) if val else None}
        state["history"].append(rec)
        save_checkpoint(ckpt, gen, opt_g, state)
        save_checkpoint(ckpt / "discriminator", disc, opt_d, {"step": state["step"]})
        print("checkpoint", json.dumps(rec), flush=True)

    budget = cfg.minutes * 60.0
    start_elapsed, start, last = state["elapsed"], time.monotonic(), time.monotonic()
    recent: list[np.ndarray] = []
    while state["elapsed"] < budget:
        x, y = sample(hrs, lrs, cfg, rng)
        recent.append(train_step(tf.constant(x), tf.constant(y)).numpy())
        recent = recent[-200:]
        state["step"] += 1
        now = time.monotonic()
        state["elapsed"] = start_elapsed + now - start
        if state["step"] % 200 == 0:
            print(f"step {state['step']} t={state['elapsed']:.0f}s "
                  f"l1/low/phase/adv/fm/d {np.round(np.mean(recent, 0), 4).tolist()}", flush=True)
        if now - last > args.checkpoint_minutes * 60 or state["elapsed"] >= budget:
            checkpoint(np.mean(recent, 0))
            last = time.monotonic()
            start += time.monotonic() - now  # validation is not training time
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
