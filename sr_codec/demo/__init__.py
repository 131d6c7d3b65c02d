"""A chat room in the browser that proves sr_codec end to end: ``python -m sr_codec.demo``.

The server (FastAPI + uvicorn) encodes each uploaded photo with ``sr_codec.encode(image, max_bytes=N)``,
as the sender's phone would, and stores only the payload in a real database (SQLite by default,
any SQLAlchemy URL, e.g. PostgreSQL). Receivers fetch only the payload bytes and decode them in
the browser with the JavaScript decoder in ``web/`` (LiteRT.js runs the network).
"""
