"""Payloads written by earlier versions decode to the same pixels (tests/golden, made by make_corpus.py).

Every decode matches its recorded SHA-256 or stays within 1 level of the recorded pixels
(``decodes.npz``): network decodes may differ by float rounding between machines and runtimes, and bicubic
decodes (no network) by Pillow's JPEG, WebP and AVIF decoders, which sr_codec does not pin: a Pillow (libjpeg-
turbo, libavif, dav1d) upgrade may round a low-res pixel differently, and that must not fail this corpus.
What stays exact is ours: the payload bytes, their fields, and which model a decode runs.

Network decodes follow the pixel contract (docs/format.md): the shipped ``.tflite`` is the reference.
``shipped_decodes.npz`` (``record_shipped.py``; ``shipped.json`` names the file that made each) holds what
the shipped file decodes to; a decode stays within 2 levels of it (another CPU's int8 kernels may round
once differently, as the browser's may) and, against the Keras-era pixels of ``decodes.npz``, matches in
quality (PSNR >= 45 dB on these 28 x 40 cards: a quantized file moves single values by a few levels). ``model="default"`` decodes ran the scale's default model of the
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
from sr_codec.imaging.metrics import psnr
from sr_codec.zoo import manifest as zoo

GOLDEN = Path(__file__).resolve().parent / "golden"
CORPUS = json.loads((GOLDEN / "corpus.json").read_text())["payloads"]
MODELS = {"payload": None, "default": "default", "bicubic": "bicubic"}


SHIPPED = json.loads((GOLDEN / "shipped.json").read_text())
SHIPPED_TOLERANCE = 2
KERAS_ERA_MIN_PSNR = 45.0


@pytest.fixture(scope="module")
def shipped_pixels():
    with np.load(GOLDEN / "shipped_decodes.npz") as blob:
        return {key: blob[key] for key in blob.files}


@pytest.fixture(scope="module")
def recorded_pixels():
    with np.load(GOLDEN / "decodes.npz") as blob:
        return {key: blob[key] for key in blob.files}


def test_corpus_covers_every_scale_codec_and_mode():
    seen = {(sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).scale,
             sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).inner,
             sr_codec.inspect((GOLDEN / f"{n}.srp").read_bytes()).mode) for n in CORPUS}
    assert seen == {(s, c, m) for s in (1, 2, 4, 10) for c in ("avif", "webp", "jpeg", "png") for m in ("RGB", "RGBA")}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_golden_payload_decodes_to_recorded_pixels(name, recorded_pixels, shipped_pixels):
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
        diff = np.abs(pixels.astype(np.int16) - recorded_pixels[key].astype(np.int16)).max()
        if diff <= 1:
            continue
        assert key in SHIPPED, f"{name}: the {label} decode (no network) differs from the recorded one by {diff} levels"
        shipped = zoo.model_info(SHIPPED[key]["model_id"])["tflite"]
        assert shipped["sha256"] == SHIPPED[key]["sha256"], (
            f"{key}: {shipped['file']} is not the file recorded in shipped.json: run tests/golden/record_shipped.py")
        diff = np.abs(pixels.astype(np.int16) - shipped_pixels[key].astype(np.int16)).max()
        assert diff <= SHIPPED_TOLERANCE, f"{name}: the {label} decode differs from the shipped file's by {diff} levels"
        quality = psnr(recorded_pixels[key][..., :3], pixels[..., :3])
        assert quality >= KERAS_ERA_MIN_PSNR, f"{name}: the {label} decode is {quality:.1f} dB from the Keras-era one"


def test_recorded_pixels_are_the_recorded_hashes():
    """decodes.npz holds exactly the decodes whose SHA-256 corpus.json records (every payload, every model)."""
    with np.load(GOLDEN / "decodes.npz") as blob:
        assert sorted(blob.files) == sorted(f"{name}/{label}" for name in CORPUS for label in MODELS)
        for name, entry in CORPUS.items():
            for label, recorded in entry["decodes"].items():
                assert hashlib.sha256(blob[f"{name}/{label}"].tobytes()).hexdigest() == recorded["sha256"]


def test_a_bicubic_decode_one_level_off_passes_and_two_levels_fail(monkeypatch, recorded_pixels, shipped_pixels):
    """What a Pillow upgrade that rounds the low-res differently looks like: within 1 level passes."""
    name = "x4_jpeg_rgb"
    real_decode = sr_codec.decode
    for shift, passes in ((1, True), (2, False)):
        def shifted(payload, model=None, **kwargs):
            pixels = real_decode(payload, model=model, **kwargs)
            if model != "bicubic":
                return pixels
            out = pixels.astype(np.int16)
            out[0, 0, 0] += shift if out[0, 0, 0] < 128 else -shift
            return out.astype(np.uint8)

        monkeypatch.setattr(sr_codec, "decode", shifted)
        if passes:
            test_golden_payload_decodes_to_recorded_pixels(name, recorded_pixels, shipped_pixels)
        else:
            with pytest.raises(AssertionError, match="no network"):
                test_golden_payload_decodes_to_recorded_pixels(name, recorded_pixels, shipped_pixels)


def test_a_network_decode_three_levels_off_the_shipped_file_fails(monkeypatch, recorded_pixels, shipped_pixels):
    """The shipped file is the reference: 2 levels off its recorded decode pass, 3 fail."""
    name = "x4_avif_rgb"
    real_decode = sr_codec.decode
    for shift, passes in ((2, True), (3, False)):
        def shifted(payload, model=None, **kwargs):
            pixels = real_decode(payload, model=model, **kwargs)
            if model == "bicubic":
                return pixels
            out = shipped_pixels[f"{name}/payload"].astype(np.int16)  # the shipped file's own decode, moved
            out[0, 0, 0] += shift if out[0, 0, 0] < 128 else -shift
            return out.astype(np.uint8)

        monkeypatch.setattr(sr_codec, "decode", shifted)
        if passes:
            test_golden_payload_decodes_to_recorded_pixels(name, recorded_pixels, shipped_pixels)
        else:
            with pytest.raises(AssertionError, match="shipped file's by 3 levels"):
                test_golden_payload_decodes_to_recorded_pixels(name, recorded_pixels, shipped_pixels)
