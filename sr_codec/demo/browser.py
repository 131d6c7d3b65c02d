"""Headless Chromium for the browser tests and the demo: find the binary, launch it offline, serve files.

Playwright drives the system ``chromium`` (Debian's package); it never downloads a browser.
Pages are served with COOP/COEP headers so they are cross-origin isolated, which lets LiteRT.js
use its threaded WebAssembly build.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

#: Flags for a machine without network or GPU (the session can add its own).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
CHROMIUM_ENV = "SR_CODEC_CHROMIUM"
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = REPO_ROOT / "web"


def chromium_path() -> str | None:
    """``$SR_CODEC_CHROMIUM``, else the first chromium on PATH or in /usr/bin; None when there is none."""
    candidates = [os.environ.get(CHROMIUM_ENV), shutil.which("chromium"), shutil.which("chromium-browser"),
                  "/usr/bin/chromium"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def import_map(node_modules_url: str) -> dict:
    """The import map that resolves the decoder's bare imports to files under ``node_modules_url``."""
    base = node_modules_url.rstrip("/")
    return {"imports": {
        "@msgpack/msgpack": f"{base}/@msgpack/msgpack/dist.esm/index.mjs",
        "@litertjs/core": f"{base}/@litertjs/core/dist/index.js",
        "@litertjs/wasm-utils": f"{base}/@litertjs/wasm-utils/dist/index.js",
        "@jsquash/avif/": f"{base}/@jsquash/avif/",
    }}


class _IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
                      ".json": "application/json", ".tflite": "application/octet-stream"}

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def serve_directory(root: Path) -> http.server.ThreadingHTTPServer:
    """A static server for ``root`` on a free localhost port, in a daemon thread; ``.shutdown()`` it when done."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_IsolatedHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True, name="static-server").start()
    return server
