"""The demo's web app: pages, the payload relay, the message list, payload bytes, static files.

The browser encodes (web/src/encoder.js) and uploads only the payload; the server checks it
(``sr_codec.inspect``: fields, CRC-32, limits), stores it once and relays it. It never receives the photo.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import sr_codec

from .browser import ISOLATION_HEADERS, WEB_DIR, import_map
from .coding import check_comparison, check_payload
from .store import MAX_CLIENT_ID_CHARS, MAX_SENDER_CHARS, NewMessage, Store

STATIC_DIR = Path(__file__).resolve().parent / "static"
WEIGHTS_DIR = Path(sr_codec.__file__).resolve().parent / "weights"
WEB_MANIFEST = "web_manifest.json"
#: What the browser's encoder reads next to the web manifest: the learned pairs and tags, the rate-control gain table.
SENDER_FILES = ("manifest.json", "gain_table.json", "rate_proxy.json")
ROOM_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CLIENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,%d}$" % MAX_CLIENT_ID_CHARS)
KiB = 1 << 10
MiB = 1 << 20
#: Largest payload the server takes: the page's budgets go up to 20 KB; 256 KiB leaves room for big photos.
DEFAULT_MAX_PAYLOAD_BYTES = 256 * KiB
DEFAULT_MAX_PIXELS = 40_000_000
MAX_ORIGINAL_BYTES = 1 << 40


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(database_url: str, *, max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> FastAPI:
    """The app. ``max_payload_bytes``: the largest upload (a payload) it reads; ``max_pixels``: the largest
    image a payload may declare (``sr_codec.Limits``)."""
    store = Store(database_url)
    limits = sr_codec.Limits(max_pixels=max_pixels, max_payload_bytes=max_payload_bytes,
                             max_inner_bytes=max_payload_bytes)
    app = FastAPI(title="sr_codec chat demo")
    app.state.store = store

    @app.middleware("http")
    async def isolate(request: Request, call_next):
        # Cross-origin isolation lets LiteRT.js run its threaded WebAssembly build.
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response

    @app.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse("/rooms/lobby")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    @app.get("/rooms/{room}")
    async def room_page(room: str) -> Response:
        if not ROOM_PATTERN.match(room):
            return error(404, "a room name is 1-64 letters, digits, '-' or '_'")
        html = (STATIC_DIR / "index.html").read_text()
        html = html.replace("{{IMPORT_MAP}}", json.dumps(import_map("/node_modules")))
        return HTMLResponse(html)

    @app.post("/api/rooms/{room}/messages")
    async def send(request: Request, room: str, sender: str = Query("anonymous", max_length=MAX_SENDER_CHARS),
                   original_bytes: int = Query(..., ge=1, le=MAX_ORIGINAL_BYTES),
                   client_id: str | None = Query(None, max_length=MAX_CLIENT_ID_CHARS)) -> JSONResponse:
        """The body is an sr_codec payload (application/octet-stream); anything else is refused and not stored."""
        if not ROOM_PATTERN.match(room):
            return error(404, "a room name is 1-64 letters, digits, '-' or '_'")
        if client_id is not None and not CLIENT_ID_PATTERN.match(client_id):
            return error(422, "client_id is 1-64 letters, digits, '-' or '_'")
        sender = sender.strip() or "anonymous"
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_payload_bytes):
            return error(413, f"the upload is larger than {max_payload_bytes // KiB} KiB: send an sr_codec payload, "
                              "not a photo")
        chunks, received = [], 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_payload_bytes:
                return error(413, f"the upload is larger than {max_payload_bytes // KiB} KiB: send an sr_codec payload, "
                                  "not a photo")
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data:
            return error(400, "the upload is empty (0 bytes)")
        try:
            checked = check_payload(data, limits)
        except sr_codec.LimitExceededError as exc:
            return error(413, f"payload refused (LimitExceededError): {exc}")
        except sr_codec.SrCodecError as exc:
            return error(422, f"payload refused ({type(exc).__name__}): {exc}")
        new = NewMessage(room=room, sender=sender, payload=checked.payload, original_bytes=original_bytes,
                         client_id=client_id or uuid.uuid4().hex)
        message, created = await run_in_threadpool(store.add, new)
        if not created and message.payload != checked.payload:
            return error(409, f"client_id {client_id} was already used for another payload in this room")
        return JSONResponse(describe(message), status_code=201 if created else 200)

    @app.post("/api/messages/{message_id}/comparison")
    async def comparison(message_id: int, psnr_db: float | None = Query(None), avif_bytes: int | None = Query(None),
                         avif_speed: int | None = Query(None)) -> JSONResponse:
        """The sender's browser reports what it measured after sending (numbers only; set once)."""
        problem = check_comparison(psnr_db, avif_bytes, avif_speed)
        if problem:
            return error(422, problem)
        message = await run_in_threadpool(store.set_comparison, message_id, psnr_db, avif_bytes, avif_speed)
        if message is None:
            return error(404, f"no message {message_id}")
        return JSONResponse(describe(message))

    @app.get("/api/rooms/{room}/messages")
    async def messages(room: str, after: int = Query(0, ge=0)) -> JSONResponse:
        rows = await run_in_threadpool(store.list, room, after)
        return JSONResponse([describe(row) for row in rows])

    @app.get("/api/messages/{message_id}")
    async def message_info(message_id: int) -> Response:
        message = await run_in_threadpool(store.get, message_id)
        if message is None:
            return error(404, f"no message {message_id}")
        return JSONResponse(describe(message))

    @app.get("/api/messages/{message_id}/payload")
    async def payload(message_id: int) -> Response:
        message = await run_in_threadpool(store.get, message_id)
        if message is None:
            return error(404, f"no message {message_id}")
        return Response(message.payload, media_type="application/octet-stream")

    @app.get("/models/{name}")
    async def model_file(name: str) -> Response:
        manifest = json.loads((WEIGHTS_DIR / WEB_MANIFEST).read_text())
        served = {WEB_MANIFEST} | {info["file"] for info in manifest["models"].values()}
        sender_manifest = json.loads((WEIGHTS_DIR / "manifest.json").read_text())
        served |= {name for name in SENDER_FILES if (WEIGHTS_DIR / name).is_file()}
        served |= {sender_manifest["models"][pair["downscaler"]]["tflite"]["file"]
                   for pair in sender_manifest.get("pairs", {}).values()
                   if "tflite" in sender_manifest["models"].get(pair["downscaler"], {})}
        if name not in served:
            return error(404, f"no model file {name}")
        return FileResponse(WEIGHTS_DIR / name)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/web", StaticFiles(directory=WEB_DIR / "src"), name="web")
    node_modules = WEB_DIR / "node_modules"
    if node_modules.is_dir():
        app.mount("/node_modules", StaticFiles(directory=node_modules), name="node_modules")
    return app


def describe(message) -> dict:
    """A message without its payload: what the list endpoint returns."""
    return {
        "id": message.id, "room": message.room, "sender": message.sender, "created": message.created.isoformat(),
        "payload_bytes": len(message.payload), "original_bytes": message.original_bytes, "client_id": message.client_id,
        "psnr_db": message.psnr_db, "avif_bytes": message.avif_bytes, "avif_speed": message.avif_speed,
    }
