"""Checkpoints (start, resume or initialise a run) and publishing trained weights into a weights folder's manifest."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..zoo import manifest as zoo
from .config import TrainConfig
from .evaluate import validate


def same_architecture(ckpt_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The checkpoint's saved config; exits with a message (before any weights load) when its network differs."""
    saved = TrainConfig.from_saved(json.loads((ckpt_dir / "state.json").read_text())["config"])
    mine, theirs = cfg.architecture(), saved.architecture()
    if (saved.arch, saved.scale, theirs) != (cfg.arch, cfg.scale, mine):
        raise SystemExit(f"checkpoint in {ckpt_dir} is for {saved.arch} x{saved.scale} {theirs.tag()}, "
                         f"not {cfg.arch} x{cfg.scale} {mine.tag()}")
    return saved


def checkpoint_folder(cfg: TrainConfig, args) -> Path:
    """``--checkpoint-dir``, or ``checkpoints/<arch>_x<scale>[_clean]``."""
    return Path(args.checkpoint_dir or f"checkpoints/{cfg.arch}_x{cfg.scale}{'_clean' if cfg.role == 'clean' else ''}")


def start_state(cfg: TrainConfig, args, model, optimizer, ckpt_dir: Path) -> tuple[TrainConfig, dict]:
    """The run's (config, state): fresh, resumed from ``ckpt_dir`` (``--resume``/``--export-only``: weights and
    optimizer loaded, the saved settings kept, only the time budget may grow), or started from ``--init-from``'s
    weights. Exits with a message when a checkpoint is missing or of another network."""
    state = {"step": 0, "elapsed": 0.0, "config": asdict(cfg), "validation": {}, "history": []}
    resuming = args.resume or args.export_only
    if not resuming and (ckpt_dir / "state.json").exists() and not getattr(args, "overwrite", False):
        # A quick try must never replace a committed run's checkpoint (it once replaced 44,087 steps by 134).
        raise SystemExit(f"{ckpt_dir} holds another run's checkpoint: pass --resume to continue it, "
                         "--overwrite to replace it, or --checkpoint-dir for a new folder")
    if resuming:
        if not (ckpt_dir / "state.json").exists():
            raise SystemExit(f"no checkpoint in {ckpt_dir}")
        saved = same_architecture(ckpt_dir, cfg)
        state = load_checkpoint(ckpt_dir, model, optimizer)
        cfg = replace(saved, minutes=cfg.minutes)
        state["config"] = asdict(cfg)
    elif args.init_from:
        init_dir = Path(args.init_from)
        if not (init_dir / "state.json").exists():
            raise SystemExit(f"no checkpoint in {init_dir}")
        same_architecture(init_dir, cfg)
        model.load_weights(init_dir / "model.weights.h5")
        init_state = json.loads((init_dir / "state.json").read_text())
        cfg.init_from = {"checkpoint": init_dir.name, "steps": init_state.get("step"),
                         "wall_time_s": round(init_state.get("elapsed", 0.0), 1)}
        state["config"] = asdict(cfg)
    return cfg, state


def save_checkpoint(path: Path, model, optimizer, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    tmp = path / "model.weights.h5.tmp.weights.h5"
    model.save_weights(tmp)
    os.replace(tmp, path / "model.weights.h5")
    opt_vars = {f"v{i}": np.asarray(v) for i, v in enumerate(optimizer.variables)}
    np.savez(path / "optimizer.tmp.npz", **opt_vars)
    os.replace(path / "optimizer.tmp.npz", path / "optimizer.npz")
    (path / "state.json").write_text(json.dumps(state, indent=1))


def record_checkpoint(ckpt_dir: Path, model, optimizer, state: dict, cfg: TrainConfig,
                      val_sets: dict[str, list[np.ndarray]], recent_loss: float) -> str:
    """Validate, append the result to ``state["history"]``, save the checkpoint; the line to print."""
    state["validation"] = validate(model, cfg, val_sets)
    state["history"].append({"step": state["step"], "elapsed": round(state["elapsed"]), "loss": recent_loss,
                             **state["validation"]})
    save_checkpoint(ckpt_dir, model, optimizer, state)
    return f"checkpoint step {state['step']} t={state['elapsed']:.0f}s {state['validation']}"


def load_checkpoint(path: Path, model, optimizer) -> dict:
    model.load_weights(path / "model.weights.h5")
    optimizer.build(model.trainable_variables)
    blob = np.load(path / "optimizer.npz")
    for i, v in enumerate(optimizer.variables):
        v.assign(blob[f"v{i}"])
    return json.loads((path / "state.json").read_text())


def publish_weights(model, cfg: TrainConfig, state: dict, weights_dir: Path) -> str:
    """Write ``<model_id>.weights.h5`` and its manifest entry (:func:`sr_codec.zoo.manifest.add_model`); the model id."""
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    tmp = weights_dir / "export.tmp.weights.h5"
    model.save_weights(tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    arch = cfg.architecture()
    role_tag = "-clean" if cfg.role == "clean" else ""
    model_id = f"{cfg.arch}-x{cfg.scale}-{arch.tag()}{role_tag}-{digest[:8]}"
    final = weights_dir / f"{model_id}.weights.h5"
    os.replace(tmp, final)
    entry = {
        "file": final.name,
        "sha256": digest,
        "arch": cfg.arch,
        "scale": cfg.scale,
        "config": arch.get_config(),
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
    # Codec-role weights decode payloads (and upscale when no clean model exists); clean-role weights
    # are what upscale() uses on clean low-res images. Reference architectures never become defaults.
    zoo.add_model(weights_dir, model_id, entry, make_default=arch.becomes_default)
    return model_id
