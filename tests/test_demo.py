"""``python -m sr_codec.demo``: uploads, abuse, parallel senders, and the browser end to end.

The server runs in-process on a free localhost port with a temporary SQLite file. The browser test
drives Debian's chromium with Playwright: send a photo, wait until the receiving page has decoded
it, screenshot, and compare the page's pixels with ``sr_codec.decode`` of the stored payload.
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
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

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

MAX_UPLOAD = 1 << 20
MAX_PIXELS = 20_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    database = tmp_path_factory.mktemp("demo") / "chat.sqlite3"
    app = create_app(f"sqlite:///{database}", max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS)
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


def test_bad_uploads_get_a_clear_error_and_nothing_is_stored(server):
    port, store = server["port"], server["store"]
    before = store.count()
    cases = {
        "not an image (text)": ("/api/rooms/abuse/messages", b"this is not a photo", {}, False),
        "0 bytes": ("/api/rooms/abuse/messages", b"", {}, False),
        "200 MP PNG header": ("/api/rooms/abuse/messages", png_header_only(20_000, 10_000), {}, False),
        "decompression bomb (64 MP PNG, few KB)": ("/api/rooms/abuse/messages", png_bomb(8000), {}, False),
        "zip bomb (20 MiB of zeros, zipped)": ("/api/rooms/abuse/messages", zip_bomb(), {}, False),
        "oversized request (2 MiB, Content-Length)": ("/api/rooms/abuse/messages", bytes(2 * MAX_UPLOAD), {}, False),
        "oversized request (2 MiB, chunked)": ("/api/rooms/abuse/messages", _chunks(2 * MAX_UPLOAD),
                                               {"Transfer-Encoding": "chunked"}, True),
        "byte budget below the minimum": ("/api/rooms/abuse/messages?max_bytes=10", photo_file(64, 64), {}, False),
        "byte budget impossible for this photo": ("/api/rooms/abuse/messages?max_bytes=200", noisy_photo(), {}, False),
        "bad room name": ("/api/rooms/no%20spaces/messages", photo_file(64, 64), {}, False),
    }
    outcomes = {}
    for name, (path, body, headers, chunked) in cases.items():
        status, data = request(port, "POST", path, body, headers, chunked)
        outcomes[name] = (status, data.decode(errors="replace")[:200])
    report = os.environ.get("SR_CODEC_DEMO_REPORT")
    if report:
        with open(report, "w") as f:
            json.dump(outcomes, f, indent=1)
    for name, (status, text) in outcomes.items():
        assert 400 <= status < 500, f"{name}: {status} {text}"
        assert "error" in text or "detail" in text, f"{name}: no message: {text}"
    assert outcomes["0 bytes"][0] == 400
    assert outcomes["not an image (text)"][0] == 415
    assert outcomes["zip bomb (20 MiB of zeros, zipped)"][0] == 415
    assert outcomes["200 MP PNG header"][0] == 413 and "pixels" in outcomes["200 MP PNG header"][1]
    assert outcomes["decompression bomb (64 MP PNG, few KB)"][0] == 413
    assert outcomes["oversized request (2 MiB, Content-Length)"][0] == 413
    assert outcomes["oversized request (2 MiB, chunked)"][0] == 413
    assert "no setting fits in 200 bytes" in outcomes["byte budget impossible for this photo"][1]
    assert store.count() == before
    assert json.loads(request(port, "GET", "/api/rooms/abuse/messages")[1]) == []


def test_parallel_senders_neither_lose_nor_mix_messages(server):
    port = server["port"]
    senders = {f"sender{i}": photo_file(40 + 7 * i, 50 + 3 * i, seed=i) for i in range(6)}

    def send(item):
        sender, data = item
        return request(port, "POST", f"/api/rooms/parallel/messages?sender={sender}&max_bytes=1500", data)

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(send, senders.items()))
    assert [status for status, _ in results] == [201] * len(senders), results
    listed = json.loads(request(port, "GET", "/api/rooms/parallel/messages")[1])
    assert sorted(m["sender"] for m in listed) == sorted(senders)
    for message in listed:
        status, payload = request(port, "GET", f"/api/messages/{message['id']}/payload")
        assert status == 200 and len(payload) == message["payload_bytes"] <= 1500
        original = Image.open(io.BytesIO(senders[message["sender"]]))
        info = sr_codec.inspect(payload)
        assert (info.width, info.height) == original.size  # each sender got their own photo back
        assert message["original_bytes"] == len(senders[message["sender"]])


def test_browser_sends_and_receives_a_photo(server, tmp_path):
    executable, playwright_api = require_browser()
    port = server["port"]
    photos = [("astronaut.jpg", photo_file(360, 480, seed=0), "2500"), ("coffee.jpg", photo_file(300, 400, seed=1), "1500")]
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=list(browser.CHROMIUM_FLAGS))
        sender = chromium.new_page(viewport={"width": 900, "height": 1180})
        receiver = chromium.new_page(viewport={"width": 900, "height": 1180})  # another tab: it only receives
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
        receiver.wait_for_timeout(300)
        shot = os.environ.get("SR_CODEC_DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
        receiver.screenshot(path=shot, full_page=True)
        ids = receiver.eval_on_selector_all("article[data-state=decoded]", "(els) => els.map((e) => Number(e.dataset.id))")
        table = receiver.inner_text("article[data-state=decoded] table")
        results = [receiver.evaluate("""(id) => { const im = window.srDecoded[id]; let s = '';
            for (let i = 0; i < im.data.length; i += 0x8000) s += String.fromCharCode(...im.data.subarray(i, i + 0x8000));
            return {width: im.width, height: im.height, channels: im.channels, data: btoa(s), ms: im.timings.totalMs}; }""", i)
                   for i in ids]
        chromium.close()
    assert "received (sr_codec payload)" in table and "JPEG, same quality" in table
    assert len(ids) == len(photos)
    for message_id, result in zip(ids, results):
        status, payload = request(port, "GET", f"/api/messages/{message_id}/payload")
        assert status == 200
        expected = sr_codec.decode(payload)
        got = np.frombuffer(base64.b64decode(result["data"]), np.uint8).reshape(
            result["height"], result["width"], result["channels"])
        assert got.shape == expected.shape
        assert int(np.abs(got.astype(np.int16) - expected.astype(np.int16)).max()) <= 2
