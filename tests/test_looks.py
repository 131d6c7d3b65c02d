"""The receiver's looks: decode(look=), decode_many(look=), the CLI's --look, the manifest's looks table."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import sr_codec
from sr_codec.zoo import manifest as zoo


def _photo(h: int = 48, w: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([(xx * 4) % 256, (yy * 5) % 256, ((xx + yy) * 3) % 256], axis=2)
    return rgb.astype(np.uint8)


def test_unknown_look_is_an_input_error_naming_the_looks():
    payload = sr_codec.encode(_photo(), scale=4, sender="bicubic")
    for bad in ("pretty", "", None, 3):
        with pytest.raises(sr_codec.InputImageError, match="'faithful', 'sharp'"):
            sr_codec.decode(payload, look=bad)
        with pytest.raises(sr_codec.InputImageError, match="'faithful', 'sharp'"):
            sr_codec.decode_many([payload], look=bad)


def test_faithful_look_is_the_default_decode():
    payload = sr_codec.encode(_photo(), scale=4, sender="bicubic")
    assert np.array_equal(sr_codec.decode(payload, look="faithful"), sr_codec.decode(payload))


def test_a_model_without_a_sharp_twin_shows_its_faithful_look_and_says_so():
    payload = sr_codec.encode(_photo(), scale=4, sender="bicubic", inner="avif")
    model = sr_codec.inspect(payload).model_id
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sharp = sr_codec.decode(payload, look="sharp", model="bicubic")
    assert not caught  # bicubic has no looks to miss
    assert np.array_equal(sharp, sr_codec.decode(payload, model="bicubic"))
    if zoo.model_for_look(model, "sharp") is None:
        with pytest.warns(sr_codec.LookUnavailableWarning, match=model):
            shown = sr_codec.decode(payload, look="sharp")
        assert np.array_equal(shown, sr_codec.decode(payload))
    x10 = sr_codec.encode(_photo(80, 100), scale=10)  # x10 ships no sharp twin
    x10_model = sr_codec.inspect(x10).model_id
    assert zoo.model_for_look(x10_model, "sharp") is None
    with pytest.warns(sr_codec.LookUnavailableWarning, match=x10_model):
        assert np.array_equal(sr_codec.decode(x10, look="sharp"), sr_codec.decode(x10))


def test_sharp_look_runs_the_twin_named_in_the_manifest(tmp_path, monkeypatch):
    """A weights folder whose looks table maps the payload's model to a twin: decode runs the twin."""
    payload = sr_codec.encode(_photo(), scale=4, sender="bicubic")
    model = sr_codec.inspect(payload).model_id
    twins = zoo.read_manifest().get("looks", {}).get("sharp", {})
    if model not in twins:
        pytest.skip(f"no sharp twin shipped for {model}")
    twin = twins[model]
    assert zoo.model_info(twin)["role"] == "sharp" and zoo.model_info(twin)["faithful"] == model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a twin exists: no warning
        sharp = sr_codec.decode(payload, look="sharp")
    assert np.array_equal(sharp, sr_codec.decode(payload, model=twin))
    assert sharp.shape == sr_codec.decode(payload).shape
    many = sr_codec.decode_many([payload, payload], look="sharp")
    assert all(np.abs(m.astype(int) - sharp.astype(int)).max() <= 1 for m in many)


def test_set_look_refuses_unknown_models_and_looks(tmp_path):
    shutil.copy(zoo.WEIGHTS_DIR / zoo.MANIFEST_FILE, tmp_path / zoo.MANIFEST_FILE)
    some = zoo.default_model_id(4, tmp_path)
    with pytest.raises(sr_codec.ModelError):
        zoo.set_look(tmp_path, "sharp", some, "no-such-model")
    with pytest.raises(sr_codec.ModelError):
        zoo.set_look(tmp_path, "faithful", some, some)
    zoo.set_look(tmp_path, "sharp", some, some)
    assert zoo.model_for_look(some, "sharp", tmp_path) == some
    assert json.loads((tmp_path / zoo.MANIFEST_FILE).read_text())["looks"]["sharp"][some] == some


def test_cli_decode_look(tmp_path):
    src = tmp_path / "in.src"
    src.write_bytes(sr_codec.encode(_photo(), scale=4, sender="bicubic"))
    run = [sys.executable, "-m", "sr_codec", "decode", str(src), str(tmp_path / "out.png")]
    ok = subprocess.run(run + ["--look", "sharp"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(run + ["--look", "pretty"], capture_output=True, text=True)
    assert bad.returncode == 2 and "faithful" in bad.stderr and "sharp" in bad.stderr


def test_default_payloads_have_a_sharp_look():
    """encode(img) sends the x4 learned pair's thumbnail: its upscaler ships a twin, so look="sharp" runs it."""
    payload = sr_codec.encode(_photo(160, 200))
    model = sr_codec.inspect(payload).model_id
    twin = zoo.model_for_look(model, "sharp")
    assert twin is not None, f"no sharp twin for the default route's {model}"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sharp = sr_codec.decode(payload, look="sharp")
    assert np.array_equal(sharp, sr_codec.decode(payload, model=twin))
    assert not np.array_equal(sharp, sr_codec.decode(payload))
