"""Write the golden corpus: ``python tests/golden/make_corpus.py`` (from the repository root).

Small payloads of every scale (1, 2, 4, 10), inner codec (avif, webp, jpeg, png) and mode
(RGB, RGBA), made by the code of the day, plus what they decode to with the payload's own model,
``model="default"`` and ``model="bicubic"``: the SHA-256 of every decode in ``corpus.json`` and the
network decodes themselves in ``network_decodes.npz``, with the model each decode ran (a Keras decode may differ by float rounding
between machines; tests/test_golden.py then allows 1 level). Run it only to extend the corpus:
payloads already written must keep decoding to these pixels forever.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import sr_codec
from sr_codec.zoo.manifest import default_model_id

HERE = Path(__file__).resolve().parent
SCALES = (1, 2, 4, 10)
CODECS = ("avif", "webp", "jpeg", "png")
MODES = ("RGB", "RGBA")
MODELS = {"payload": None, "default": "default", "bicubic": "bicubic"}
HEIGHT, WIDTH = 28, 40


def sample_image(mode: str, seed: int = 11) -> np.ndarray:
    """A 40 x 28 test card: smooth gradients, an edge, some noise; RGBA gets a soft alpha ramp."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64)
    rgb = np.stack([x / WIDTH * 255, y / HEIGHT * 255, 128 + 100 * np.sin(x / 5) * np.cos(y / 4)], axis=-1)
    rgb[:, WIDTH // 2 :, 1] = 255 - rgb[:, WIDTH // 2 :, 1]  # a hard vertical edge
    rgb += rng.normal(0, 6, rgb.shape)
    image = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    if mode == "RGBA":
        alpha = np.clip(np.round(x * 255 / (WIDTH - 1) * 0.7 + (y > HEIGHT // 2) * 70), 0, 255).astype(np.uint8)
        image = np.concatenate([image, alpha[..., None]], axis=2)
    return image


def name_of(scale: int, codec: str, mode: str) -> str:
    return f"x{scale}_{codec}_{mode.lower()}"


def sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest()


def main() -> int:
    entries: dict[str, dict] = {}
    network: dict[str, np.ndarray] = {}
    for scale in SCALES:
        for codec in CODECS:
            for mode in MODES:
                name = name_of(scale, codec, mode)
                payload = sr_codec.encode(sample_image(mode), scale=scale, inner=codec, quality=40)
                (HERE / f"{name}.srp").write_bytes(payload)
                info = sr_codec.inspect(payload)
                decodes = {}
                for label, model in MODELS.items():
                    pixels = sr_codec.decode(payload, model=model, device="cpu")
                    used = {None: info.model_id, "default": default_model_id(info.scale)}.get(model, model)
                    decodes[label] = {"sha256": sha256(pixels), "shape": list(pixels.shape), "model_id": used}
                    if used != "bicubic":
                        network[f"{name}/{label}"] = pixels
                entries[name] = {"payload_bytes": len(payload), "model_id": info.model_id, "decodes": decodes}
    (HERE / "corpus.json").write_text(json.dumps({"payloads": entries}, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(HERE / "network_decodes.npz", **network)
    print(f"wrote {len(entries)} payloads, {len(network)} network decodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
