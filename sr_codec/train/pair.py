"""Train a sender/receiver pair: ``python -m sr_codec.train.pair --scale 4 --minutes 90``.

Each step shrinks a batch of HR patches with D, codes the thumbnails for real (one AVIF
mosaic of the whole batch at a random calibrated quality) and decodes them, and trains U on
exactly what a receiver gets. D's gradient cannot pass through libavif, so the backward pass
uses the calibrated proxy (:mod:`.proxy`): the codec's forward output is
``through(x) + stop_gradient(real(x) - through(x))``. The loss is a rate-distortion objective

    ln MSE(U(coded D(x)), x) + kappa * ln(R(D(x)) / R(bicubic(x))) + gamma * relu(ln(thumb_mse / tau))

where R is the proxy's rate estimate, kappa the measured slope d ln MSE / d ln bytes of the
bicubic route (so the iso-loss lines are the RD curve and a gain is a gain at equal bytes), and
the last term holds the thumbnail within ``--thumb-psnr`` dB of the bicubic one.

Checkpoints go to ``checkpoints/pair_x<scale>``; an existing one is never replaced without
``--resume`` or ``--overwrite``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..codecs import by_name
from ..imaging.io import list_images, load_rgb
from ..imaging.metrics import mod_crop, psnr_from_mse
from ..imaging.resample import downsample
from ..zoo import manifest as zoo
from .codec_proxy import CodecProxy, calibrate
from .data import random_aligned_crop

PROXY_PATH = zoo.WEIGHTS_DIR / "avif_proxy.json"
LOW_RES_PATCH = {2: 32, 4: 32, 10: 16}


@dataclass
class PairConfig:
    scale: int = 4
    width: int = 24
    blocks: int = 1
    init_upscaler: str | None = None  # a shipped model id; default: the codec-role model of the scale
    data: list[str] = field(default_factory=lambda: ["../shared/data/train"])
    batch: int = 16
    quality_min: int = 10
    quality_max: int = 80
    kappa: float = 0.5
    gamma: float = 2.0
    thumb_psnr: float = 32.0
    lr_down: float = 3e-4
    lr_up: float = 1e-4
    minutes: float = 60.0
    seed: int = 0
    proxy: str = "deadzone"


def load_pairs(cfg: PairConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Every training photo (mod-cropped) and its bicubic thumbnail, uint8."""
    files = list_images(cfg.data)
    if not files:
        raise SystemExit(f"no images found under {cfg.data}")
    hrs, lrs = [], []
    for path in files:
        hr = mod_crop(load_rgb(path), cfg.scale)
        if min(hr.shape[:2]) >= LOW_RES_PATCH[cfg.scale] * cfg.scale:
            hrs.append(hr)
            lrs.append(downsample(hr, cfg.scale))
    return hrs, lrs


def sample_batch(hrs, lrs, cfg: PairConfig, rng: np.random.Generator):
    s, lp = cfg.scale, LOW_RES_PATCH[cfg.scale]
    hr_b = np.empty((cfg.batch, lp * s, lp * s, 3), np.float32)
    lr_b = np.empty((cfg.batch, lp, lp, 3), np.float32)
    for i in range(cfg.batch):
        k = int(rng.integers(len(hrs)))
        lr_b[i], hr_b[i] = random_aligned_crop(lrs[k], hrs[k], lp, s, rng)
    return hr_b / 255.0, lr_b / 255.0


def mosaic(batch: np.ndarray) -> np.ndarray:
    """(N, h, w, 3) -> one (rows*h, cols*w, 3) image, N = rows*cols with rows = floor(sqrt N)."""
    n, h, w, c = batch.shape
    rows = int(math.isqrt(n))
    cols = n // rows
    return batch[: rows * cols].reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)


def unmosaic(image: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    rows = int(math.isqrt(n))
    cols = n // rows
    return image.reshape(rows, h, cols, w, -1).transpose(0, 2, 1, 3, 4).reshape(rows * cols, h, w, -1)


def real_round_trip(low_res: np.ndarray, quality: int, codec) -> tuple[np.ndarray, int]:
    """Code a float batch of thumbnails as one AVIF mosaic; returns the decoded batch and the bytes."""
    n, h, w, _ = low_res.shape
    u8 = np.clip(np.round(low_res * 255.0), 0, 255).astype(np.uint8)
    data = codec.encode(mosaic(u8), quality)
    return unmosaic(codec.decode(data), n, h, w).astype(np.float32) / 255.0, len(data)


def calibrated_proxy(scale: int, data: list[str], path: Path = PROXY_PATH) -> CodecProxy:
    """The AVIF proxy, calibrated once on 60 training thumbnails and committed beside the weights."""
    if path.exists():
        return CodecProxy.load(path)
    cfg = PairConfig(scale=scale, data=data)
    _, lrs = load_pairs(cfg)
    rng = np.random.default_rng(1)
    picks = [lrs[i] for i in rng.choice(len(lrs), size=min(60, len(lrs)), replace=False)]
    proxy = calibrate(picks, list(range(0, 101, 10)), by_name("avif"))
    proxy.meta.update({"calibrated_on": f"x{scale} thumbnails of {len(picks)} training photos"})
    proxy.save(path)
    return proxy


def build_models(cfg: PairConfig):
    """(D, U): D untrained (= bicubic), U initialised from the shipped codec-role model of the scale."""
    from ..nn.downscaler import downscaler
    from ..nn.loading import build_architecture

    up_id = cfg.init_upscaler or zoo.default_model_id(cfg.scale)
    info = zoo.model_info(up_id)
    up = build_architecture(info)
    up.load_weights(zoo.WEIGHTS_DIR / info["file"])
    cfg.init_upscaler = up_id
    return downscaler(cfg.scale, cfg.width, cfg.blocks), up


def save_checkpoint(path: Path, down, up, optimizers, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, model in (("down", down), ("up", up)):
        tmp = path / f"{name}.tmp.weights.h5"
        model.save_weights(tmp)
        os.replace(tmp, path / f"{name}.weights.h5")
    blob = {f"{k}{i}": np.asarray(v) for k, opt in optimizers.items() for i, v in enumerate(opt.variables)}
    np.savez(path / "optimizer.tmp.npz", **blob)
    os.replace(path / "optimizer.tmp.npz", path / "optimizer.npz")
    (path / "state.tmp.json").write_text(json.dumps(state, indent=1))
    os.replace(path / "state.tmp.json", path / "state.json")


def load_checkpoint(path: Path, down, up, optimizers) -> dict:
    down.load_weights(path / "down.weights.h5")
    up.load_weights(path / "up.weights.h5")
    blob = np.load(path / "optimizer.npz")
    for k, opt, model in (("d", optimizers["d"], down), ("u", optimizers["u"], up)):
        opt.build(model.trainable_variables)
        for i, v in enumerate(opt.variables):
            v.assign(blob[f"{k}{i}"])
    return json.loads((path / "state.json").read_text())


def _hashed_file(weights_dir: Path, stem: str, suffix: str, write) -> tuple[str, str]:
    """Write via ``write(tmp_path)``, name the file ``<stem>-<sha8><suffix>``; returns (id, sha256)."""
    tmp = weights_dir / f"{stem}.tmp{suffix}"
    write(tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    model_id = f"{stem}-{digest[:8]}"
    os.replace(tmp, weights_dir / f"{model_id}{suffix}")
    return model_id, digest


def publish_pair(down, up, cfg: PairConfig, state: dict, weights_dir: Path = zoo.WEIGHTS_DIR) -> tuple[str, str]:
    """Write D (weights + ``.tflite``) and U into ``weights_dir``, their manifest entries, and the pair table."""
    from ..nn.downscaler import downscaler_tflite_bytes

    weights_dir.mkdir(parents=True, exist_ok=True)
    base_info = zoo.model_info(cfg.init_upscaler)
    training = {"data": [Path(d).name for d in cfg.data], "steps": state["step"],
                "wall_time_s": round(state["elapsed"], 1), "method": f"real AVIF forward, {cfg.proxy} proxy backward",
                "config": asdict(cfg), "warm_start": state.get("warm_start")}
    down_id, down_sha = _hashed_file(weights_dir, f"down-x{cfg.scale}-w{cfg.width}b{cfg.blocks}", ".weights.h5",
                                     down.save_weights)
    tflite = downscaler_tflite_bytes(down)
    (weights_dir / f"{down_id}.tflite").write_bytes(tflite)
    zoo.add_model(weights_dir, down_id, {
        "file": f"{down_id}.weights.h5", "sha256": down_sha, "arch": "downscaler", "scale": cfg.scale,
        "config": {"width": cfg.width, "blocks": cfg.blocks}, "role": "sender",
        "parameters": int(down.count_params()), "training": training, "validation": state.get("validation", {}),
        "tflite": {"file": f"{down_id}.tflite", "sha256": hashlib.sha256(tflite).hexdigest(), "precision": "fp32"},
    }, make_default=False)
    arch_tag = cfg.init_upscaler.rsplit("-", 1)[0]  # e.g. fast-x4-w32b3
    up_id, up_sha = _hashed_file(weights_dir, f"{arch_tag}-pair", ".weights.h5", up.save_weights)
    zoo.add_model(weights_dir, up_id, {
        "file": f"{up_id}.weights.h5", "sha256": up_sha, "arch": base_info["arch"], "scale": cfg.scale,
        "config": base_info["config"], "role": "pair", "pair_downscaler": down_id,
        "parameters": int(up.count_params()), "training": {**training, "init_from": cfg.init_upscaler},
        "validation": state.get("validation", {}),
    }, make_default=False)
    zoo.set_pair(weights_dir, cfg.scale, down_id, up_id)
    return down_id, up_id


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m sr_codec.train.pair", description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=int, default=4, choices=sorted(LOW_RES_PATCH))
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--blocks", type=int, default=1)
    p.add_argument("--init-upscaler", default=None, help="shipped model id U starts from (default: the codec role)")
    p.add_argument("--data", nargs="+", default=["../shared/data/train"])
    p.add_argument("--val", default="../shared/data/val/Set14", help="photos for the periodic real-codec check")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--quality-range", type=int, nargs=2, default=[10, 80])
    p.add_argument("--kappa", type=float, default=0.5, help="rate weight: d ln MSE / d ln bytes of the bicubic route")
    p.add_argument("--gamma", type=float, default=2.0, help="thumbnail-fidelity weight")
    p.add_argument("--thumb-psnr", type=float, default=32.0, help="thumbnail floor vs bicubic, dB (per batch)")
    p.add_argument("--lr-down", type=float, default=3e-4)
    p.add_argument("--lr-up", type=float, default=1e-4)
    p.add_argument("--minutes", type=float, default=60.0, help="training time budget (total, across resumes)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--proxy", default="deadzone", choices=["deadzone", "linear", "identity"],
                   help="backward model of the codec (identity = straight-through)")
    p.add_argument("--checkpoint-dir", default=None, help="default: checkpoints/pair_x<scale>")
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint of another run")
    p.add_argument("--export", action="store_true", help="publish the pair into --weights-dir when training ends")
    p.add_argument("--export-only", action="store_true", help="publish the checkpoint's pair without training")
    p.add_argument("--weights-dir", type=Path, default=zoo.WEIGHTS_DIR)
    a = p.parse_args(argv)
    cfg = PairConfig(scale=a.scale, width=a.width, blocks=a.blocks, init_upscaler=a.init_upscaler, data=a.data,
                     batch=a.batch, quality_min=a.quality_range[0], quality_max=a.quality_range[1], kappa=a.kappa,
                     gamma=a.gamma, thumb_psnr=a.thumb_psnr, lr_down=a.lr_down, lr_up=a.lr_up, minutes=a.minutes,
                     seed=a.seed, proxy=a.proxy)
    return cfg, a


def main(argv=None) -> int:
    cfg, args = parse_args(argv)
    ckpt = Path(args.checkpoint_dir or f"checkpoints/pair_x{cfg.scale}")
    if args.export_only:
        args.resume = True
    if (ckpt / "state.json").exists() and not (args.resume or args.overwrite):
        raise SystemExit(f"{ckpt} holds another run's checkpoint: pass --resume to continue it or --overwrite")
    if args.resume and not (ckpt / "state.json").exists():
        raise SystemExit(f"no checkpoint in {ckpt} to resume")
    if args.resume:
        saved = json.loads((ckpt / "state.json").read_text())["config"]
        cfg = PairConfig(**{**saved, "minutes": cfg.minutes})
    import keras
    import tensorflow as tf

    from .codec_proxy import tf_ops
    from .pair_eval import route_curves

    keras.utils.set_random_seed(cfg.seed)
    proxy = calibrated_proxy(cfg.scale, cfg.data)
    through, rate = tf_ops(proxy, cfg.proxy)
    down, up = build_models(cfg)
    optimizers = {"d": keras.optimizers.Adam(cfg.lr_down), "u": keras.optimizers.Adam(cfg.lr_up)}
    state = {"step": 0, "elapsed": 0.0, "config": asdict(cfg), "history": [], "validation": {}}
    if args.resume:
        state = load_checkpoint(ckpt, down, up, optimizers)
    if args.export_only:
        print("published", *publish_pair(down, up, cfg, state, args.weights_dir), flush=True)
        return 0
    hrs, lrs = load_pairs(cfg)
    codec = by_name("avif")
    rng = np.random.default_rng(cfg.seed + state["step"])
    qualities = [int(q) for q in proxy.qualities if cfg.quality_min <= q <= cfg.quality_max]
    tau = 10.0 ** (-cfg.thumb_psnr / 10.0)
    val_files = list_images([args.val]) if args.val and Path(args.val).is_dir() else []
    if not val_files:
        print(f"no validation photos in {args.val!r}: checkpoints carry no validation numbers", flush=True)
    print(f"pair x{cfg.scale}: D {down.count_params():,} + U {up.count_params():,} parameters "
          f"(U from {cfg.init_upscaler}), {len(hrs)} photos, qualities {qualities}", flush=True)

    @tf.function(reduce_retracing=True)
    def forward_down(hr, base):
        return tf.clip_by_value(down([hr, base], training=False), 0.0, 1.0)

    @tf.function(reduce_retracing=True)
    def train_step(hr, base, coded, att, step, lr_d, lr_u):
        optimizers["d"].learning_rate.assign(lr_d)
        optimizers["u"].learning_rate.assign(lr_u)
        with tf.GradientTape(persistent=True) as tape:
            # Clip before the codec: outside [0, 1] the gradient is zero, as libavif clips too.
            low = tf.clip_by_value(down([hr, base], training=True), 0.0, 1.0)
            expected = through(low, att, step)
            received = expected + tf.stop_gradient(coded - expected)
            mse = tf.reduce_mean(tf.square(up(received, training=True) - hr))
            rate_ratio = tf.reduce_sum(rate(low, step)) / tf.reduce_sum(rate(base, step))
            thumb = tf.reduce_mean(tf.square(low - base))
            loss = (tf.math.log(mse) + cfg.kappa * tf.math.log(rate_ratio)
                    + cfg.gamma * tf.nn.relu(tf.math.log(thumb / tau + 1e-12)))
        for key, model in (("d", down), ("u", up)):
            grads = tape.gradient(loss, model.trainable_variables)
            optimizers[key].apply_gradients(zip(grads, model.trainable_variables))
        del tape
        return loss, mse, rate_ratio, thumb

    budget = cfg.minutes * 60.0
    start, start_elapsed, last_ckpt = time.monotonic(), state["elapsed"], time.monotonic()
    log: list[list[float]] = []
    while state["elapsed"] < budget:
        frac = state["elapsed"] / budget
        cosine = 0.5 * (1 + math.cos(math.pi * frac))
        hr, base = sample_batch(hrs, lrs, cfg, rng)
        q = int(rng.choice(qualities))
        att, step = proxy.tables(q)
        low = forward_down(tf.constant(hr), tf.constant(base)).numpy()
        coded, nbytes = real_round_trip(low, q, codec)
        out = train_step(tf.constant(hr), tf.constant(base), tf.constant(coded), tf.constant(att, tf.float32),
                         tf.constant(step, tf.float32), tf.constant(cfg.lr_down * cosine, tf.float32),
                         tf.constant(cfg.lr_up * cosine, tf.float32))
        log.append([float(v) for v in out])
        state["step"] += 1
        now = time.monotonic()
        state["elapsed"] = start_elapsed + now - start
        if state["step"] % 100 == 0:
            m = np.mean(log[-100:], axis=0)
            print(f"step {state['step']} t={state['elapsed']:.0f}s loss {m[0]:.4f} "
                  f"psnr {psnr_from_mse(m[1], peak=1.0):.2f} rate x{m[2]:.3f} "
                  f"thumb {psnr_from_mse(m[3], peak=1.0):.1f} dB", flush=True)
        if now - last_ckpt > args.checkpoint_minutes * 60 or state["elapsed"] >= budget:
            if val_files:
                state["validation"] = route_curves(down, up, cfg.scale, val_files[:8], [20, 40, 60], codec,
                                                   summary_only=True)
            m = np.mean(log[-200:], axis=0)
            state["history"].append({"step": state["step"], "elapsed": round(state["elapsed"]), "loss": m[0],
                                     "train_psnr": psnr_from_mse(m[1], peak=1.0), "rate_ratio": m[2],
                                     **state["validation"]})
            save_checkpoint(ckpt, down, up, optimizers, state)
            print(f"checkpoint step {state['step']}: {state['validation']}", flush=True)
            last_ckpt = time.monotonic()
            start += time.monotonic() - now  # validation is not training time
    if args.export:
        print("published", *publish_pair(down, up, cfg, state, args.weights_dir), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
