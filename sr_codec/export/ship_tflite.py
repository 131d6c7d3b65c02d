"""Write the shipped ``.tflite`` files of every upscaler in the manifest and record them there.

``python -m sr_codec.export.ship_tflite [--model ID ...] [--precision fp32|fp16|int8-dynamic|int8-full|int8-trunk]
[--calibration DIR ...] [--weights-dir DIR]``

For each model (default: every manifest model except the sender's downscalers, which
``python -m sr_codec.train.pair --export`` writes with their own contract): load its Keras weights
(sha256-checked), convert with :func:`sr_codec.nn.portable.tflite_bytes` (dynamic H and W) and record
two fields in its manifest entry::

    "tflite":      {"file", "sha256", "precision", "geometry": {"radius", "multiple", "floats_per_pixel"},
                    "input", "output"[, "calibration"]}   # the file the CPU runtime runs
    "tflite_fp32": {"file", "sha256", "precision": "fp32"}  # the float32 file, for platforms that need float

The float32 file is ``<model id>.tflite``; an existing one that matches its recorded sha256 is kept
as it is (never rewritten). A quantized file is ``<model id>.<precision>.tflite``; the calibrated
precisions (``int8-full``, ``int8-trunk``) are calibrated on :func:`sr_codec.export.calibration.representative_low_res`
(training photos made into the model's role's low-res). With ``--precision fp32`` both fields name the
same file. ``geometry`` is :func:`sr_codec.nn.geometry.geometry` of the Keras model, so the LiteRT
runtime (:mod:`sr_codec.receiver.runtime.litert`) tiles without Keras. Other fields are never changed.
Imports TensorFlow (a trainer's / exporter's tool).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from ..errors import ModelError, SrCodecError
from ..zoo import manifest as zoo

TFLITE_INPUT = "float32 [1, H, W, 3], RGB in 0..1, H and W dynamic"
TFLITE_OUTPUT = "float32 [1, H*scale, W*scale, 3], RGB in 0..1 (clipped)"
PRECISIONS = ("fp32", "fp16", "int8-dynamic", "int8-full", "int8-trunk")  # = nn.portable.TFLITE_PRECISIONS (no TF import here)


def tflite_file(model_id: str, precision: str) -> str:
    """The shipped file name of ``model_id`` at ``precision``: ``<id>.tflite`` for float32, else ``<id>.<precision>.tflite``."""
    return f"{model_id}.tflite" if precision == "fp32" else f"{model_id}.{precision}.tflite"


def tflite_field(model_id: str, content: bytes, precision: str, model, calibration: dict | None = None) -> dict:
    """The manifest's ``tflite`` field for ``content`` converted from the Keras ``model``."""
    from ..nn.geometry import geometry

    geo = geometry(model)
    field = {
        "file": tflite_file(model_id, precision),
        "sha256": hashlib.sha256(content).hexdigest(),
        "precision": precision,
        "geometry": {"radius": geo.radius, "multiple": geo.multiple,
                     "floats_per_pixel": round(geo.floats_per_pixel, 4)},
        "input": TFLITE_INPUT,
        "output": TFLITE_OUTPUT,
    }
    if calibration:
        field["calibration"] = calibration
    return field


def _kept_fp32(model_id: str, weights_dir: Path) -> dict | None:
    """The recorded float32 file of ``model_id`` when it is present and matches its sha256 (kept as it is)."""
    info = zoo.model_info(model_id, weights_dir)
    for key in ("tflite_fp32", "tflite"):
        entry = info.get(key)
        if entry and entry.get("precision", "fp32") == "fp32" and entry["file"] == tflite_file(model_id, "fp32"):
            path = weights_dir / entry["file"]
            if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]:
                return {"file": entry["file"], "sha256": entry["sha256"], "precision": "fp32"}
    return None


def ship(model_ids: list[str] | None = None, precision: str = "fp32", weights_dir: Path = zoo.WEIGHTS_DIR,
         calibration: list[Path] | None = None, patches: int | None = None) -> dict[str, dict]:
    """Convert and write the ``.tflite`` files of ``model_ids`` (default: every upscaler), update the manifest.

    Returns the new ``tflite`` field of each model.
    """
    weights_dir = Path(weights_dir)
    upscalers = zoo.upscaler_ids(weights_dir)
    for model_id in model_ids or ():  # every id checked before TensorFlow is imported
        if model_id not in upscalers:
            zoo.model_info(model_id, weights_dir)  # unknown ids: the manifest's own error
            raise ModelError(f"{model_id} is a sender's downscaler; python -m sr_codec.train.pair --export writes it")
    from ..nn.loading import load_model  # imports TensorFlow
    from ..nn.portable import CALIBRATED, tflite_bytes
    from .calibration import PATCHES, representative_low_res

    fields = {}
    for model_id in model_ids or upscalers:
        model = load_model(model_id, "cpu", weights_dir)
        fp32 = _kept_fp32(model_id, weights_dir)
        if fp32 is None:
            content = tflite_bytes(model, precision="fp32")
            (weights_dir / tflite_file(model_id, "fp32")).write_bytes(content)
            fp32 = {"file": tflite_file(model_id, "fp32"), "sha256": hashlib.sha256(content).hexdigest(),
                    "precision": "fp32"}
            print(f"{fp32['file']}: {len(content)} bytes, fp32", flush=True)
        if precision == "fp32":
            content = (weights_dir / fp32["file"]).read_bytes()
            field = tflite_field(model_id, content, precision, model)
        else:
            calibrated = None
            representative = None
            if precision in CALIBRATED:
                count = patches or PATCHES
                inputs = representative_low_res(model_id, weights_dir, calibration, count)
                representative = lambda inputs=inputs: inputs  # noqa: E731
                calibrated = {"patches": count, "side": int(inputs[0].shape[1]), "seed": 0,
                              "data": [Path(d).name for d in calibration] if calibration else ["train"],
                              "role": zoo.model_info(model_id, weights_dir).get("role", "codec")}
            content = tflite_bytes(model, precision=precision, representative=representative)
            (weights_dir / tflite_file(model_id, precision)).write_bytes(content)
            field = tflite_field(model_id, content, precision, model, calibrated)
            print(f"{field['file']}: {len(content)} bytes, {precision}", flush=True)
        fields[model_id] = {"tflite": field, "tflite_fp32": fp32}
    zoo.set_model_fields(weights_dir, fields)
    return {model_id: values["tflite"] for model_id, values in fields.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sr_codec.export.ship_tflite", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=None, help="model ids (default: every upscaler in the manifest)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="the CPU runtime's file (the float32 file is kept or written too)")
    p.add_argument("--calibration", type=Path, nargs="+", default=None,
                   help="folders of training photos for int8-full / int8-trunk (default ../shared/data/train)")
    p.add_argument("--patches", type=int, default=None, help="calibration patches per model (default 192)")
    p.add_argument("--weights-dir", type=Path, default=zoo.WEIGHTS_DIR)
    args = p.parse_args(argv)
    try:
        ship(args.model, args.precision, args.weights_dir, args.calibration, args.patches)
    except SrCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
