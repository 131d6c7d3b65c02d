"""The demo's web app: pages, the upload endpoint, the message list, payload bytes, static files."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

import sr_codec

from .browser import ISOLATION_HEADERS, WEB_DIR, import_map
from .coding import code_upload
from .store import MAX_SENDER_CHARS, NewMessage, Store

STATIC_DIR = Path(__file__).resolve().parent / "static"
WEIGHTS_DIR = Path(sr_codec.__file__).resolve().parent / "weights"
WEB_MANIFEST = "web_manifest.json"
ROOM_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MiB = 1 << 20
DEFAULT_MAX_UPLOAD_BYTES = 16 * MiB
DEFAULT_MAX_PIXELS = 40_000_000
MIN_BUDGET, MAX_BUDGET = 200, 200_000


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(database_url: str, *, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
               max_pixels: int = DEFAULT_MAX_PIXELS, concurrent_encodes: int = 2) -> FastAPI:
    """The app; ``concurrent_encodes`` bounds the encodes (and their memory) running at once."""
    store = Store(database_url)
    limits = sr_codec.Limits(max_pixels=max_pixels)
    encode_slots = asyncio.Semaphore(concurrent_encodes)
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

    @app.get("/rooms/{room}")
    async def room_page(room: str) -> Response:
        if not ROOM_PATTERN.match(room):
            return error(404, "a room name is 1-64 letters, digits, '-' or '_'")
        html = (STATIC_DIR / "index.html").read_text()
        html = html.replace("{{IMPORT_MAP}}", json.dumps(import_map("/node_modules")))
        return HTMLResponse(html)

    @app.post("/api/rooms/{room}/messages")
    async def send(request: Request, room: str, sender: str = Query("anonymous", max_length=MAX_SENDER_CHARS),
                   max_bytes: int = Query(3000, ge=MIN_BUDGET, le=MAX_BUDGET)) -> JSONResponse:
        if not ROOM_PATTERN.match(room):
            return error(404, "a room name is 1-64 letters, digits, '-' or '_'")
        sender = sender.strip() or "anonymous"
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_upload_bytes):
            return error(413, f"the upload is larger than {max_upload_bytes // MiB} MiB")
        chunks, received = [], 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_upload_bytes:
                return error(413, f"the upload is larger than {max_upload_bytes // MiB} MiB")
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data:
            return error(400, "the upload is empty (0 bytes): pick a photo")
        async with encode_slots:
            try:
                coded = await run_in_threadpool(code_upload, data, max_bytes, limits)
            except sr_codec.InputImageError as exc:
                return error(415, f"this file cannot be coded as a photo: {exc}")
            except sr_codec.LimitExceededError as exc:
                return error(413, f"this photo cannot be coded: {exc}")
            except sr_codec.SrCodecError as exc:
                return error(422, f"this photo cannot be coded: {exc}")
        message = store.add(NewMessage(room=room, sender=sender, payload=coded.payload, original_bytes=len(data),
                                       avif_bytes=coded.avif_bytes, jpeg_bytes=coded.jpeg_bytes,
                                       psnr_db=coded.psnr_db))
        return JSONResponse(describe(message), status_code=201)

    @app.get("/api/rooms/{room}/messages")
    async def messages(room: str, after: int = Query(0, ge=0)) -> JSONResponse:
        rows = await run_in_threadpool(store.list, room, after)
        return JSONResponse([describe(row) for row in rows])

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
        "payload_bytes": len(message.payload), "original_bytes": message.original_bytes,
        "avif_bytes": message.avif_bytes, "jpeg_bytes": message.jpeg_bytes, "psnr_db": message.psnr_db,
    }
