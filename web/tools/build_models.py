"""Export the browser's models and write their manifest: ``python web/tools/build_models.py [--skip-export]``.

For every model named by ``manifest["default"]``, ``manifest["upscale_default"]`` and the upscalers of
``manifest["pairs"]`` (the models the encoder tags payloads with) this runs the project's exporter,
``python -m sr_codec.export --format tflite --model ID --out sr_codec/weights`` (float32, dynamic H/W),
then writes ``sr_codec/weights/web_manifest.json``: model id -> file, scale, wire tag, the tflite's
sha256, the tiling margin, and the input/output contract the JS decoder (web/src/model.js) relies on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WEIGHTS_DIR = REPO / "sr_codec" / "weights"
WEB_MANIFEST = "web_manifest.json"
TILE_SAFETY = 2  # low-res pixels beyond the receptive field, as sr_codec.runtime keeps


def receptive_radius(info: dict) -> int:
    """Low-res pixels an output pixel depends on, for the 'fast' architecture (3x3 convs; bicubic reaches 2)."""
    if info["arch"] != "fast":
        raise SystemExit(f"only the 'fast' architecture is exported for the browser, not {info['arch']!r}")
    convs = 2 + 2 * int(info["config"]["blocks"])  # head, two per block, to_subpixels
    return max(convs, 2) + 1  # + half a pixel, rounded up (sr_codec.runtime.geometry)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--skip-export", action="store_true", help="only rewrite the manifest from existing .tflite files")
    args = parser.parse_args(argv)
    manifest = json.loads((args.weights_dir / "manifest.json").read_text())
    wanted = sorted(set(manifest["default"].values()) | set(manifest.get("upscale_default", {}).values())
                    | {pair["upscaler"] for pair in manifest.get("pairs", {}).values()})
    models = {}
    for model_id in wanted:
        info = manifest["models"][model_id]
        target = args.weights_dir / f"{model_id}.tflite"
        if not args.skip_export:
            subprocess.run([sys.executable, "-m", "sr_codec.export", "--format", "tflite", "--model", model_id,
                            "--out", str(args.weights_dir), "--weights-dir", str(args.weights_dir)], check=True, cwd=REPO)
        models[model_id] = {
            "file": target.name,
            "scale": int(info["scale"]),
            "role": info.get("role", "codec"),
            "tag": int(info["sha256"][:8], 16),
            "weights_sha256": info["sha256"],
            "tflite_sha256": hashlib.sha256(target.read_bytes()).hexdigest(),
            "tflite_bytes": target.stat().st_size,
            "tile_margin": receptive_radius(info) + TILE_SAFETY,
        }
    web = {
        "format": 1,
        "runtime": "LiteRT.js (@litertjs/core); one .tflite per model, float32, builtins only",
        "input": {"name": "low_res", "dtype": "float32", "shape": [1, -1, -1, 3], "layout": "NHWC",
                  "values": "RGB / 255 (0..1)"},
        "output": {"dtype": "float32", "shape": [1, "H*scale", "W*scale", 3], "layout": "NHWC",
                   "values": "0..1 (clipped in the graph); uint8 = round(y * 255)"},
        "default": dict(sorted(manifest["default"].items())),
        "upscale_default": dict(sorted(manifest.get("upscale_default", {}).items())),
        "models": models,
    }
    (args.weights_dir / WEB_MANIFEST).write_text(json.dumps(web, indent=1) + "\n")
    print(args.weights_dir / WEB_MANIFEST)
    return 0


if __name__ == "__main__":
    sys.exit(main())
