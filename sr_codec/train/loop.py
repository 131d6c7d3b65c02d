"""Train the decoder networks: ``python -m sr_codec.train --scale 4 --data ../shared/data/train``.

Degradation is the codec's own encode path (:func:`sr_codec.codecs.degrade.degrade`): the
antialiased downsampler, then the inner codec at qualities drawn from the range the
encoder uses, plus a share of clean (lossless) low-res. Every training image is
degraded once per (scale, variant) and cached, so the CPU spends its time on the network.

Runs are budgeted in minutes (``--minutes``), checkpoint every ``--checkpoint-minutes``
and continue with ``--resume``; ``--export`` writes the weights and a manifest entry into
``sr_codec/weights/``. The learning rate follows a cosine over the run's time budget.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..imaging.io import load_rgb
from .checkpoint import load_checkpoint, publish_weights, save_checkpoint
from .config import TrainConfig, parse_args
from .data import PatchSampler, build_dataset, training_files
from .evaluate import validate
from .losses import make_loss


def _same_architecture(ckpt_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The checkpoint's saved config; exits with a message (before any weights load) when its network differs."""
    saved = TrainConfig.from_saved(json.loads((ckpt_dir / "state.json").read_text())["config"])
    mine, theirs = cfg.architecture(), saved.architecture()
    if (saved.arch, saved.scale, theirs) != (cfg.arch, cfg.scale, mine):
        raise SystemExit(f"checkpoint in {ckpt_dir} is for {saved.arch} x{saved.scale} {theirs.tag()}, "
                         f"not {cfg.arch} x{cfg.scale} {mine.tag()}")
    return saved


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    ckpt_dir = Path(args.checkpoint_dir or f"checkpoints/{cfg.arch}_x{cfg.scale}{'_clean' if cfg.role == 'clean' else ''}")
    keras.utils.set_random_seed(cfg.seed)
    model = cfg.architecture().build(cfg.scale)
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
        print("exported", publish_weights(model, cfg, state, Path(args.weights_dir)))
        return 0

    val_sets: dict[str, list[np.ndarray]] = {}
    if cfg.val and Path(cfg.val, "Set5").is_dir():
        val_sets["Set5"] = [load_rgb(f) for f in training_files([str(Path(cfg.val, "Set5"))])]
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
        print("exported", publish_weights(model, cfg, state, Path(args.weights_dir)))
    return 0
