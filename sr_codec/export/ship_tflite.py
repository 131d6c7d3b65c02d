"""Write the shipped ``.tflite`` of every upscaler in the manifest and record it there.

``python -m sr_codec.export.ship_tflite [--model ID ...] [--precision fp32|fp16|int8] [--weights-dir DIR]``

For each model (default: every manifest model except the sender's downscalers, which
``python -m sr_codec.train.pair --export`` writes with their own contract): load its Keras weights
(sha256-checked), convert with :func:`sr_codec.nn.portable.tflite_bytes` (dynamic H and W), write
``<model id>.tflite`` beside the weights and add to its manifest entry::

    "tflite": {"file": ..., "sha256": ..., "precision": ..., "geometry": {"radius", "multiple",
               "floats_per_pixel"}, "input": ..., "output": ...}

``geometry`` is :func:`sr_codec.nn.geometry.geometry` of the Keras model, so the LiteRT runtime
(:mod:`sr_codec.receiver.runtime.litert`) tiles without Keras. Other fields are never changed.
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


def tflite_field(model_id: str, content: bytes, precision: str, model) -> dict:
    """The manifest's ``tflite`` field for ``content`` converted from the Keras ``model``."""
    from ..nn.geometry import geometry

    geo = geometry(model)
    return {
        "file": f"{model_id}.tflite",
        "sha256": hashlib.sha256(content).hexdigest(),
        "precision": precision,
        "geometry": {"radius": geo.radius, "multiple": geo.multiple,
                     "floats_per_pixel": round(geo.floats_per_pixel, 4)},
        "input": TFLITE_INPUT,
        "output": TFLITE_OUTPUT,
    }


def ship(model_ids: list[str] | None = None, precision: str = "fp32",
         weights_dir: Path = zoo.WEIGHTS_DIR) -> dict[str, dict]:
    """Convert and write the ``.tflite`` of ``model_ids`` (default: every upscaler), update the manifest; the new fields."""
    weights_dir = Path(weights_dir)
    upscalers = zoo.upscaler_ids(weights_dir)
    for model_id in model_ids or ():  # every id checked before TensorFlow is imported
        if model_id not in upscalers:
            zoo.model_info(model_id, weights_dir)  # unknown ids: the manifest's own error
            raise ModelError(f"{model_id} is a sender's downscaler; python -m sr_codec.train.pair --export writes it")
    from ..nn.loading import load_model  # imports TensorFlow
    from ..nn.portable import tflite_bytes

    fields = {}
    for model_id in model_ids or upscalers:
        model = load_model(model_id, "cpu", weights_dir)
        content = tflite_bytes(model, precision=precision)
        (weights_dir / f"{model_id}.tflite").write_bytes(content)
        fields[model_id] = {"tflite": tflite_field(model_id, content, precision, model)}
        print(f"{model_id}.tflite: {len(content)} bytes, {precision}", flush=True)
    zoo.set_model_fields(weights_dir, fields)
    return {model_id: values["tflite"] for model_id, values in fields.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sr_codec.export.ship_tflite", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", nargs="+", default=None, help="model ids (default: every upscaler in the manifest)")
    p.add_argument("--precision", choices=["fp32", "fp16", "int8"], default="fp32")
    p.add_argument("--weights-dir", type=Path, default=zoo.WEIGHTS_DIR)
    args = p.parse_args(argv)
    try:
        ship(args.model, args.precision, args.weights_dir)
    except SrCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
