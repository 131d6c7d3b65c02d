"""``python -m sr_codec.export --format savedmodel|tflite [--model ID | --scale S] --out DIR``.

Writes ``DIR/<model id>/1/`` (a SavedModel, servable with ``tensorflow_model_server
--model_base_path=DIR/<model id>``; signature ``serving_default``: float32 ``low_res`` [N, H, W, 3]
in 0..1 -> ``high_res`` [N, H*s, W*s, 3]) or ``DIR/<model id>.tflite`` (input [1, H, W, 3], H and W
dynamic unless ``--size H W``). The graphs themselves are built by :mod:`sr_codec.nn.portable`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ModelError, SrCodecError
from ..zoo import manifest as zoo

FORMATS = ("savedmodel", "tflite")


def _load(model_id: str | None, scale: int | None, weights_dir: Path):
    if model_id is None:
        model_id = zoo.default_model_id(scale or 4, weights_dir)
        if model_id == zoo.BICUBIC:
            raise ModelError(f"no trained x{scale or 4} model in {weights_dir}; nothing to export")
    from ..nn.loading import load_model  # imports TensorFlow

    return model_id, load_model(model_id, "cpu", weights_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sr_codec.export", description="Export a trained network as a SavedModel or a TFLite model.")
    p.add_argument("--format", required=True, choices=FORMATS)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--model", help="model id from the manifest (default: the default model of --scale)")
    which.add_argument("--scale", type=int, default=None, help="export the default model of this scale (default 4)")
    p.add_argument("--out", required=True, type=Path, help="output directory")
    p.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                   help="tflite: fix the low-res input size instead of dynamic H/W")
    p.add_argument("--weights-dir", type=Path, default=zoo.WEIGHTS_DIR)
    args = p.parse_args(argv)
    from ..nn.portable import save_savedmodel, tflite_bytes  # imports TensorFlow

    try:
        model_id, model = _load(args.model, args.scale, args.weights_dir)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.format == "savedmodel":
            target = save_savedmodel(model, args.out / model_id / "1")  # TF Serving: <base path>/<version>/
        else:
            target = args.out / f"{model_id}.tflite"
            target.write_bytes(tflite_bytes(model, tuple(args.size) if args.size else None))
    except SrCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(target)
    return 0
