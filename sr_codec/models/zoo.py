"""Registry of the shipped pretrained weights (``sr_codec/weights/manifest.json``).

Each entry names a weights file, its sha256, the architecture and its config. A payload
refers to the model its encoder expected by a 32-bit *tag*: the first 4 bytes of the
weights' sha256 (0 means plain bicubic), so the id costs 5 bytes on the wire.

Reading the manifest never imports TensorFlow; :func:`load_model` does, once per
(model id, device), and keeps the model in the process-wide cache.
"""

from __future__ import annotations

import hashlib
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import ModelError

BICUBIC = "bicubic"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

_cache: dict[tuple[str, str, str], Any] = {}
_cache_lock = threading.Lock()


@lru_cache(maxsize=8)
def read_manifest(weights_dir: Path = WEIGHTS_DIR) -> dict:
    path = Path(weights_dir) / "manifest.json"
    if not path.exists():
        return {"models": {}, "default": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
    manifest.setdefault("models", {})
    manifest.setdefault("default", {})
    return manifest


def default_model_id(scale: int, weights_dir: Path = WEIGHTS_DIR) -> str:
    """The model ``decode``/``upscale`` use for ``scale``; ``"bicubic"`` when none is shipped."""
    return read_manifest(weights_dir)["default"].get(str(int(scale)), BICUBIC)


def upscale_model_id(scale: int, weights_dir: Path = WEIGHTS_DIR) -> str:
    """The model :func:`sr_codec.upscale` uses on clean low-res at ``scale``.

    A clean-role model (trained on clean low-res only) when one is shipped, else :func:`default_model_id`.
    Decode runs whatever model the payload's tag names: the codec role for a lossy inner codec, this one
    for a lossless inner codec.
    """
    manifest = read_manifest(weights_dir)
    return manifest.get("upscale_default", {}).get(str(int(scale))) or default_model_id(scale, weights_dir)


def model_info(model_id: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    try:
        return read_manifest(weights_dir)["models"][model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; shipped: {available_model_ids(weights_dir)}") from None


def available_model_ids(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    return sorted(read_manifest(weights_dir)["models"])


def tag_for(model_id: str, weights_dir: Path = WEIGHTS_DIR) -> int:
    """The 32-bit wire tag of ``model_id`` (0 for bicubic)."""
    if model_id == BICUBIC:
        return 0
    return int(model_info(model_id, weights_dir)["sha256"][:8], 16)


def model_id_for_tag(tag: int, weights_dir: Path = WEIGHTS_DIR) -> str | None:
    """Inverse of :func:`tag_for`; ``None`` when no shipped weights carry that tag."""
    if tag == 0:
        return BICUBIC
    for model_id, info in read_manifest(weights_dir)["models"].items():
        if int(info["sha256"][:8], 16) == tag:
            return model_id
    return None


def build_architecture(info: dict):
    """An untrained Keras model for a manifest entry (imports TensorFlow)."""
    cfg = info.get("config", {})
    if info["arch"] == "fast":
        from .fast import fast_sr

        return fast_sr(int(info["scale"]), int(cfg["width"]), int(cfg["blocks"]))
    if info["arch"] == "autoencoder":
        from .autoencoder import seed_sr

        return seed_sr(int(info["scale"]), bool(cfg.get("transpose", False)))
    raise ModelError(f"unknown architecture {info['arch']!r}")


def load_model(model_id: str, device: str = "cpu", weights_dir: Path = WEIGHTS_DIR):
    """The Keras model for ``model_id`` with its weights verified and loaded, built once per device."""
    key = (str(Path(weights_dir)), model_id, device)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        info = model_info(model_id, weights_dir)
        path = Path(weights_dir) / info["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"weights file for {model_id} missing: {exc}") from exc
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ModelError(f"weights file {path.name} does not match its sha256 in the manifest")
        import tensorflow as tf

        try:
            with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
                model = build_architecture(info)
                model.load_weights(path)
        except Exception as exc:  # h5py / keras errors on a damaged file
            raise ModelError(f"cannot load weights {path.name}: {exc}") from exc
        _cache[key] = model
        return model
