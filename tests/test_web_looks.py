"""The receiver's look in the browser: ``Decoder.decode(bytes, {look})`` against ``sr_codec.decode(look=)``.

Headless Chromium (the conformance harness page, as tests/test_web_conformance.py): the sharp look of a payload
whose model has a sharp twin equals Python's ``decode(payload, look="sharp")`` within +-2 on every value and
differs from the faithful decode; an unknown look is an ``InputImageError`` naming the looks; a model without a
twin (x10) shows its faithful pixels and says so in the result's ``warnings`` (Python: ``LookUnavailableWarning``).
``SR_CODEC_WEB_LOOKS_REPORT=path.json`` keeps the per-payload numbers.
"""

from __future__ import annotations

import base64
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
from conftest import browser_page
from sr_codec.zoo import manifest as zoo

TOLERANCE = 2

# Runs in the harness page: the page's own module (same URL, same instance) with the import map of the page.
JS_DECODE = """async ([b64, options]) => {
  const { Decoder } = await import('/web/src/index.js');
  window.lookDecoder ??= new Decoder({ manifestUrl: '/sr_codec/weights/web_manifest.json',
                                      wasmBaseUrl: '/web/node_modules/@litertjs/core/wasm/' });
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    const image = await window.lookDecoder.decode(bytes, options);
    let data = '';
    for (let i = 0; i < image.data.length; i += 0x8000) data += String.fromCharCode(...image.data.subarray(i, i + 0x8000));
    return { ok: true, width: image.width, height: image.height, channels: image.channels, data: btoa(data),
             modelId: image.modelId, look: image.look, warnings: image.warnings };
  } catch (error) {
    return { ok: false, name: error.name, message: String(error.message) };
  }
}"""


def web_manifest() -> dict:
    return json.loads((zoo.WEIGHTS_DIR / "web_manifest.json").read_text())


def test_web_manifest_carries_the_looks_table_and_the_twins():
    web = web_manifest()
    twins = web["looks"]["sharp"]
    assert twins, "no sharp twin in the web manifest"
    for faithful, twin in twins.items():
        assert zoo.model_for_look(faithful, "sharp") == twin
        assert faithful in web["models"] and twin in web["models"]
        assert web["models"][twin]["scale"] == web["models"][faithful]["scale"]
        assert web["models"][twin]["role"] == "sharp"


@pytest.fixture(scope="module")
def page():
    with browser_page("conformance.html") as tab:
        yield tab


def js_decode(page, payload: bytes, **options) -> dict:
    return page.evaluate(JS_DECODE, [base64.b64encode(payload).decode(), options])


def js_pixels(result: dict) -> np.ndarray:
    assert result["ok"], result
    data = np.frombuffer(base64.b64decode(result["data"]), np.uint8)
    return data.reshape(result["height"], result["width"], result["channels"])


def photo(height: int, width: int, name: str = "astronaut") -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the 'dev' extra) supplies the test photo")
    return np.asarray(Image.fromarray(getattr(skimage_data, name)()).resize((width, height), Image.BICUBIC))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, (a.shape, b.shape)
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def test_sharp_look_in_the_browser_is_pythons_sharp_look(page):
    rows = []
    cases = (("x4 astronaut 87x131", photo(131, 87), "bicubic"), ("x4 coffee 200x150", photo(150, 200, "coffee"), "bicubic"),
             ("x4 default sender (learned pair) 256x192", photo(192, 256, "coffee"), "auto"))
    for kind, image, sender in cases:
        payload = sr_codec.encode(image, scale=4, sender=sender)
        model = sr_codec.inspect(payload).model_id
        twin = zoo.model_for_look(model, "sharp")
        if twin is None:
            pytest.skip(f"no sharp twin shipped for {model}")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a twin exists: Python does not warn
            py_sharp = sr_codec.decode(payload, look="sharp")
        py_faithful = sr_codec.decode(payload)
        result = js_decode(page, payload, look="sharp")
        js_sharp = js_pixels(result)
        assert (result["modelId"], result["look"], result["warnings"]) == (twin, "sharp", [])
        faithful = js_decode(page, payload, look="faithful")
        assert (faithful["modelId"], faithful["look"], faithful["warnings"]) == (model, "faithful", [])
        assert np.array_equal(js_pixels(faithful), js_pixels(js_decode(page, payload)))  # faithful is the default
        diff = max_diff(js_sharp, py_sharp)
        rows.append({"kind": kind, "bytes": len(payload), "model": twin, "max_abs_diff": diff,
                     "differing_values": int(np.count_nonzero(js_sharp != py_sharp)), "values": int(js_sharp.size),
                     "sharp_vs_faithful_max_diff": max_diff(js_sharp, py_faithful)})
        assert diff <= TOLERANCE, rows[-1]
        assert not np.array_equal(js_sharp, js_pixels(faithful)) and max_diff(js_sharp, py_faithful) > TOLERANCE
    if os.environ.get("SR_CODEC_WEB_LOOKS_REPORT"):
        Path(os.environ["SR_CODEC_WEB_LOOKS_REPORT"]).write_text(json.dumps(rows, indent=1) + "\n")


def test_an_unknown_look_is_an_input_error_naming_the_looks(page):
    payload = sr_codec.encode(photo(48, 64), scale=4, sender="bicubic")
    for bad in ("pretty", "", "Sharp", None, 3):
        result = js_decode(page, payload, look=bad)
        assert not result["ok"] and result["name"] == "InputImageError", (bad, result)
        assert "'faithful', 'sharp'" in result["message"], result


def test_a_model_without_a_twin_shows_its_faithful_pixels(page):
    payload = sr_codec.encode(photo(80, 100), scale=10)
    model = sr_codec.inspect(payload).model_id
    assert zoo.model_for_look(model, "sharp") is None
    with pytest.warns(sr_codec.LookUnavailableWarning, match=model):
        py_shown = sr_codec.decode(payload, look="sharp")
    result = js_decode(page, payload, look="sharp")
    assert result["modelId"] == model and result["look"] == "faithful"
    assert len(result["warnings"]) == 1 and model in result["warnings"][0] and "faithful" in result["warnings"][0]
    assert np.array_equal(js_pixels(result), js_pixels(js_decode(page, payload)))
    assert max_diff(js_pixels(result), py_shown) <= TOLERANCE
    # bicubic has no looks to miss: no warning
    bicubic = js_decode(page, payload, look="sharp", model="bicubic")
    assert (bicubic["modelId"], bicubic["look"], bicubic["warnings"]) == ("bicubic", "faithful", [])
