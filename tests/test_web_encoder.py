"""The JavaScript encoder (web/src/encoder.js) against sr_codec.encode.

Node (no browser): the JS defaults and constants equal the Python ones they mirror (Limits, the AVIF speed
table, rate control's constants) and the shrink equals Pillow's on odd sizes. Headless Chromium
(web/test/encoder.html): JS payloads decode in Python with the scale, model and mode Python's encoder would
pick; the thumbnail matches Python's within 1; ``maxBytes`` is never exceeded; bad files raise the Python
error classes; the golden payloads decode in JS as in Python; and the bytes and PSNR at the same scale and
quality are measured against Python's (``SR_CODEC_WEB_REPORT=path.json`` keeps the numbers).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
import sr_codec.rate
from conftest import browser_page, require_browser
from sr_codec.demo import browser
from sr_codec.imaging.metrics import psnr

WEB = browser.WEB_DIR
GOLDEN = Path(__file__).resolve().parent / "golden"


def node_eval(script: str):
    """Run an ES module snippet under Node in web/ and return the JSON it prints."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node binary")
    result = subprocess.run([node, "--input-type=module", "-e", script], cwd=WEB, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def photo(height: int, width: int, alpha: str | None = None) -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the 'dev' extra) supplies the test photo")
    rgb = np.asarray(Image.fromarray(skimage_data.astronaut()).resize((width, height), Image.BICUBIC))
    if alpha is None:
        return rgb
    yy, xx = np.mgrid[0:height, 0:width]
    radius = np.hypot(yy - height / 2, xx - width / 2) / (0.45 * min(height, width))
    plane = np.clip(255 * (1.5 - radius), 0, 255) if alpha == "soft" else np.full((height, width), 200)
    return np.dstack([rgb, plane.astype(np.uint8)])


def _report(section: str, rows) -> None:
    path = os.environ.get("SR_CODEC_WEB_REPORT")
    if not path:
        return
    report = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    report[section] = rows
    Path(path).write_text(json.dumps(report, indent=1, default=float))


# ------------------------------------------------------------------------------------------ Node


def test_js_limits_have_pythons_defaults():
    js = node_eval("import { DEFAULT_LIMITS } from './src/limits.js'; console.log(JSON.stringify({...DEFAULT_LIMITS}));")
    python = sr_codec.Limits()
    assert js == {"maxPayloadBytes": python.max_payload_bytes, "maxInnerBytes": python.max_inner_bytes,
                  "maxPixels": python.max_pixels, "maxExtensionBytes": python.max_extension_bytes}


def py_constant(*candidates: str):
    """The first of ``module:NAME`` that exists (rate control's modules are being reworked: issue 22)."""
    import importlib

    for candidate in candidates:
        module, name = candidate.split(":")
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    pytest.skip(f"none of {candidates} exists any more: port the change to web/src/rate.js")


def test_js_constants_match_the_python_modules():
    from sr_codec.codecs import avif
    from sr_codec.sender import learned

    js = node_eval(
        "import * as a from './src/avif_encode.js'; import { RATE_CONSTANTS } from './src/rate.js';"
        "import { MIN_LEARNED_SIDE, DEFAULT_SCALE } from './src/encoder.js';"
        "console.log(JSON.stringify({speed: a.AVIF_SPEED_BY_PIXELS, large: a.AVIF_LARGE_IMAGE_SPEED,"
        " pillow: a.PILLOW_AVIF_SPEED, rate: RATE_CONSTANTS, minLearned: MIN_LEARNED_SIDE, scale: DEFAULT_SCALE}));"
    )
    assert [tuple(x) for x in js["speed"]] == list(avif.AVIF_SPEED_BY_PIXELS)
    assert js["large"] == avif.AVIF_LARGE_IMAGE_SPEED and js["pillow"] == avif.PILLOW_AVIF_SPEED
    assert js["minLearned"] == learned.MIN_LEARNED_SIDE and js["scale"] == sr_codec.sender.encoder.DEFAULT_SCALE
    rate = js["rate"]
    r = "sr_codec.sender.rate."
    expected = {
        "AUTO_SCALES": list(py_constant(r + "choose:AUTO_SCALES")),
        "Q_MIN": py_constant(r + "search:Q_MIN"), "Q_MAX": py_constant(r + "search:Q_MAX"),
        "LOG_SIZE_PER_QUALITY": py_constant(r + "search:LOG_SIZE_PER_QUALITY"),
        "FINITE_LIMIT": py_constant(r + "search:FINITE_LIMIT"),
        "UNCALIBRATED_MARGIN_DB": py_constant(r + "session:UNCALIBRATED_MARGIN_DB"),
        "LOWER_BOUND_RESIDUALS": py_constant(r + "session:LOWER_BOUND_RESIDUALS"),
        "TILE_SIDE": py_constant(r + "proxy:TILE_SIDE", r + "mosaic:TILE_SIDE"),
        "PROXY_TILES": py_constant(r + "proxy:PROXY_TILES", r + "mosaic:MOSAIC_TILES"),
        "DEFAULT_BITS_PER_PIXEL": py_constant(r + "choose:DEFAULT_BITS_PER_PIXEL"),
        "DEFAULT_MIN_BYTES": py_constant(r + "choose:DEFAULT_MIN_BYTES"),
        "DEFAULT_MAX_BYTES_CAP": py_constant(r + "choose:DEFAULT_MAX_BYTES_CAP"),
    }
    assert {k: rate[k] for k in expected} == expected


@pytest.mark.xfail(strict=True, reason="web/src/rate.js ports rate control v1: Python's v2 (issue 22) codes the "
                   "mosaic from 0.5 MP and picks the final speed up to 3.5 MP; port v2 to the browser, then drop this mark")
def test_js_rate_control_uses_the_v2_mosaic_threshold_and_final_speeds():
    from sr_codec.codecs import avif
    from sr_codec.sender.rate import mosaic

    rate = node_eval("import { RATE_CONSTANTS } from './src/rate.js'; console.log(JSON.stringify(RATE_CONSTANTS));")
    assert rate["PROXY_MIN_PIXELS"] == mosaic.MOSAIC_MIN_PIXELS
    assert [tuple(x) for x in rate["FINAL_SPEED_BY_PIXELS"]] == list(avif.FINAL_SPEED_BY_PIXELS)


def test_js_mosaic_and_budget_follow_python():
    from sr_codec.sender.rate import choose

    tile_origins = py_constant("sr_codec.sender.rate.proxy:tile_origins", "sr_codec.sender.rate.mosaic:tile_origins")
    sizes = [(1224, 1632), (1000, 1001), (3000, 200), (161, 7000)]
    js = node_eval(
        "import { tileOrigins, defaultBudget, effectiveScale } from './src/rate.js';"
        f"const sizes = {json.dumps(sizes)};"
        "console.log(JSON.stringify(sizes.map(([h, w]) => [tileOrigins(h, w), defaultBudget(h, w), effectiveScale(h, w, 10)])));"
    )
    from sr_codec.sender.builder import effective_scale

    for (h, w), (origins, budget, scale) in zip(sizes, js):
        assert [tuple(o) for o in origins] == tile_origins(h, w)
        assert budget == choose.default_budget(h, w)
        assert scale == effective_scale(h, w, 10)


@pytest.mark.parametrize("channels", [3, 1])
def test_shrink_matches_pillow_on_odd_sizes(tmp_path, channels):
    """resize.js downsample == sr_codec.imaging.resample.downsample, integer for integer."""
    from sr_codec.imaging.resample import downsample

    rng = np.random.default_rng(channels)
    cases = [(37, 53, 2), (101, 75, 3), (13, 7, 4), (131, 87, 4), (61, 45, 10), (97, 130, 16), (1, 50, 4)]
    files = []
    for i, (h, w, s) in enumerate(cases):
        image = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        image[: h // 2] = photo(h, w)[: h // 2, :, :channels]  # half photo, half noise
        (tmp_path / f"{i}.raw").write_bytes(image.tobytes())
        files.append([str(tmp_path / f"{i}.raw"), h, w, s])
    out = node_eval(
        "import { readFileSync, writeFileSync } from 'node:fs'; import { downsample } from './src/resize.js';"
        f"for (const [path, h, w, s] of {json.dumps(files)}) writeFileSync(path + '.js', downsample(readFileSync(path), h, w, {channels}, s));"
        "console.log('[]');"
    )
    assert out == []
    for path, h, w, s in files:
        image = np.frombuffer(Path(path).read_bytes(), np.uint8).reshape(h, w, channels)
        expected = downsample(image, s)
        got = np.frombuffer(Path(path + ".js").read_bytes(), np.uint8).reshape(expected.shape)
        assert np.array_equal(got, expected), f"{h}x{w} x{s}: max diff {np.abs(got.astype(int) - expected).max()}"


def test_payload_writer_matches_python():
    """payload.js pack == sr_codec.format.payload.pack for every size class, RGB, constant and coded alpha."""
    from sr_codec.format import payload as wire

    cases = [(768, 512, 4, 0x1A2B3C4D, 3, None), (127, 1, 1, 0, 300, 255), (70000, 3, 16, 0xFFFFFFFF, 70000, 7),
             (200, 300, 2, 5, 40, 1000)]
    js = node_eval(
        "import { pack } from './src/payload.js';"
        f"const cases = {json.dumps(cases)};"
        "const fill = (n, k) => Uint8Array.from({length: n}, (_, i) => (i * 31 + k) % 256);"
        "console.log(JSON.stringify(cases.map(([w, h, s, tag, n, alpha]) => Buffer.from(pack({width: w, height: h,"
        " scale: s, codecId: 0, modelTag: tag, bitstream: fill(n, 1), alpha: alpha === null ? null : alpha < 256 ? alpha"
        " : fill(alpha, 2)})).toString('base64'))));"
    )
    for (w, h, s, tag, n, alpha), got in zip(cases, js):
        fill = lambda count, k: bytes((i * 31 + k) % 256 for i in range(count))  # noqa: E731
        coded = None if alpha is None else alpha if alpha < 256 else fill(alpha, 2)
        expected = wire.pack(wire.Payload(width=w, height=h, scale=s, codec_id=0, model_tag=tag,
                                          bitstream=fill(n, 1), alpha=coded))
        assert base64.b64decode(got) == expected


# ------------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def page():
    require_browser()
    if not (WEB / "node_modules" / "@jsquash" / "avif").is_dir():
        pytest.skip("web/node_modules/@jsquash/avif is missing: run `npm ci` in web/")
    with browser_page("encoder.html") as tab:
        yield tab


def rgba_input(image: np.ndarray) -> dict:
    h, w = image.shape[:2]
    rgba = image if image.shape[2] == 4 else np.dstack([image, np.full((h, w), 255, np.uint8)])
    return {"kind": "rgba", "width": w, "height": h, "data": base64.b64encode(np.ascontiguousarray(rgba).tobytes()).decode()}


def file_input(data: bytes, name: str = "upload", type_: str = "") -> dict:
    return {"kind": "file", "name": name, "type": type_, "data": base64.b64encode(data).decode()}


def js_encode(page, source: dict, **options) -> dict:
    return page.evaluate("([i, o]) => window.encodeImage(i, o)", [source, options])


def encoded(image: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, fmt, **options)
    return buf.getvalue()


def test_fixed_scale_payloads_decode_in_python_as_python_would_code_them(page):
    """Same scale, model, mode and size as sr_codec.encode; bytes and PSNR against Python's, measured."""
    cases = [
        ("x4 q50 RGB 231x200 (learned sender)", photo(200, 231), {"scale": 4, "quality": 50}),
        ("x4 q50 RGB 231x200 bicubic sender", photo(200, 231), {"scale": 4, "quality": 50, "sender": "bicubic"}),
        ("x2 q50 RGB 231x200 (learned sender)", photo(200, 231), {"scale": 2, "quality": 50}),
        ("x2 q60 RGB 131x87 bicubic sender", photo(87, 131), {"scale": 2, "quality": 60, "sender": "bicubic"}),
        ("x10 q40 RGB 321x481", photo(321, 481), {"scale": 10, "quality": 40}),
        ("x1 q50 RGB 131x87", photo(87, 131), {"scale": 1, "quality": 50}),
        ("x4 q50 RGBA soft alpha 101x75", photo(75, 101, "soft"), {"scale": 4, "quality": 50}),
        ("x4 q50 RGBA constant alpha 101x75", photo(75, 101, "constant"), {"scale": 4, "quality": 50}),
        ("x10->x7 13x7", photo(7, 13), {"scale": 10, "quality": 50}),
        ("x3 (no model) 64x49", photo(49, 64), {"scale": 3, "quality": 50}),
        ("grey photo x4 (bicubic thumbnail)", np.repeat(photo(120, 160).mean(axis=2, keepdims=True).astype(np.uint8), 3, 2),
         {"scale": 4, "quality": 50}),
    ]
    rows = []
    for kind, image, options in cases:
        result = js_encode(page, rgba_input(image), **options)
        assert result["ok"], f"{kind}: {result}"
        js = base64.b64decode(result["payload"])
        py = sr_codec.encode(image, scale=options["scale"], quality=options["quality"],
                             sender=options.get("sender", "auto"))
        info_js, info_py = sr_codec.inspect(js), sr_codec.inspect(py)
        for field in ("width", "height", "scale", "inner", "model_id", "mode"):
            assert getattr(info_js, field) == getattr(info_py, field), f"{kind}: {field} {info_js} vs {info_py}"
        decoded_js, decoded_py = sr_codec.decode(js), sr_codec.decode(py)
        assert decoded_js.shape == decoded_py.shape
        if image.shape[2] == 4 and info_js.alpha_bytes == 0:
            assert np.array_equal(decoded_js[..., 3], decoded_py[..., 3])
        rows.append({"kind": kind, "js_bytes": len(js), "py_bytes": len(py), "bytes_ratio": len(js) / len(py),
                     "js_psnr": psnr(decoded_js[..., :3], image[..., :3]), "py_psnr": psnr(decoded_py[..., :3], image[..., :3]),
                     "js_inner": info_js.inner_bytes, "py_inner": info_py.inner_bytes, "js_ms": result["ms"]})
    _report("fixed", rows)


@pytest.mark.xfail(strict=True, reason=(
    "@jsquash/avif 2.1.1 ships libavif 1.0.1 + libaom 3.7.0; Pillow 13 codes with libavif 1.4.2 + libaom 3.14.1, "
    "whose default all-intra tuning (tune=iq) spends about half the bytes at the same quality number "
    "(docs/web.md, 'Encoder conformance'). Passes once the browser's libaom matches."))
def test_same_scale_and_quality_bytes_within_5_percent_and_psnr_within_0_1_db(page):
    image = photo(200, 231)
    for scale in (2, 4):
        result = js_encode(page, rgba_input(image), scale=scale, quality=50, sender="bicubic")
        js = base64.b64decode(result["payload"])
        py = sr_codec.encode(image, scale=scale, quality=50, sender="bicubic")
        assert abs(len(js) / len(py) - 1) <= 0.05
        assert abs(psnr(sr_codec.decode(js), image) - psnr(sr_codec.decode(py), image)) <= 0.1


def test_equal_bytes_quality_against_python(page):
    """At Python's payload size (maxBytes = its bytes, same scale) the JS payload's decoded PSNR, measured.

    Asserted: it fits, decodes, and is within 1.5 dB of Python's (the gap of the older libaom; reported)."""
    rows = []
    for h, w in ((200, 231), (321, 481)):
        image = photo(h, w)
        for scale in (2, 4):
            py = sr_codec.encode(image, scale=scale, quality=50, sender="bicubic")
            result = js_encode(page, rgba_input(image), scale=scale, maxBytes=len(py), sender="bicubic")
            assert result["ok"], result
            js = base64.b64decode(result["payload"])
            assert len(js) <= len(py)
            js_db, py_db = psnr(sr_codec.decode(js), image), psnr(sr_codec.decode(py), image)
            rows.append({"size": f"{w}x{h}", "scale": scale, "bytes": len(py), "js_bytes": len(js),
                         "js_quality": result["quality"], "js_psnr": js_db, "py_psnr": py_db, "delta_db": js_db - py_db})
            assert js_db >= py_db - 1.5, rows[-1]
    _report("equal_bytes", rows)


def test_max_bytes_is_never_exceeded(page):
    rows = []
    for h, w in ((200, 231), (87, 131), (75, 101)):
        image = photo(h, w, "soft" if (h, w) == (75, 101) else None)
        for budget in (400, 900, 2000, 5000):
            result = js_encode(page, rgba_input(image), maxBytes=budget)
            if not result["ok"]:  # nothing fits (JS's libaom codes bigger at quality 0 than Pillow's: docs/web.md)
                assert result["name"] == "LimitExceededError" and f"no setting fits in {budget} bytes" in result["message"], result
                rows.append({"size": f"{w}x{h}", "budget": budget, "js": "LimitExceededError"})
                continue
            js = base64.b64decode(result["payload"])
            assert len(js) <= budget, (h, w, budget, len(js))
            decoded = sr_codec.decode(js)
            py = sr_codec.rate.choose(image, max_bytes=budget)
            rows.append({"size": f"{w}x{h}", "budget": budget, "js_bytes": len(js), "js_scale": result["scale"],
                         "js_quality": result["quality"], "js_sender": result["sender"], "js_psnr": psnr(decoded[..., :3], image[..., :3]),
                         "py_bytes": len(py.payload), "py_scale": py.scale, "py_quality": py.quality,
                         "py_psnr": psnr(sr_codec.decode(py.payload)[..., :3], image[..., :3]), "js_ms": result["ms"],
                         "encodes": result["encodes"]})
    result = js_encode(page, rgba_input(photo(200, 231)), maxBytes=30)
    assert result["name"] == "LimitExceededError" and "no setting fits in 30 bytes" in result["message"]
    _report("max_bytes", rows)
    assert rows


def test_thumbnail_matches_pythons_shrink_within_1(page):
    """A PNG file read by the browser and shrunk in JS == Python's load_image + downsample (and the learned one)."""
    from sr_codec.imaging.normalise import load_image
    from sr_codec.imaging.resample import downsample
    from sr_codec.sender.learned import learned_low_res, learned_pair

    for h, w, scale in ((131, 87, 4), (75, 101, 3), (321, 481, 2), (61, 45, 10)):
        data = encoded(photo(h, w))
        result = page.evaluate("([i, s]) => window.normalised(i, s)", [file_input(data, "p.png", "image/png"), scale])
        assert result["ok"], result
        rgb = load_image(data).rgb
        got_rgb = np.frombuffer(base64.b64decode(result["rgb"]), np.uint8).reshape(rgb.shape)
        assert np.array_equal(got_rgb, rgb)
        expected = downsample(rgb, scale)
        low = np.frombuffer(base64.b64decode(result["low"]), np.uint8).reshape(expected.shape)
        assert int(np.abs(low.astype(int) - expected).max()) <= 1
    for scale in (2, 4):
        pair = learned_pair(scale)
        if pair is None:
            continue
        rgb = photo(130, 171)
        expected = learned_low_res(rgb, scale, pair[0])
        result = page.evaluate("(a) => window.learnedThumbnail(a)",
                               {"data": base64.b64encode(rgb.tobytes()).decode(), "width": 171, "height": 130, "scale": scale})
        assert result["ok"], result
        low = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(expected.shape)
        assert int(np.abs(low.astype(int) - expected).max()) <= 1, f"learned x{scale}"


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def test_bad_files_raise_the_python_error_classes(page):
    jpeg = encoded(photo(64, 64), "JPEG", quality=90)
    cases = {
        "0-byte file": b"",
        "text file": b"hello, this is not a photo\n" * 10,
        "PNG header declaring 20000 x 10000 (200 MP)": _png_header_only(20000, 10000),
        "truncated JPEG": jpeg[: len(jpeg) // 2],
        "truncated PNG": encoded(photo(64, 64))[:-30],
    }
    for kind, data in cases.items():
        result = js_encode(page, file_input(data, "x"), maxBytes=3000)
        try:
            sr_codec.encode(data, max_bytes=3000)
            python = "encoded"
        except sr_codec.SrCodecError as error:
            python = type(error).__name__
        assert not result["ok"], kind
        assert result["name"] == python, f"{kind}: JS {result['name']} ({result['message']}), Python {python}"


def test_animated_gif_codes_the_first_frame_with_a_warning(page):
    frames = [Image.fromarray(photo(48, 64)), Image.fromarray(photo(48, 64)[::-1].copy())]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    result = js_encode(page, file_input(buf.getvalue(), "a.gif", "image/gif"), scale=2, quality=50)
    assert result["ok"], result
    assert any("2 frames" in w for w in result["warnings"])
    with pytest.warns(sr_codec.AnimatedImageWarning):
        py = sr_codec.encode(buf.getvalue(), scale=2, quality=50)
    assert sr_codec.inspect(base64.b64decode(result["payload"])).mode == sr_codec.inspect(py).mode


def test_exif_orientation_is_applied(page):
    image = photo(60, 90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encoded(image, "JPEG", quality=95, exif=exif.tobytes())
    result = js_encode(page, file_input(data, "r.jpg", "image/jpeg"), scale=2, quality=50)
    assert result["ok"], result
    info = sr_codec.inspect(base64.b64decode(result["payload"]))
    assert (info.width, info.height) == (60, 90) == (sr_codec.inspect(sr_codec.encode(data, scale=2)).width, 90)


def test_golden_payloads_decode_in_js_to_pythons_pixels(page):
    """Every payload of tests/golden, by name, within the decoder conformance tolerance (+-2) of sr_codec.decode.

    Both run the shipped ``.tflite`` of each model (web_manifest.json lists the files the CPU runtime loads)."""
    corpus = json.loads((GOLDEN / "corpus.json").read_text())["payloads"]
    rows = []
    for name in sorted(corpus):
        payload = (GOLDEN / f"{name}.srp").read_bytes()
        expected = sr_codec.decode(payload)
        result = page.evaluate("(b) => window.decodePayload(b)", base64.b64encode(payload).decode())
        assert result["ok"], f"{name}: {result}"
        got = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(expected.shape)
        diff = int(np.abs(got.astype(int) - expected).max())
        rows.append({"name": name, "max_abs_diff": diff})
    _report("golden", rows)
    worst = [row for row in rows if row["max_abs_diff"] > 2]  # the decoder conformance tolerance (test_web_conformance)
    assert not worst, worst
    assert len(rows) == len(corpus) >= 32


def test_every_input_kind_gives_the_same_payload(page):
    """ImageData, ImageBitmap, and a PNG Blob/File of the same opaque pixels code to the same bytes."""
    image = photo(87, 131)
    data = rgba_input(image)
    bitmap = {**data, "kind": "bitmap"}
    png = file_input(encoded(image), "p.png", "image/png")
    payloads = []
    for source in (data, bitmap, png):
        result = js_encode(page, source, scale=2, quality=50)
        assert result["ok"], result
        payloads.append(base64.b64decode(result["payload"]))
    assert payloads[0] == payloads[1] == payloads[2]
    result = page.evaluate("() => window.encodeImage({kind: 'rgba', width: 1, height: 1, data: 'AAAA/w=='}, {scale: 3})")
    assert result["ok"] and sr_codec.inspect(base64.b64decode(result["payload"])).scale == 1
