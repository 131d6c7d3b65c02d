"""``python -m sr_codec.demo [--port 8000] [--database-url URL]``: the chat demo on http://127.0.0.1:8000/."""

from __future__ import annotations

import argparse
import os
import sys

from .app import DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_MAX_PIXELS, KiB, create_app
from .browser import WEB_DIR
from .store import DATABASE_URL_ENV, DEFAULT_DATABASE_URL


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sr_codec.demo", description=__doc__.split(":")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--database-url", default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
                        help=f"SQLAlchemy URL (default: ${DATABASE_URL_ENV}, else {DEFAULT_DATABASE_URL}); "
                             "e.g. postgresql+psycopg://user:pass@host/db")
    parser.add_argument("--max-payload-kb", type=int, default=DEFAULT_MAX_PAYLOAD_BYTES // KiB,
                        help="largest payload accepted, in KiB (uploads are payloads, never photos)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    args = parser.parse_args(argv)
    if not (WEB_DIR / "node_modules").is_dir():
        print(f"note: {WEB_DIR / 'node_modules'} is missing; run `npm ci` in web/ so browsers can decode",
              file=sys.stderr)
    import uvicorn

    app = create_app(args.database_url, max_payload_bytes=args.max_payload_kb * KiB, max_pixels=args.max_pixels)
    print(f"sr_codec chat demo: http://{args.host}:{args.port}/  (database: {args.database_url})")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
