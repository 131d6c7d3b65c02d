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

import math
import sys
import time
from pathlib import Path

import numpy as np

from .checkpoint import checkpoint_folder, publish_weights, record_checkpoint, start_state
from .config import parse_args
from .data import PatchSampler, build_dataset
from .evaluate import validation_sets
from .losses import make_loss


def main(argv: list[str] | None = None) -> int:
    cfg, args = parse_args(argv)
    if args.strategy and not args.export_only:
        from .distribute import train_distributed

        return train_distributed(cfg, args)
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    ckpt_dir = checkpoint_folder(cfg, args)
    keras.utils.set_random_seed(cfg.seed)
    model = cfg.architecture().build(cfg.scale)
    optimizer = keras.optimizers.Adam(learning_rate=cfg.lr)
    cfg, state = start_state(cfg, args, model, optimizer, ckpt_dir)
    if args.export_only:
        print("exported", publish_weights(model, cfg, state, Path(args.weights_dir)))
        return 0

    val_sets = validation_sets(cfg)
    if not val_sets:
        print(f"no validation images (no Set5 folder in --val {cfg.val!r}): checkpoints carry no validation numbers",
              flush=True)
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
            bar.write(record_checkpoint(ckpt_dir, model, optimizer, state, cfg, val_sets, float(np.mean(losses[-200:]))))
            last_ckpt = time.monotonic()
            # The validation pass is not training time.
            start += time.monotonic() - now
    bar.close()
    if args.export:
        print("exported", publish_weights(model, cfg, state, Path(args.weights_dir)))
    return 0
