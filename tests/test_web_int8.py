"""The browser runs the shipped (int8-trunk) ``.tflite`` files as Python does: within +-2 on every value.

The pixel contract (docs/format.md): the shipped file is the reference, and every receiver running it
(Python's LiteRT, the browser's LiteRT.js) agrees within 2 levels for the same payload. Here the JS
decoder of ``web/`` loads, through a web manifest built by ``web/tools/build_models.py --precision shipped``
(served in place of ``web_manifest.json``), the same files ``sr_codec.decode`` runs, in headless
Chromium (WebAssembly), on payloads of every scale and role. ``SR_CODEC_WEB_INT8_REPORT=path.json``
keeps the per-payload numbers. The tests without a browser check what the web manifest is built from.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
from conftest import browser_page, require_browser
from sr_codec.imaging.metrics import psnr
from sr_codec.nn.geometry import Geometry
from sr_codec.zoo import manifest as zoo

TOLERANCE = 2
REPO = Path(__file__).resolve().parents[1]


def build_models():
    spec = importlib.util.spec_from_file_location("build_models", REPO / "web" / "tools" / "build_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------- the web manifest (no browser)


def test_web_manifest_tile_margin_is_the_manifests_geometry(tmp_path):
    """The margin comes from the manifest's recorded geometry, not from a formula of the architecture."""
    manifest = copy.deepcopy(zoo.read_manifest())
    model_id = manifest["default"]["4"]
    manifest["models"][model_id]["tflite"]["geometry"].update(radius=20, multiple=4)  # unlike any formula
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    for info in manifest["models"].values():
        for key in ("tflite", "tflite_fp32"):
            if key in info and (zoo.WEIGHTS_DIR / info[key]["file"]).is_file():
                (tmp_path / info[key]["file"]).write_bytes((zoo.WEIGHTS_DIR / info[key]["file"]).read_bytes())
    web = build_models().build(tmp_path)
    assert web["models"][model_id]["tile_margin"] == Geometry(20, 4, 1.0).margin == 24
    for other, info in web["models"].items():
        geo = manifest["models"][other]["tflite"]["geometry"]
        assert info["tile_margin"] == Geometry(int(geo["radius"]), int(geo["multiple"]), 1.0).margin


@pytest.mark.parametrize("precision,field", [("shipped", "tflite"), ("fp32", "tflite_fp32")])
def test_web_manifest_names_the_manifests_files(precision, field):
    web = build_models().build(zoo.WEIGHTS_DIR, precision)
    for model_id, info in web["models"].items():
        entry = zoo.model_info(model_id).get(field) or zoo.model_info(model_id)["tflite"]
        assert (info["file"], info["tflite_sha256"], info["precision"]) == (
            entry["file"], entry["sha256"], entry.get("precision", "fp32"))


def test_the_committed_web_manifest_is_built_from_the_manifest():
    web = json.loads((zoo.WEIGHTS_DIR / "web_manifest.json").read_text())
    precision = "shipped" if all(info["file"] == zoo.model_info(m)["tflite"]["file"]
                                 for m, info in web["models"].items()) else "fp32"
    assert web == build_models().build(zoo.WEIGHTS_DIR, precision)


# ---------------------------------------------------------------------------------------- the browser


def photo(height: int, width: int) -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the 'dev' extra) supplies the test photo")
    return np.asarray(Image.fromarray(skimage_data.coffee()).resize((width, height), Image.BICUBIC))


def corpus() -> list[tuple[str, bytes]]:
    """Payloads naming every shipped int8 model the browser loads: codec (AVIF, WebP), clean (PNG), pair (learned)."""
    items = []
    for scale in (2, 4, 10):
        image = photo(150, 200)
        items.append((f"x{scale} avif (codec)", sr_codec.encode(image, scale=scale)))
        items.append((f"x{scale} webp q30 (codec)", sr_codec.encode(image, scale=scale, inner="webp", quality=30)))
        items.append((f"x{scale} png (clean)", sr_codec.encode(image, scale=scale, inner="png")))
        items.append((f"x{scale} avif bicubic sender", sr_codec.encode(image, scale=scale, sender="bicubic")))
    items.append(("x2 avif 1300x700 (tiled in JS)", sr_codec.encode(photo(700, 1300), scale=2)))
    items.append(("x4 avif 1632x1224 (2 MP, tiled in JS)", sr_codec.encode(photo(1224, 1632), scale=4)))
    return items


@pytest.fixture(scope="module")
def int8_page():
    """The conformance harness with the web manifest of the shipped (int8) files served in place of the committed one."""
    require_browser()
    web = build_models().build(zoo.WEIGHTS_DIR, "shipped")

    def serve_shipped_manifest(tab):
        tab.route("**/sr_codec/weights/web_manifest.json",
                  lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps(web)))

    with browser_page("conformance.html", serve_shipped_manifest) as tab:
        yield tab, web


def test_browser_runs_the_int8_files_within_2_of_python(int8_page):
    page, web = int8_page
    assert {info["precision"] for info in web["models"].values()} != {"fp32"}, "no quantized file is shipped"
    rows = []
    for kind, payload in corpus():
        expected = sr_codec.decode(payload)
        result = page.evaluate("([b64, options]) => window.decodePayload(b64, options)",
                               [base64.b64encode(payload).decode(), {}])
        assert result["ok"], f"{kind}: {result}"
        got = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(
            result["height"], result["width"], result["channels"])
        model_id = sr_codec.inspect(payload).model_id
        assert result["modelId"] == model_id
        diff = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max())
        rows.append({"kind": kind, "bytes": len(payload), "model": model_id,
                     "file": web["models"].get(model_id, {}).get("file"), "max_abs_diff": diff,
                     "differing_values": int(np.count_nonzero(got != expected)), "values": int(got.size),
                     "psnr_js_vs_python": None if diff == 0 else float(psnr(expected, got)),
                     "js_ms": (result.get("timings") or {}).get("totalMs")})
    if os.environ.get("SR_CODEC_WEB_INT8_REPORT"):
        Path(os.environ["SR_CODEC_WEB_INT8_REPORT"]).write_text(json.dumps(rows, indent=1) + "\n")
    assert {r["file"].split(".")[-2] for r in rows if r["file"]} == {"int8-trunk"}
    worst = max(rows, key=lambda r: r["max_abs_diff"])
    assert worst["max_abs_diff"] <= TOLERANCE, worst
