"""Write the golden corpus: ``python tests/golden/make_corpus.py`` (from the repository root).

Small payloads of every scale (1, 2, 4, 10), inner codec (avif, webp, jpeg, png) and mode
(RGB, RGBA), made by the code of the day, plus what they decode to with the payload's own model,
``model="default"`` and ``model="bicubic"``: the SHA-256 of every decode in ``corpus.json`` and the
decoded pixels themselves in ``decodes.npz``, with the model each decode ran. A decode may differ by
rounding between machines and library versions (a network's float arithmetic; Pillow's JPEG, WebP and AVIF
decoders under a bicubic decode too), so tests/test_golden.py allows 1 level. Run it only to extend the
corpus: payloads already written must keep decoding to these pixels forever.

``python tests/golden/make_corpus.py --pixels-only`` writes ``decodes.npz`` from the payloads already
there, after checking that each decode still has its recorded SHA-256 (how the bicubic pixels were added).
"""

from __future__ import annotations

import hashlib
import json
import sys
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


def pixels_only() -> int:
    """``decodes.npz`` from the payloads and records already there, each decode checked against its SHA-256."""
    entries = json.loads((HERE / "corpus.json").read_text())["payloads"]
    pixels: dict[str, np.ndarray] = {}
    for name, entry in sorted(entries.items()):
        payload = (HERE / f"{name}.srp").read_bytes()
        for label, recorded in entry["decodes"].items():
            model = {"payload": None, "default": recorded["model_id"]}.get(label, label)
            decoded = sr_codec.decode(payload, model=model, device="cpu")
            if sha256(decoded) != recorded["sha256"]:
                raise SystemExit(f"{name}/{label} no longer decodes to its recorded pixels: not writing them")
            pixels[f"{name}/{label}"] = decoded
    np.savez_compressed(HERE / "decodes.npz", **pixels)
    print(f"wrote {len(pixels)} decodes of {len(entries)} payloads")
    return 0


def main() -> int:
    if sys.argv[1:] == ["--pixels-only"]:
        return pixels_only()
    entries: dict[str, dict] = {}
    decoded: dict[str, np.ndarray] = {}
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
                    decoded[f"{name}/{label}"] = pixels
                entries[name] = {"payload_bytes": len(payload), "model_id": info.model_id, "decodes": decodes}
    (HERE / "corpus.json").write_text(json.dumps({"payloads": entries}, indent=1, sort_keys=True) + "\n")
    np.savez_compressed(HERE / "decodes.npz", **decoded)
    print(f"wrote {len(entries)} payloads, {len(decoded)} decodes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
