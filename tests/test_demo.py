"""``python -m sr_codec.demo``: a payload relay. Bad uploads, photos refused at the HTTP level, load, and the
browser end to end.

The server runs in-process on a free localhost port with a temporary SQLite file. The browser test drives
Debian's chromium with Playwright: the sending tab codes a photo in the page (the JS encoder) and uploads
only the payload; the receiving tab decodes it; the test screenshots, checks every request body the pages
sent (no photo bytes), the console (no noise) and compares the page's pixels with ``sr_codec.decode``.
Set ``SR_CODEC_DEMO_SCREENSHOT=path.png`` to keep the screenshot (docs/demo.png is made so).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import socket
import struct
import threading
import time
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec

pytest.importorskip("fastapi", reason="pip install -e '.[demo]'")
pytest.importorskip("sqlalchemy", reason="pip install -e '.[demo]'")
uvicorn = pytest.importorskip("uvicorn", reason="pip install -e '.[demo]'")

from conftest import require_browser
from sr_codec.demo import browser  # noqa: E402
from sr_codec.demo.app import create_app  # noqa: E402
from sr_codec.zoo import manifest as zoo  # noqa: E402

MAX_PAYLOAD = 64 << 10
MAX_PIXELS = 20_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database = tmp_path_factory.mktemp("demo") / "chat.sqlite3"
    app = create_app(f"sqlite:///{database}", max_payload_bytes=MAX_PAYLOAD, max_pixels=MAX_PIXELS)
    port = free_port()
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "the demo server did not start"
    yield {"port": port, "store": app.state.store}
    instance.should_exit = True
    thread.join(10)
    app.state.store.close()


def request(port: int, method: str, path: str, body=None, headers=None, chunked: bool = False):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        return response.status, data
    finally:
        connection.close()


def photo_file(height: int, width: int, seed: int = 0, fmt: str = "JPEG") -> bytes:
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the 'dev' extra) supplies the photos")
    source = [skimage_data.astronaut, skimage_data.coffee, skimage_data.chelsea][seed % 3]()
    image = Image.fromarray(source).resize((width, height), Image.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, fmt, quality=92) if fmt == "JPEG" else image.save(buf, fmt)
    return buf.getvalue()


def payload_of(seed: int, quality: int = 50, size: tuple[int, int] = (48, 64)) -> bytes:
    image = np.asarray(Image.open(io.BytesIO(photo_file(*size, seed=seed, fmt="PNG"))))
    return sr_codec.encode(image, scale=4, quality=quality, sender="bicubic")


def repack(fields: list) -> bytes:
    import msgpack

    body = b"".join(msgpack.packb(f, use_bin_type=True) for f in fields)
    return body + zlib.crc32(body).to_bytes(4, "big")


def fields_of(payload: bytes) -> list:
    import msgpack

    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(payload[:-4])
    return list(unpacker)


def damaged(payload: bytes, kind: int) -> tuple[bytes, str]:
    """A damaged copy of ``payload`` and the error class the server must name."""
    if kind % 3 == 0:
        flipped = bytearray(payload)
        flipped[len(payload) // 2] ^= 0x08
        return bytes(flipped), "PayloadError"
    if kind % 3 == 1:
        return payload[: len(payload) - 7], "PayloadError"
    fields = fields_of(payload)
    return repack([fields[0], 60000, 60000] + fields[3:]), "LimitExceededError"


def noisy_photo() -> bytes:
    """A 2000 x 1500 grainy photo (JPEG, ~0.3 MB) whose smallest payload is far above 200 bytes."""
    image = np.asarray(Image.open(io.BytesIO(photo_file(1500, 2000))))
    grain = np.random.default_rng(0).integers(-20, 20, image.shape)
    buf = io.BytesIO()
    Image.fromarray(np.clip(image + grain, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=30)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height and has no pixel data (what a size-bomb header looks like)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def png_bomb(side: int) -> bytes:
    """A real, valid grey PNG of side x side black pixels: a few KB that inflate to side^2 bytes."""
    compressor = zlib.compressobj(9)
    row = bytes(side + 1)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("photo.jpg", bytes(20 << 20))
    return buf.getvalue()


def _chunks(total: int, size: int = 64 << 10):
    for _ in range(total // size):
        yield bytes(size)


def send_payload(port: int, room: str, payload: bytes, *, sender: str = "test", original: int = 123_456,
                 client_id: str | None = None):
    query = f"sender={sender}&original_bytes={original}" + (f"&client_id={client_id}" if client_id else "")
    status, data = request(port, "POST", f"/api/rooms/{room}/messages?{query}", payload,
                           {"Content-Type": "application/octet-stream"})
    return status, json.loads(data) if data else {}


def test_bad_uploads_get_a_clear_error_and_nothing_is_stored(server):
    port, store = server["port"], server["store"]
    before = store.count()
    good = payload_of(0)
    path = "/api/rooms/abuse/messages?original_bytes=1000"
    cases = {
        "a photo (JPEG), not a payload": (path, photo_file(64, 64), {}, False),
        "a photo (PNG), not a payload": (path, photo_file(64, 64, fmt="PNG"), {}, False),
        "not a payload (text)": (path, b"this is not a payload", {}, False),
        "0 bytes": (path, b"", {}, False),
        "payload with a flipped bit": (path, damaged(good, 0)[0], {}, False),
        "truncated payload": (path, damaged(good, 1)[0], {}, False),
        "payload declaring 60000 x 60000": (path, damaged(good, 2)[0], {}, False),
        "oversized request (2x the limit, Content-Length)": (path, bytes(2 * MAX_PAYLOAD), {}, False),
        "oversized request (2x the limit, chunked)": (path, _chunks(2 * MAX_PAYLOAD, 16 << 10),
                                                      {"Transfer-Encoding": "chunked"}, True),
        "no original_bytes": ("/api/rooms/abuse/messages", good, {}, False),
        "bad client_id": (path + "&client_id=no%20spaces", good, {}, False),
        "bad room name": ("/api/rooms/no%20spaces/messages?original_bytes=1000", good, {}, False),
    }
    outcomes = {}
    for name, (url, body, headers, chunked) in cases.items():
        status, data = request(port, "POST", url, body, headers, chunked)
        outcomes[name] = (status, data.decode(errors="replace")[:200])
    report = os.environ.get("SR_CODEC_DEMO_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(outcomes, f, indent=1)
    for name, (status, text) in outcomes.items():
        assert 400 <= status < 500, f"{name}: {status} {text}"
        assert "error" in text or "detail" in text, f"{name}: no message: {text}"
    assert outcomes["a photo (JPEG), not a payload"][0] == 422 and "PayloadError" in outcomes["a photo (JPEG), not a payload"][1]
    assert "JPEG" in outcomes["a photo (JPEG), not a payload"][1]
    assert outcomes["0 bytes"][0] == 400
    assert outcomes["payload with a flipped bit"][0] == 422 and "checksum" in outcomes["payload with a flipped bit"][1]
    assert outcomes["payload declaring 60000 x 60000"][0] == 413
    assert outcomes["oversized request (2x the limit, Content-Length)"][0] == 413
    assert outcomes["oversized request (2x the limit, chunked)"][0] == 413
    assert store.count() == before
    assert json.loads(request(port, "GET", "/api/rooms/abuse/messages")[1]) == []


def test_the_server_never_stores_a_photo(server):
    """At the HTTP level: a photo in any accepted format is refused; what is stored is the payload, byte for byte."""
    port, store = server["port"], server["store"]
    before = store.count()
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP"):
        status, body = send_payload(port, "photos", photo_file(60, 80, fmt=fmt), original=5000)
        assert status == 422, (fmt, status, body)
    assert store.count() == before
    payload = payload_of(1)
    status, body = send_payload(port, "photos", payload, original=98_765)
    assert status == 201 and body["payload_bytes"] == len(payload) and body["original_bytes"] == 98_765
    assert request(port, "GET", f"/api/messages/{body['id']}/payload")[1] == payload
    assert store.count() == before + 1


def test_a_retried_upload_is_stored_once(server):
    port = server["port"]
    payload = payload_of(2)
    first = send_payload(port, "retry", payload, client_id="abc-123")
    second = send_payload(port, "retry", payload, client_id="abc-123")
    assert (first[0], second[0]) == (201, 200) and first[1]["id"] == second[1]["id"]
    assert send_payload(port, "retry", payload_of(3), client_id="abc-123")[0] == 409
    assert len(json.loads(request(port, "GET", "/api/rooms/retry/messages")[1])) == 1


def test_comparison_numbers_are_checked_and_set_once(server):
    port = server["port"]
    status, body = send_payload(port, "compare", payload_of(4))
    assert status == 201 and body["psnr_db"] is None
    base = f"/api/messages/{body['id']}/comparison"
    assert request(port, "POST", base + "?psnr_db=nan&avif_bytes=10&avif_speed=6")[0] == 422
    assert request(port, "POST", base + "?psnr_db=30&avif_bytes=10&avif_speed=11")[0] == 422
    assert request(port, "POST", base + "?psnr_db=30.5&avif_bytes=900&avif_speed=9")[0] == 200
    assert request(port, "POST", base + "?psnr_db=10&avif_bytes=1&avif_speed=0")[0] == 200  # ignored: set once
    info = json.loads(request(port, "GET", f"/api/messages/{body['id']}")[1])
    assert (info["psnr_db"], info["avif_bytes"], info["avif_speed"]) == (30.5, 900, 9)


SENDERS, PER_SENDER, RECEIVERS = 20, 10, 3


def test_under_load_nothing_is_lost_duplicated_or_reordered(server):
    """20 concurrent senders x 10 payloads (every 7th damaged) against 3 polling receivers, on loopback, SQLite.

    Every valid payload is stored exactly once (one retry each for some: same client_id) and reaches every
    receiver, in id order, each sender's in the order sent; every damaged one is refused with its error class."""
    port, store = server["port"], server["store"]
    room = "load"
    plans = []
    for s in range(SENDERS):
        items = []
        for k in range(PER_SENDER):
            payload = payload_of(s, quality=20 + 5 * k, size=(40 + s, 56 + k))
            if (s * PER_SENDER + k) % 7 == 3:
                bad, error_name = damaged(payload, s + k)
                items.append(("bad", bad, error_name, f"s{s}-k{k}"))
            else:
                items.append(("good", payload, None, f"s{s}-k{k}"))
        plans.append(items)
    valid = {cid: payload for items in plans for kind, payload, _, cid in items if kind == "good"}
    done = threading.Event()
    received = [[] for _ in range(RECEIVERS)]

    def receive(index):
        after, deadline = 0, time.monotonic() + 180
        while time.monotonic() < deadline:
            for message in json.loads(request(port, "GET", f"/api/rooms/{room}/messages?after={after}")[1]):
                received[index].append(message)
                after = message["id"]
            if done.is_set() and len(received[index]) >= len(valid):
                return
            time.sleep(0.02)

    def send(s):
        outcomes = []
        for k, (kind, payload, error_name, cid) in enumerate(plans[s]):
            status, body = send_payload(port, room, payload, sender=f"sender{s}", original=10_000 + k, client_id=cid)
            outcomes.append((kind, error_name, cid, status, body))
            if kind == "good" and k % 4 == 0:  # a retry of a message that did arrive
                outcomes.append(("retry", None, cid, *send_payload(port, room, payload, sender=f"sender{s}",
                                                                     original=10_000 + k, client_id=cid)))
        return outcomes

    started = time.monotonic()
    receivers = [threading.Thread(target=receive, args=(i,), daemon=True) for i in range(RECEIVERS)]
    for thread in receivers:
        thread.start()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        results = [o for outcomes in pool.map(send, range(SENDERS)) for o in outcomes]
    done.set()
    for thread in receivers:
        thread.join(200)
    elapsed = time.monotonic() - started

    for kind, error_name, cid, status, body in results:
        if kind == "good":
            assert status == 201, (cid, status, body)
        elif kind == "retry":
            assert status == 200, (cid, status, body)
        else:
            assert status in (413, 422) and error_name in body["error"], (cid, status, body)
    stored = store.list(room, 0, limit=10_000)
    assert sorted(m.client_id for m in stored) == sorted(valid)  # exactly once each
    assert all(m.payload == valid[m.client_id] for m in stored)
    ids = [m.id for m in stored]
    for index, got in enumerate(received):
        assert [m["id"] for m in got] == ids, f"receiver {index}: missing, duplicated or out of order"
        for s in range(SENDERS):  # each sender's messages in the order it sent them
            mine = [m["client_id"] for m in got if m["sender"] == f"sender{s}"]
            assert mine == [cid for kind, _, _, cid in plans[s] if kind == "good"]
    report = os.environ.get("SR_CODEC_DEMO_REPORT")
    if report:
        Path(report).with_suffix(".load.json").write_text(json.dumps({
            "senders": SENDERS, "payloads_each": PER_SENDER, "valid": len(valid),
            "damaged": SENDERS * PER_SENDER - len(valid), "receivers": RECEIVERS, "seconds": elapsed}))
    assert elapsed < 180


def test_favicon_and_sender_files_are_served(server):
    port = server["port"]
    assert request(port, "GET", "/favicon.ico")[0] == 200
    for name in ("web_manifest.json", "manifest.json"):
        assert request(port, "GET", f"/models/{name}")[0] == 200
    assert request(port, "GET", "/models/checkpoint.h5")[0] == 404


READ_DECODED = """(id) => { const im = window.srDecoded[id]; let s = '';
    for (let i = 0; i < im.data.length; i += 0x8000) s += String.fromCharCode(...im.data.subarray(i, i + 0x8000));
    return {width: im.width, height: im.height, channels: im.channels, data: btoa(s), ms: im.timings.totalMs,
            modelId: im.modelId}; }"""


def test_browser_encodes_and_only_the_payload_is_uploaded(server, tmp_path):
    executable, playwright_api = require_browser()
    port = server["port"]
    photos = [("astronaut.jpg", photo_file(360, 480, seed=0), "2500"), ("coffee.jpg", photo_file(300, 400, seed=1), "1500")]
    uploads, console = [], []
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=list(browser.CHROMIUM_FLAGS))
        sender = chromium.new_page(viewport={"width": 900, "height": 1180})
        receiver = chromium.new_page(viewport={"width": 900, "height": 1180})  # another tab: it only receives
        for tab in (sender, receiver):
            tab.on("request", lambda r: uploads.append((r.method, r.url, r.post_data_buffer or b"")))
            tab.on("console", lambda m: console.append((m.type, m.text)))
            tab.on("pageerror", lambda e: console.append(("pageerror", str(e))))
        sender.goto(f"http://127.0.0.1:{port}/rooms/e2e")
        receiver.goto(f"http://127.0.0.1:{port}/rooms/e2e")
        for count, (name, data, budget) in enumerate(photos, start=1):
            sender.fill("#sender", "alice" if count == 1 else "bob")
            sender.set_input_files("#photo", {"name": name, "mimeType": "image/jpeg", "buffer": data})
            sender.eval_on_selector("#budget", f"(el) => {{ el.value = '{budget}'; el.dispatchEvent(new Event('input')); }}")
            sender.click("#send")
            sender.wait_for_function("document.querySelector('#send-status').textContent.startsWith('Sent')",
                                     timeout=300_000)
            receiver.wait_for_function(f"document.querySelectorAll('article[data-state=decoded]').length >= {count}",
                                       timeout=120_000)
        sender.wait_for_function(f"(window.srCompared || 0) >= {len(photos)}", timeout=300_000)
        receiver.wait_for_function(f"document.querySelectorAll('article[data-compared]').length >= {len(photos)}",
                                   timeout=120_000)
        receiver.wait_for_timeout(300)
        shot = os.environ.get("SR_CODEC_DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
        receiver.screenshot(path=shot, full_page=True)
        ids = receiver.eval_on_selector_all("article[data-state=decoded]", "(els) => els.map((e) => Number(e.dataset.id))")
        table = receiver.inner_text("article[data-state=decoded] table")
        sent = sender.evaluate("window.srSent")
        results = [receiver.evaluate(READ_DECODED, i) for i in ids]
        # the look toggle: add a message whose model has a sharp twin (x4, bicubic sender), switch to sharp
        status, twin_message = send_payload(port, "e2e", payload_of(5, size=(96, 128)))
        assert status == 201
        receiver.wait_for_function(f"document.querySelectorAll('article[data-state=decoded]').length >= {len(photos) + 1}",
                                   timeout=120_000)
        assert receiver.is_checked("#look input[value=faithful]")
        receiver.check("#look input[value=sharp]")
        receiver.wait_for_function("[...document.querySelectorAll('article.message')].every((a) => a.dataset.look === 'sharp')",
                                   timeout=120_000)
        sharp = {i: receiver.evaluate(READ_DECODED, i) for i in ids + [twin_message["id"]]}
        chromium.close()
    assert "original file (never uploaded)" in table and "libavif speed" in table and "as the payload" in table
    assert len(ids) == len(photos)
    # what left the browsers: payloads and numbers, never a photo
    bodies = [body for method, url, body in uploads if method == "POST"]
    for _, data, _ in photos:
        assert not any(data[:4096] in body for body in bodies)
    posted = [body for method, url, body in uploads if method == "POST" and "/messages?" in url]
    assert sorted(len(b) for b in posted) == sorted(s["payloadBytes"] for s in sent)
    assert all(s["payloadBytes"] <= int(b) for s, (_, _, b) in zip(sent, photos))
    # Chromium's own answer to the one WebGPU probe per page (no adapter here) is the only message allowed
    noise = [(kind, text) for kind, text in console if kind in ("error", "warning", "pageerror")
             and text != "No available adapters."]
    assert sum(text == "No available adapters." for _, text in console) <= 2  # one per tab at most
    assert not noise, "\n".join(sorted({f"{kind}: {text[:300]}" for kind, text in noise}))
    for message_id, result, (name, data, _) in zip(ids, results, photos):
        status, payload = request(port, "GET", f"/api/messages/{message_id}/payload")
        assert status == 200
        info = json.loads(request(port, "GET", f"/api/messages/{message_id}")[1])
        assert info["original_bytes"] == len(data) and info["psnr_db"] is not None and info["avif_speed"] is not None
        expected = sr_codec.decode(payload)
        got = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(
            result["height"], result["width"], result["channels"])
        assert got.shape == expected.shape
        assert int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max()) <= 2
    for message_id, result in sharp.items():  # re-rendered in the sharp look: Python's decode(look="sharp")
        payload = request(port, "GET", f"/api/messages/{message_id}/payload")[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", sr_codec.LookUnavailableWarning)  # a model without a twin: faithful
            expected = sr_codec.decode(payload, look="sharp")
        got = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(expected.shape)
        assert int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max()) <= 2
        twin = zoo.model_for_look(sr_codec.inspect(payload).model_id, "sharp")
        assert result["modelId"] == (twin or sr_codec.inspect(payload).model_id)
    twin = zoo.model_for_look(zoo.default_model_id(4), "sharp")
    assert twin is not None and sharp[twin_message["id"]]["modelId"] == twin  # the switch ran the twin
