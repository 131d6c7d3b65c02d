"""Write the browser's model manifest: ``python web/tools/build_models.py [--precision shipped|fp32]``.

For every model named by ``manifest["default"]``, ``manifest["upscale_default"]`` and the upscalers of
``manifest["pairs"]`` (the models the encoder tags payloads with), and their twins in ``manifest["looks"]``
(``decode(look="sharp")``; the table is copied as ``looks``), this writes
``sr_codec/weights/web_manifest.json``: model id -> file, precision, scale, wire tag, the tflite's sha256,
the tiling margin, and the input/output contract the JS decoder (web/src/model.js) relies on.

Nothing is converted here: the files are the ones ``python -m sr_codec.export.ship_tflite`` shipped and
the Python receiver runs, checked against the sha256 in ``manifest.json``. ``--precision shipped`` (the
default) takes each model's ``tflite`` field, the CPU runtime's file (int8-trunk where one is shipped),
so the browser and Python run the same file (docs/format.md: they agree within 2 levels);
``--precision fp32`` takes ``tflite_fp32``, the float32 file. The tile margin is the manifest's
``tflite.geometry`` (its radius + 2 safety pixels, rounded up to ``multiple``: :attr:`Geometry.margin`),
not recomputed from the architecture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from sr_codec.nn.geometry import Geometry  # noqa: E402  (no TensorFlow)

WEIGHTS_DIR = REPO / "sr_codec" / "weights"
WEB_MANIFEST = "web_manifest.json"
FIELDS = {"shipped": "tflite", "fp32": "tflite_fp32"}


def tile_margin(info: dict) -> int:
    """The low-res overlap a window needs, from the manifest's recorded geometry (as the Python runtime tiles)."""
    geo = info["tflite"]["geometry"]
    return Geometry(radius=int(geo["radius"]), multiple=int(geo["multiple"]),
                    floats_per_pixel=float(geo["floats_per_pixel"])).margin


def shipped_file(info: dict, model_id: str, precision: str, weights_dir: Path) -> tuple[dict, bytes]:
    """(manifest field, verified bytes) of the file the browser is to load."""
    field = info.get(FIELDS[precision]) or (info["tflite"] if info["tflite"]["precision"] == "fp32" else None)
    if field is None:
        raise SystemExit(f"{model_id} has no {FIELDS[precision]} file in the manifest")
    content = (weights_dir / field["file"]).read_bytes()
    if hashlib.sha256(content).hexdigest() != field["sha256"]:
        raise SystemExit(f"{field['file']} does not match its sha256 in the manifest")
    return field, content


def build(weights_dir: Path = WEIGHTS_DIR, precision: str = "shipped") -> dict:
    manifest = json.loads((weights_dir / "manifest.json").read_text())
    wanted = sorted(set(manifest["default"].values()) | set(manifest.get("upscale_default", {}).values())
                    | {pair["upscaler"] for pair in manifest.get("pairs", {}).values()})
    looks = {look: {faithful: twin for faithful, twin in sorted(table.items()) if faithful in wanted}
             for look, table in sorted(manifest.get("looks", {}).items())}
    wanted = sorted(set(wanted) | {twin for table in looks.values() for twin in table.values()})
    models = {}
    for model_id in wanted:
        info = manifest["models"][model_id]
        field, content = shipped_file(info, model_id, precision, weights_dir)
        models[model_id] = {
            "file": field["file"],
            "precision": field.get("precision", "fp32"),
            "scale": int(info["scale"]),
            "role": info.get("role", "codec"),
            "tag": int(info["sha256"][:8], 16),
            "weights_sha256": info["sha256"],
            "tflite_sha256": field["sha256"],
            "tflite_bytes": len(content),
            "tile_margin": tile_margin(info),
        }
    precisions = sorted({m["precision"] for m in models.values()})
    return {
        "format": 1,
        "runtime": f"LiteRT.js (@litertjs/core); one .tflite per model ({', '.join(precisions)}: float32 in and out), "
                   "builtins only",
        "input": {"name": "low_res", "dtype": "float32", "shape": [1, -1, -1, 3], "layout": "NHWC",
                  "values": "RGB / 255 (0..1)"},
        "output": {"dtype": "float32", "shape": [1, "H*scale", "W*scale", 3], "layout": "NHWC",
                   "values": "0..1 (clipped in the graph); uint8 = round(y * 255)"},
        "default": dict(sorted(manifest["default"].items())),
        "upscale_default": dict(sorted(manifest.get("upscale_default", {}).items())),
        "looks": looks,
        "models": models,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights-dir", type=Path, default=WEIGHTS_DIR)
    parser.add_argument("--precision", choices=sorted(FIELDS), default="shipped",
                        help="shipped: the file the Python receiver runs (default); fp32: the float32 file")
    args = parser.parse_args(argv)
    web = build(args.weights_dir, args.precision)
    (args.weights_dir / WEB_MANIFEST).write_text(json.dumps(web, indent=1) + "\n")
    print(args.weights_dir / WEB_MANIFEST)
    return 0


if __name__ == "__main__":
    sys.exit(main())
