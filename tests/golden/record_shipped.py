"""Record what the golden payloads decode to with the shipped ``.tflite`` files: ``python tests/golden/record_shipped.py``.

The pixel contract (docs/format.md) makes the shipped file the reference: this writes
``shipped_decodes.npz`` (every network decode of the corpus) and ``shipped.json`` (per decode: the model
and the sha256 of the ``.tflite`` that made it). The payloads themselves and ``corpus.json`` (what the
earlier, Keras-era receivers decoded) are never rewritten. Run it after shipping a new ``.tflite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import sr_codec
from sr_codec.zoo import manifest as zoo

HERE = Path(__file__).resolve().parent
MODELS = {"payload": None, "default": "default"}


def main() -> int:
    corpus = json.loads((HERE / "corpus.json").read_text())["payloads"]
    decodes: dict[str, np.ndarray] = {}
    files: dict[str, dict] = {}
    for name, entry in sorted(corpus.items()):
        payload = (HERE / f"{name}.srp").read_bytes()
        for label, model in MODELS.items():
            recorded = entry["decodes"][label]
            if recorded["model_id"] == zoo.BICUBIC:
                continue
            model_id = recorded["model_id"]  # the model the corpus recorded, run by its id
            decodes[f"{name}/{label}"] = sr_codec.decode(payload, model=model_id, device="cpu")
            tflite = zoo.model_info(model_id)["tflite"]
            files[f"{name}/{label}"] = {"model_id": model_id, "tflite": tflite["file"], "sha256": tflite["sha256"]}
    np.savez_compressed(HERE / "shipped_decodes.npz", **decodes)
    (HERE / "shipped.json").write_text(json.dumps(files, indent=1, sort_keys=True) + "\n")
    print(f"recorded {len(decodes)} network decodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
