"""Loading shipped weights: verified against the manifest's sha256, built once per (folder, model id, device)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from ..errors import ModelError
from ..zoo import manifest as zoo

_cache: dict[tuple[str, str, str], Any] = {}
_cache_lock = threading.Lock()


def build_architecture(info: dict):
    """An untrained Keras model for a manifest entry (imports TensorFlow)."""
    from .architectures import from_manifest

    return from_manifest(info).build(int(info["scale"]))


def load_model(model_id: str, device: str = "cpu", weights_dir: Path = zoo.WEIGHTS_DIR):
    """The Keras model for ``model_id`` with its weights verified and loaded, built once per device."""
    key = (str(Path(weights_dir)), model_id, device)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
        info = zoo.model_info(model_id, weights_dir)
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
        except ModelError:
            raise
        except Exception as exc:  # h5py / keras errors on a damaged file
            raise ModelError(f"cannot load weights {path.name}: {exc}") from exc
        _cache[key] = model
        return model
