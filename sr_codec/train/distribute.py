"""Training on several devices with ``tf.distribute``: ``python -m sr_codec.train --strategy mirrored|multiworker|default``.

* ``mirrored``: one machine, every GPU it has, or ``--logical-cpus N`` logical CPU devices (the
  CPU split before TensorFlow initialises: how the 2-replica path is tested without GPUs).
* ``multiworker``: ``MultiWorkerMirroredStrategy``; the cluster comes from ``$TF_CONFIG``
  (``{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": i}}``), the same command
  runs on every worker. Needs ``--steps`` so that every worker runs the same number of steps.
* ``default``: the default (one-device) strategy through the same loop: the baseline.

How the usual tf.distribute questions are answered here:

* batch: ``--batch`` is the per-replica batch; the global batch is ``batch x replicas``.
* learning rate: scaled by the linear scaling rule (Goyal et al. 2017, ``lr x replicas``) by
  default, ``--lr-scaling sqrt|none`` otherwise; the cosine schedule runs from the scaled peak.
* loss: per-example losses averaged over the global batch (``tf.nn.compute_average_loss``);
  Keras' optimizer all-reduces (sums) the replicas' gradients, so the update is the global mean's.
* input: ``distribute_datasets_from_function``: every input pipeline (one per worker) draws
  patches from its own shard of the images (``images[pipeline::pipelines]``) with its own seed,
  in per-replica batches.
* checkpoints: written by the chief only (worker 0, or the ``chief`` task); the files are the
  single-device format, so a checkpoint resumes with any strategy or none.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import DeviceError
from .checkpoint import checkpoint_folder, publish_weights, record_checkpoint, start_state
from .data import PatchSampler, build_dataset
from .evaluate import validation_sets
from .losses import make_loss

STRATEGIES = ("default", "mirrored", "multiworker")
LR_SCALING = ("linear", "sqrt", "none")


def configure_logical_cpus(count: int) -> None:
    """Split the physical CPU into ``count`` logical devices; must run before TensorFlow initialises."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as exc:
        raise DeviceError(f"cannot split the CPU into {count} logical devices: TensorFlow is already "
                          f"initialised in this process ({exc})") from exc


def make_strategy(name: str, logical_cpus: int | None = None):
    """The ``tf.distribute`` strategy called ``name`` (see the module docstring)."""
    if name not in STRATEGIES:
        raise DeviceError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    if logical_cpus and logical_cpus > 1:
        configure_logical_cpus(logical_cpus)
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            print("warning: $TF_CONFIG is not set: multiworker runs as a single worker", file=sys.stderr)
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    # NCCL is GPU-only; across CPU devices the gradients are summed on one device.
    cross = None if gpus else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)


def is_chief(strategy) -> bool:
    """True on the process that writes checkpoints and exports: the only one, the ``chief`` task, or worker 0."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def scaled_learning_rate(lr: float, replicas: int, rule: str) -> float:
    """``lr`` for ``replicas`` times the single-device batch: linear (x replicas), sqrt, or unchanged."""
    if rule not in LR_SCALING:
        raise ValueError(f"lr scaling must be one of {LR_SCALING}, got {rule!r}")
    return lr * {"linear": replicas, "sqrt": math.sqrt(replicas), "none": 1.0}[rule]


def per_example_loss(cfg, loss_fn):
    """[B] losses from the training loss: exact reductions for l1/mse, ``loss_fn`` per image otherwise."""
    import tensorflow as tf

    if cfg.loss == "l1":
        return lambda y, p: tf.reduce_mean(tf.abs(y - p), axis=[1, 2, 3])
    if cfg.loss == "mse":
        return lambda y, p: tf.reduce_mean(tf.square(y - p), axis=[1, 2, 3])
    return lambda y, p: tf.stack([loss_fn(y[i : i + 1], p[i : i + 1]) for i in range(y.shape[0])])


def distributed_patches(strategy, hrs, lrs, cfg, global_batch: int, seed: int):
    """Random (LR, HR) patch batches, sharded per input pipeline and batched per replica."""
    import tensorflow as tf

    s, lp = cfg.scale, cfg.patch // cfg.scale

    def dataset_fn(context: tf.distribute.InputContext):
        per_replica = context.get_per_replica_batch_size(global_batch)
        shard = slice(context.input_pipeline_id, None, context.num_input_pipelines)
        shard_hrs, shard_lrs = hrs[shard], lrs[shard]
        if not shard_hrs:
            raise DeviceError(f"input pipeline {context.input_pipeline_id} has no images: more workers than images")
        sampler = PatchSampler(shard_hrs, shard_lrs, replace(cfg, batch=per_replica),
                               np.random.default_rng([seed, context.input_pipeline_id]))

        def batches():
            while True:
                yield sampler.batch()

        signature = (tf.TensorSpec((per_replica, lp, lp, 3), tf.float32),
                     tf.TensorSpec((per_replica, lp * s, lp * s, 3), tf.float32))
        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)

    return strategy.distribute_datasets_from_function(dataset_fn)


def make_train_step(strategy, model, optimizer, example_loss, global_batch: int):
    """``train_step(batch, lr) -> loss``: one synchronous update of every replica from a distributed (x, y) batch.

    Each replica's loss is its per-example losses summed and divided by the *global* batch
    (``compute_average_loss``); Keras' optimizer sums the replicas' gradients, so the step equals
    one single-device step on the whole global batch. The returned loss is the global mean.
    """
    import tensorflow as tf

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.nn.compute_average_loss(example_loss(y, model(x, training=True)), global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(batch, lr):
        optimizer.learning_rate.assign(lr)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=batch), axis=None)

    return train_step


def train_distributed(cfg, args) -> int:
    """The training loop of ``sr_codec.train`` under a ``tf.distribute`` strategy (``args.strategy``)."""
    if args.strategy == "multiworker" and not args.steps:
        raise SystemExit("--strategy multiworker needs --steps N (every worker must run the same number of steps)")
    strategy = make_strategy(args.strategy, args.logical_cpus)
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    chief = is_chief(strategy)
    ckpt_dir = checkpoint_folder(cfg, args)
    with strategy.scope():
        keras.utils.set_random_seed(cfg.seed)
        model = cfg.architecture().build(cfg.scale)
        optimizer = keras.optimizers.Adam(learning_rate=cfg.lr)
        cfg, state = start_state(cfg, args, model, optimizer, ckpt_dir)
        if not args.resume:  # a resumed optimizer is built by load_checkpoint; build its slots in scope here
            optimizer.build(model.trainable_variables)

    replicas = strategy.num_replicas_in_sync
    global_batch = cfg.batch * replicas
    lr_peak = scaled_learning_rate(cfg.lr, replicas, args.lr_scaling)
    lr_floor = scaled_learning_rate(cfg.lr_min, replicas, args.lr_scaling)
    state["distribute"] = {"strategy": args.strategy, "replicas": replicas, "per_replica_batch": cfg.batch,
                           "global_batch": global_batch, "lr_scaling": args.lr_scaling, "lr_peak": lr_peak}
    val_sets = validation_sets(cfg) if chief else {}
    hrs, lrs, _ = build_dataset(cfg, Path(args.cache_dir))
    batches = iter(distributed_patches(strategy, hrs, lrs, cfg, global_batch, cfg.seed + state["step"]))
    example_loss = per_example_loss(cfg, make_loss(cfg))
    print(f"{model.name}: {args.strategy} strategy, {replicas} replicas, global batch {global_batch} "
          f"({cfg.batch} per replica), peak lr {lr_peak:.2e} ({args.lr_scaling} scaling), chief={chief}", flush=True)

    train_step = make_train_step(strategy, model, optimizer, example_loss, global_batch)

    def finished() -> bool:
        return state["step"] >= args.steps if args.steps else state["elapsed"] >= budget

    budget = cfg.minutes * 60.0
    first_step, last_ckpt = state["step"], time.monotonic()
    start_elapsed, start = state["elapsed"], time.monotonic()
    losses: list[float] = []
    step_seconds: list[float] = []  # wall time of each step, input included
    bar = tqdm(total=args.steps or int(budget), initial=state["step"] if args.steps else int(state["elapsed"]),
               unit="step" if args.steps else "s", file=sys.stdout, mininterval=10, disable=not chief)
    while not finished():
        frac = min(1.0, state["step"] / args.steps if args.steps else state["elapsed"] / budget)
        lr = lr_floor + 0.5 * (lr_peak - lr_floor) * (1 + math.cos(math.pi * frac))
        step_start = time.monotonic()
        losses.append(float(train_step(next(batches), tf.constant(lr, tf.float32))))
        state["step"] += 1
        now = time.monotonic()
        step_seconds.append(now - step_start)
        state["elapsed"] = start_elapsed + now - start
        bar.update((state["step"] if args.steps else int(state["elapsed"])) - bar.n)
        if state["step"] % 50 == 0:
            bar.set_postfix(step=state["step"], loss=f"{np.mean(losses[-50:]):.4f}", lr=f"{lr:.1e}")
        if now - last_ckpt > args.checkpoint_minutes * 60 or finished():
            if chief:
                recent_loss = float(np.mean(losses[-200:]))
                bar.write(record_checkpoint(ckpt_dir, model, optimizer, state, cfg, val_sets, recent_loss))
            last_ckpt = time.monotonic()
            start += time.monotonic() - now  # validation and saving are not training time
    bar.close()
    _report(state["step"] - first_step, step_seconds, global_batch, losses, args.strategy, replicas)
    if args.export and chief:
        print("exported", publish_weights(model, cfg, state, Path(args.weights_dir)))
    return 0


def _report(steps: int, step_seconds: list[float], global_batch: int, losses: list[float], strategy: str,
            replicas: int) -> None:
    """One JSON line with the run's throughput over its steps after the first (which traces the graph)."""
    timed = step_seconds[1:]
    result = {"strategy": strategy, "replicas": replicas, "global_batch": global_batch, "steps": steps,
              "last_loss": losses[-1] if losses else None}
    if timed:
        result["steps_per_s"] = round(len(timed) / sum(timed), 3)
        result["samples_per_s"] = round(len(timed) * global_batch / sum(timed), 2)
    print("distributed-run " + json.dumps(result), flush=True)
