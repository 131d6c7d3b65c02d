"""Payloads written by earlier versions decode to the same pixels (tests/golden, made by make_corpus.py).

Bicubic decodes (no network) must be bit-exact; network decodes may differ from the recorded ones by
float rounding between machines and TensorFlow builds, so they match the recorded SHA-256 or stay
within 1 level of the recorded pixels. ``model="default"`` decodes ran the scale's default model of the
day (recorded): once a newer default ships, that recorded model is run by its id, so the check stays one
of the same pixels from the same weights.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import sr_codec
from sr_codec.zoo import manifest as zoo

GOLDEN = Path(__file__).resolve().parent / "golden"
CORPUS = json.loads((GOLDEN / "corpus.json").read_text())["payloads"]
MODELS = {"payload": None, "default": "default", "bicubic": "bicubic"}


@pytest.fixture(scope="module")
def network_decodes():
    with np.load(GOLDEN / "network_decodes.npz") as blob:
        return {key: blob[key] for key in blob.files}


def test_corpus_covers_every_scale_codec_and_mode():
    seen = {(sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).scale,
             sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).inner,
             sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).mode) for n in CORPUS}
    assert seen == {(s, c, m) for s in (1, 2, 4, 10) for c in ("avif", "webp", "jpeg", "png") for m in ("RGB", "RGBA")}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_golden_payload_decodes_to_recorded_pixels(name, network_decodes):
    entry = CORPUS[name]
    payload = (GOLDEN / f"{name}.srp").read_bytes()
    assert len(payload) == entry["payload_bytes"]
    assert sr_codec.inspect(payload).model_id == entry["model_id"]
    for label, model in MODELS.items():
        recorded = entry["decodes"][label]
        if model == "default" and zoo.default_model_id(sr_codec.inspect(payload).scale) != recorded["model_id"]:
            model = recorded["model_id"]  # a newer default ships: run the one the corpus recorded
        pixels = sr_codec.decode(payload, model=model, device="cpu")
        assert list(pixels.shape) == recorded["shape"], (name, label)
        if hashlib.sha256(pixels.tobytes()).hexdigest() == recorded["sha256"]:
            continue
        key = f"{name}/{label}"
        assert key in network_decodes, f"{name}: the {label} decode has no network, so it must be bit-exact"
        diff = np.abs(pixels.astype(np.int16) - network_decodes[key].astype(np.int16)).max()
        assert diff <= 1, f"{name}: the {label} decode differs from the recorded one by {diff} levels"
