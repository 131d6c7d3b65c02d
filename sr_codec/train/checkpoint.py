"""Checkpoints (resume a run) and publishing trained weights into a weights folder's manifest."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..zoo import manifest as zoo
from .config import TrainConfig


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
