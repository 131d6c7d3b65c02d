"""The model manifest (``sr_codec/weights/manifest.json``): one schema, one reader, one writer.

Schema::

    {"models": {model id: {"file", "sha256", "arch", "scale", "config", "role", "parameters",
                           "training", "validation"}},
     "default": {scale: model id},           # codec role: what payloads name for a lossy inner codec
     "upscale_default": {scale: model id},   # clean role: upscale(), payloads of a lossless inner codec
     "pairs": {scale: {"downscaler": id, "upscaler": id}},  # learned sender + the upscaler trained with it
     "looks": {"sharp": {faithful model id: sharp model id}}}  # the receiver's other look of a model

A *look* is the receiver's choice, not the payload's: a payload names the faithful model its encoder
expected, and ``decode(..., look="sharp")`` runs that model's sharp twin (same architecture and
thumbnails, trained adversarially; ``role: "sharp"``, ``faithful``: the id it was trained from).

A downscaler's entry (``arch: "downscaler"``, ``role: "sender"``) also names its ``.tflite``
(``{"file", "sha256"}``), which the encoder runs without TensorFlow.

A payload refers to the model its encoder expected by a 32-bit *tag*: the first 4 bytes of the
weights' sha256 (0 means plain bicubic), so the id costs 5 bytes on the wire.

Reading never imports TensorFlow. The reader caches by the file's modification time and size,
so a manifest written by :func:`add_model` (training) is seen at once by the same process.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path

from ..errors import ModelError

BICUBIC = "bicubic"
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MANIFEST_FILE = "manifest.json"
ROLES = {"codec": "default", "clean": "upscale_default"}
DOWNSCALER_ARCH = "downscaler"  # the learned sender's D (sr_codec.sender.learned); every other arch upscales
"""Model role -> the manifest table of per-scale defaults it fills."""
LOOKS = ("faithful", "sharp")
"""What ``decode(look=...)`` accepts: the payload's own (faithful) model, or its sharp twin."""

_read_cache: dict[str, tuple[tuple[int, int], dict]] = {}
_read_lock = threading.Lock()


def _empty() -> dict:
    return {"models": {}, "default": {}, "upscale_default": {}}


def read_manifest(weights_dir: Path | str = WEIGHTS_DIR) -> dict:
    """The manifest of ``weights_dir`` (an empty one when there is none). Treat the result as read-only."""
    path = Path(weights_dir) / MANIFEST_FILE
    try:
        stat = path.stat()
    except OSError:
        return _empty()
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = str(path.resolve())
    with _read_lock:
        cached = _read_cache.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read model manifest {path}: {exc}") from exc
        for table, value in _empty().items():
            manifest.setdefault(table, value)
        _read_cache[key] = (stamp, manifest)
        return manifest


def add_model(weights_dir: Path | str, model_id: str, entry: dict, *, make_default: bool) -> None:
    """Write ``entry`` for ``model_id`` into the manifest of ``weights_dir``, atomically.

    ``make_default``: the model becomes its scale's default for its role (``entry["role"]``, see :data:`ROLES`).
    """
    weights_dir = Path(weights_dir)
    weights_dir.mkdir(parents=True, exist_ok=True)
    manifest = copy.deepcopy(read_manifest(weights_dir))
    manifest["models"][model_id] = entry
    if make_default:
        manifest[ROLES[entry.get("role", "codec")]][str(int(entry["scale"]))] = model_id
    if not manifest["upscale_default"]:
        del manifest["upscale_default"]  # the file stays as training wrote it before clean roles existed
    _write(weights_dir, manifest)


def set_pair(weights_dir: Path | str, scale: int, down_id: str, up_id: str) -> None:
    """Make (``down_id``, ``up_id``), both already in the manifest, the learned pair of ``scale``."""
    weights_dir = Path(weights_dir)
    manifest = copy.deepcopy(read_manifest(weights_dir))
    for model_id in (down_id, up_id):
        if model_id not in manifest["models"]:
            raise ModelError(f"cannot pair {model_id!r}: not in the manifest")
    manifest.setdefault("pairs", {})[str(int(scale))] = {"downscaler": down_id, "upscaler": up_id}
    _write(weights_dir, manifest)


def set_look(weights_dir: Path | str, look: str, faithful_id: str, look_id: str) -> None:
    """Make ``look_id`` (already in the manifest) the ``look`` twin of ``faithful_id``."""
    weights_dir = Path(weights_dir)
    if look not in LOOKS[1:]:
        raise ModelError(f"unknown look {look!r}; looks with twins: {', '.join(LOOKS[1:])}")
    manifest = copy.deepcopy(read_manifest(weights_dir))
    for model_id in (faithful_id, look_id):
        if model_id not in manifest["models"]:
            raise ModelError(f"cannot set look of {model_id!r}: not in the manifest")
    manifest.setdefault("looks", {}).setdefault(look, {})[faithful_id] = look_id
    _write(weights_dir, manifest)


def model_for_look(model_id: str, look: str, weights_dir: Path = WEIGHTS_DIR) -> str | None:
    """The model that shows ``model_id``'s payloads in ``look``: itself for "faithful", its twin or None."""
    if look == LOOKS[0]:
        return model_id
    return read_manifest(weights_dir).get("looks", {}).get(look, {}).get(model_id)


def set_model_fields(weights_dir: Path | str, fields: dict[str, dict]) -> None:
    """Merge ``fields`` (model id -> {field: value}) into those models' entries, atomically."""
    weights_dir = Path(weights_dir)
    manifest = copy.deepcopy(read_manifest(weights_dir))
    for model_id, values in fields.items():
        if model_id not in manifest["models"]:
            raise ModelError(f"cannot update {model_id!r}: not in the manifest")
        manifest["models"][model_id].update(values)
    _write(weights_dir, manifest)


def _write(weights_dir: Path, manifest: dict) -> None:
    path = weights_dir / MANIFEST_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def default_model_id(scale: int, weights_dir: Path = WEIGHTS_DIR) -> str:
    """The model ``decode``/``upscale`` use for ``scale``; ``"bicubic"`` when none is shipped."""
    return read_manifest(weights_dir)["default"].get(str(int(scale)), BICUBIC)


def upscale_model_id(scale: int, weights_dir: Path = WEIGHTS_DIR) -> str:
    """The model :func:`sr_codec.upscale` uses on clean low-res at ``scale``.

    A clean-role model (trained on clean low-res only) when one is shipped, else :func:`default_model_id`.
    Decode runs whatever model the payload's tag names: the codec role for a lossy inner codec, this one
    for a lossless inner codec.
    """
    return read_manifest(weights_dir)["upscale_default"].get(str(int(scale))) or default_model_id(scale, weights_dir)


def model_info(model_id: str, weights_dir: Path = WEIGHTS_DIR) -> dict:
    """The manifest entry of ``model_id``; :class:`ModelError` when it is unknown."""
    try:
        return read_manifest(weights_dir)["models"][model_id]
    except KeyError:
        raise ModelError(f"unknown model {model_id!r}; shipped: {available_model_ids(weights_dir)}") from None


def available_model_ids(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    return sorted(read_manifest(weights_dir)["models"])


def upscaler_ids(weights_dir: Path = WEIGHTS_DIR) -> list[str]:
    """The models a receiver runs: every manifest model but the sender's downscalers."""
    models = read_manifest(weights_dir)["models"]
    return sorted(m for m, info in models.items() if info.get("arch") != DOWNSCALER_ARCH)


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
