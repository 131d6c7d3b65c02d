"""The JavaScript decoder (web/) against the Python one, in headless Chromium.

A corpus made by ``sr_codec.encode`` at test time (every scale with a network, every inner codec,
RGB and RGBA, odd and tiny sizes, an extension field, a full-file AVIF) must decode in the browser
within +-2 of ``sr_codec.decode`` on every value; every damaged payload (truncations, bit flips,
forged fields and sizes with a valid CRC, limits) must be refused with the error class Python raises.
Set ``SR_CODEC_WEB_REPORT=path.json`` to keep the per-payload numbers (max diff, PSNR, timings).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import time
import zlib
from pathlib import Path

import msgpack
import numpy as np
import pytest
from PIL import Image

import sr_codec
from conftest import browser_page
from sr_codec.demo import browser
from sr_codec.imaging.metrics import psnr

TOLERANCE = 2


@pytest.fixture(scope="module")
def page():
    with browser_page("conformance.html") as tab:
        yield tab


def js_decode(page, payload: bytes, **options) -> dict:
    return page.evaluate("([b64, options]) => window.decodePayload(b64, options)",
                         [base64.b64encode(payload).decode(), options])


def js_pixels(result: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(result["data"]), np.uint8)
    return data.reshape(result["height"], result["width"], result["channels"])


# ------------------------------------------------------------------------------------------ corpus


def photo(height: int, width: int, alpha: str | None = None) -> np.ndarray:
    """A crop of scikit-image's astronaut resized to height x width, optionally with an alpha plane."""
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the 'dev' extra) supplies the test photo")
    rgb = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((width, height), Image.BICUBIC))
    if alpha is None:
        return rgb
    yy, xx = np.mgrid[0:height, 0:width]
    radius = np.hypot(yy - height / 2, xx - width / 2) / (0.45 * min(height, width))
    if alpha == "soft":
        plane = np.clip(255 * (1.5 - radius), 0, 255)
    elif alpha == "hard":
        plane = np.where(rgb.mean(axis=2) > 100, 255, 0)
    else:  # constant
        plane = np.full((height, width), 200)
    return np.dstack([rgb, plane.astype(np.uint8)])


def repack(fields: list, extension: bytes = b"") -> bytes:
    """A payload from raw field values (msgpack's shortest encoding, as payload.pack writes) and a valid CRC."""
    body = b"".join(msgpack.packb(f, use_bin_type=True) for f in fields) + extension
    return body + zlib.crc32(body).to_bytes(4, "big")


def fields_of(payload: bytes) -> list:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(payload[:-4])
    return list(unpacker)


def _lossless_webp(plane: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(plane, "L").save(buf, "WEBP", lossless=True)
    return buf.getvalue()


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "big")


def valid_corpus() -> list[tuple[str, bytes, dict]]:
    """(kind, payload, decode options)."""
    corpus = []
    for scale in (1, 2, 4, 10):
        for inner in ("avif", "webp", "jpeg", "png"):
            image = photo(131, 87)
            corpus.append((f"x{scale} {inner} RGB 87x131", sr_codec.encode(image, scale=scale, inner=inner), {}))
    for scale, inner, alpha in ((4, "avif", "soft"), (2, "webp", "hard"), (10, "jpeg", "soft"), (4, "png", "hard"),
                                (1, "avif", "soft"), (4, "avif", "constant")):
        payload = sr_codec.encode(photo(75, 101, alpha), scale=scale, inner=inner)
        plane = fields_of(payload)[7]
        coded = "constant" if isinstance(plane, int) else (
            "full-res plane" if Image.open(io.BytesIO(plane)).size == (101, 75) and scale > 1 else "low-res plane")
        corpus.append((f"x{scale} {inner} RGBA {alpha} alpha ({coded}) 101x75", payload, {}))
    corpus += [
        ("x10 avif RGB 1x1", sr_codec.encode(photo(1, 1), scale=10), {}),
        ("x10->x7 avif RGB 13x7", sr_codec.encode(photo(7, 13), scale=10), {}),
        ("x4 webp RGB 1x50 strip", sr_codec.encode(photo(1, 50), scale=4, inner="webp"), {}),
        ("x3 avif RGB (no model: bicubic)", sr_codec.encode(photo(64, 49), scale=3), {}),
        ("x16 jpeg RGB (no model: bicubic)", sr_codec.encode(photo(97, 130), scale=16, inner="jpeg"), {}),
    ]
    # Low-res 650 x 350: the JS decoder runs it as overlapping windows (web/src/model.js, TILE_CORE = 512).
    corpus.append(("x2 webp RGB 1300x700 (tiled in JS)", sr_codec.encode(photo(700, 1300), scale=2, inner="webp"), {}))
    network = sr_codec.encode(photo(120, 90), scale=4)
    corpus.append(("x4 avif RGB, model='bicubic'", network, {"model": "bicubic"}))
    corpus.append(("x4 avif RGB, model='default'", network, {"model": "default"}))
    # An optional (even) extension field, which v1 readers ignore.
    corpus.append(("x4 avif RGB + extension {2: ...}", with_crc(network[:-4] + msgpack.packb({2: {"note": [1, 2.5]}})), {}))
    # The fallback wire form: a complete AVIF file as the inner bitstream.
    fields = fields_of(network)
    low = np.asarray(Image.fromarray(photo(120, 90)).resize((23, 30), Image.BICUBIC))
    buf = io.BytesIO()
    Image.fromarray(low).save(buf, "AVIF", quality=60)
    fields[6] = buf.getvalue()
    corpus.append(("x4 full-file AVIF inner", repack(fields), {}))
    by_kind = {kind: payload for kind, payload, _ in corpus}
    soft = next(kind for kind in by_kind if kind.startswith("x4 avif RGBA soft alpha"))
    hard = next(kind for kind in by_kind if kind.startswith("x2 webp RGBA hard alpha"))
    corpus.append(("preview x4 avif RGBA soft", by_kind[soft], {"preview": True}))
    corpus.append(("preview x2 webp RGBA hard (full-res plane)", by_kind[hard], {"preview": True}))
    return corpus


def damaged_corpus() -> list[tuple[str, bytes, dict]]:
    base = sr_codec.encode(photo(61, 45), scale=4)
    fields = fields_of(base)
    rgba = sr_codec.encode(photo(61, 45, "soft"), scale=4, inner="webp")
    rgba_fields = fields_of(rgba)
    cases: list[tuple[str, bytes, dict]] = [
        ("empty", b"", {}),
        ("not msgpack", b"hello, world", {}),
        ("a str first", msgpack.packb("sr_codec"), {}),
        ("version 2", repack([2] + fields[1:]), {}),
        ("appended byte", base + b"\x00", {}),
    ]
    for cut in (1, 5, 13, len(base) // 2, len(base) - 1):
        cases.append((f"truncated to {cut} B", base[:cut], {}))
    for position in (1, 3, 9, 12, len(base) // 2, len(base) - 6, len(base) - 1):
        flipped = bytearray(base)
        flipped[position] ^= 0x10
        cases.append((f"bit flip at byte {position}", bytes(flipped), {}))
    forged = {
        "width forged (+1, inner size mismatch)": [fields[0], fields[1] + 40] + fields[2:],
        "65535x65535 declared (over max_pixels)": [fields[0], 65535, 65535] + fields[3:],
        "scale 0": fields[:3] + [0] + fields[4:],
        "scale 17": fields[:3] + [17] + fields[4:],
        "inner codec 7": fields[:4] + [7] + fields[5:],
        "model tag 2^32": fields[:5] + [2**32] + fields[6:],
        "unknown model tag": fields[:5] + [0x12345678] + fields[6:],
        "width as bool": [fields[0], True] + fields[2:],
        "height as float": fields[:2] + [61.0] + fields[3:],
        "width as str": [fields[0], "45"] + fields[2:],
        "empty inner bitstream": fields[:6] + [b""] + fields[7:],
        "alpha 256": fields[:7] + [256],
        "alpha plane of the wrong size": rgba_fields[:7] + [_lossless_webp(np.full((10, 10), 7, np.uint8))],
        "alpha plane not an image": rgba_fields[:7] + [b"RIFF" + bytes(40)],
        "inner bitstream garbage": fields[:6] + [b"\x0a\x0b" + bytes(range(200))] + fields[7:],
        "webp inner, 30000x30000 header": rgba_fields[:1] + [45, 61] + rgba_fields[3:6] + [
            rgba_fields[6][:26] + (30000).to_bytes(2, "little") + (30000).to_bytes(2, "little") + rgba_fields[6][30:]
        ] + rgba_fields[7:],
    }
    for name, values in forged.items():
        cases.append((name, repack(values), {}))
    body = base[:-4]
    head = b"".join(msgpack.packb(f) for f in fields[:6])
    cases += [
        ("bin32 header declaring 4 GiB", with_crc(head + b"\xc6\xff\xff\xff\xff" + fields[6] + b"\xc0"), {}),
        ("bin header 1 byte too long", with_crc(head + b"\xc5" + (len(fields[6]) + 2).to_bytes(2, "big") + fields[6] + b"\xc0"), {}),
        ("required (odd) extension field", with_crc(body + msgpack.packb({1: 0})), {}),
        ("duplicate extension key", with_crc(body + b"\x82\x02\x00\x02\x01"), {}),
        ("string extension key", with_crc(body + msgpack.packb({"k": 0})), {}),
        ("extension nested 9 deep", with_crc(body + b"\x81\x02" + b"\x91" * 8 + b"\x00"), {}),
        ("map32 declaring 2^32-1 entries", with_crc(body + b"\xdf\xff\xff\xff\xff"), {}),
        ("array after the last field", with_crc(body + b"\x90"), {}),
        ("ext type in extensions", with_crc(body + b"\x81\x02\xd4\x01\x00"), {}),
        ("over max_payload_bytes=100", base, {"limits": {"max_payload_bytes": 100}}),
        ("over max_pixels=1000", base, {"limits": {"max_pixels": 1000}}),
        ("over max_inner_bytes=50", base, {"limits": {"max_inner_bytes": 50}}),
    ]
    return cases


_JS_LIMITS = {"max_payload_bytes": "maxPayloadBytes", "max_pixels": "maxPixels", "max_inner_bytes": "maxInnerBytes"}


def python_outcome(payload: bytes, options: dict):
    limits = sr_codec.Limits(**options["limits"]) if "limits" in options else None
    try:
        if options.get("preview"):
            return sr_codec.decode_preview(payload, limits=limits)
        return sr_codec.decode(payload, model=options.get("model"), limits=limits)
    except sr_codec.SrCodecError as error:
        return error


def js_options(options: dict) -> dict:
    out = {k: v for k, v in options.items() if k != "limits"}
    if "limits" in options:
        out["limits"] = {_JS_LIMITS[k]: v for k, v in options["limits"].items()}
    return out


# ------------------------------------------------------------------------------------------- tests


def test_web_manifest_covers_the_shipped_models():
    """Every model the encoder tags payloads with has a .tflite for the browser, with the right tag and hash.

    After new weights are shipped: ``python web/tools/build_models.py`` (re-exports and rewrites the manifest).
    """
    weights = Path(sr_codec.__file__).resolve().parent / "weights"
    manifest = json.loads((weights / "manifest.json").read_text())
    web = json.loads((weights / "web_manifest.json").read_text())
    wanted = (set(manifest["default"].values()) | set(manifest.get("upscale_default", {}).values())
              | {pair["upscaler"] for pair in manifest.get("pairs", {}).values()})
    assert wanted <= set(web["models"]), f"not exported for the browser: {wanted - set(web['models'])}"
    assert web["default"] == manifest["default"]
    for model_id, info in web["models"].items():
        assert info["tag"] == int(manifest["models"][model_id]["sha256"][:8], 16)
        assert info["scale"] == manifest["models"][model_id]["scale"]
        data = (weights / info["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["tflite_sha256"]


def test_node_unit_tests():
    """web/test/unit.test.js: CRC, the docs' worked example, every bit flip, limits (Node, no browser)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node binary")
    if not (browser.WEB_DIR / "node_modules" / "@msgpack" / "msgpack").is_dir():
        pytest.skip("web/node_modules is missing: run `npm ci` in web/")
    result = subprocess.run([node, "--test", "test/"], cwd=browser.WEB_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_valid_payloads_match_python_within_2(page):
    rows = []
    for kind, payload, options in valid_corpus():
        expected = python_outcome(payload, options)
        assert isinstance(expected, np.ndarray), f"{kind}: Python failed: {expected!r}"
        result = js_decode(page, payload, **js_options(options))
        assert result["ok"], f"{kind}: JS failed: {result}"
        got = js_pixels(result)
        assert got.shape == expected.shape, f"{kind}: JS {got.shape} vs Python {expected.shape}"
        diff = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max())
        rows.append({"kind": kind, "bytes": len(payload), "model": result["modelId"], "max_abs_diff": diff,
                     "psnr_js_vs_python": psnr(got, expected), "shape": list(got.shape)})
    _report("valid", rows)
    worst = [row for row in rows if row["max_abs_diff"] > TOLERANCE]
    assert not worst, f"JS differs from Python by more than {TOLERANCE}: {worst}"


def test_damaged_payloads_are_refused_with_pythons_error(page):
    rows = []
    for kind, payload, options in damaged_corpus():
        expected = python_outcome(payload, options)
        assert isinstance(expected, sr_codec.SrCodecError), f"{kind}: Python decoded it"
        result = js_decode(page, payload, **js_options(options))
        rows.append({"kind": kind, "python": type(expected).__name__, "js": result.get("name", "decoded"),
                     "js_message": result.get("message", "")})
    _report("damaged", rows)
    wrong = [row for row in rows if row["js"] != row["python"]]
    assert not wrong, f"JS refused differently from Python: {wrong}"
    assert len(rows) >= 40


def test_two_megapixel_x4_decode_time(page):
    """Measure (never assert) browser vs Python decode time of a 2 MP x4 payload; check the pixels too."""
    payload = sr_codec.encode(photo(1224, 1632), scale=4)
    expected = sr_codec.decode(payload)
    python_times = []
    for _ in range(3):
        start = time.perf_counter()
        sr_codec.decode(payload)
        python_times.append(1000 * (time.perf_counter() - start))
    js_times, results = [], []
    for _ in range(4):  # the first run also loads the runtime and compiles the model
        start = time.perf_counter()
        result = js_decode(page, payload)
        js_times.append(1000 * (time.perf_counter() - start))
        results.append(result)
    assert results[-1]["ok"], results[-1]
    got = js_pixels(results[-1])
    diff = int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max())
    _report("timing_2mp_x4", {
        "payload_bytes": len(payload), "size": list(expected.shape),
        "accelerator": page.evaluate("window.accelerator()"),
        "js_first_ms": js_times[0], "js_warm_median_ms": statistics.median(js_times[1:]),
        "js_in_page_warm_median_ms": statistics.median(r["timings"]["totalMs"] for r in results[1:]),
        "js_stage_ms_last": results[-1]["timings"],
        "python_warm_median_ms": statistics.median(python_times), "max_abs_diff": diff,
        "psnr_js_vs_python": psnr(got, expected),
    })
    assert diff <= TOLERANCE


def _report(section: str, rows) -> None:
    path = os.environ.get("SR_CODEC_WEB_REPORT")
    if not path:
        return
    report = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    report[section] = rows
    Path(path).write_text(json.dumps(report, indent=1, default=float))
