"""Payload format v1: the bytes that travel between sender and receiver (see docs/format.md).

A payload is a short sequence of msgpack objects followed by a CRC-32::

    version | width | height | scale | inner codec id | model tag | inner bitstream | alpha | CRC-32

The version comes first so that any reader can tell a newer payload from a corrupt one;
the CRC-32 (big-endian, 4 raw bytes) covers every byte before it. There is no array
header, no field names and no magic number: for an RGB image (sides up to 65535 px) the
container costs at most 24 bytes on top of the inner bitstream, which matters at 1 KB per photo.

This module only (de)serialises and validates *fields*; whether the inner bitstream really
has the declared size is checked by the decoder (:mod:`sr_codec.codec`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import msgpack

from .errors import LimitExceededError, PayloadError
from .inner import CODECS_BY_ID
from .limits import Limits, resolve

FORMAT_VERSION = 1
MAX_SCALE = 16
CHECKSUM_BYTES = 4
MAX_TAG = 0xFFFFFFFF
MAX_SIDE = 0xFFFFFFFF
# version, width, height, scale, codec, tag (1 byte each at their smallest), bin8 + 1 byte, nil, CRC
MIN_PAYLOAD_BYTES = 6 + 3 + 1 + CHECKSUM_BYTES


@dataclass(frozen=True)
class Payload:
    """The fields of a v1 payload.

    ``alpha`` is ``None`` for an RGB image; for RGBA it is either an int 0..255 (the whole
    alpha plane has that one value) or the coded alpha plane as bytes: lossless WebP (PNG
    where WebP cannot hold the size), at the low-res or the full size.
    """

    width: int
    height: int
    scale: int
    inner_codec: int
    model_tag: int
    inner: bytes
    alpha: int | bytes | None = None

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None

    @property
    def mode(self) -> str:
        return "RGBA" if self.has_alpha else "RGB"

    def __post_init__(self) -> None:
        _validate(self)


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool, not float


def _validate(p: Payload) -> None:
    """Raise :class:`PayloadError` naming the first field that is not a valid v1 value."""
    for name, value, low, high in (
        ("width", p.width, 1, MAX_SIDE),
        ("height", p.height, 1, MAX_SIDE),
        ("scale", p.scale, 1, MAX_SCALE),
        ("model tag", p.model_tag, 0, MAX_TAG),
    ):
        if not _is_int(value) or not low <= value <= high:
            raise PayloadError(f"payload field {name!r} must be an integer in {low}..{high}, got {_describe(value)}")
    if not _is_int(p.inner_codec) or p.inner_codec not in CODECS_BY_ID:
        raise PayloadError(
            f"payload field 'inner codec' must be one of {sorted(CODECS_BY_ID)}, got {_describe(p.inner_codec)}"
        )
    if type(p.inner) is not bytes or not p.inner:
        raise PayloadError(f"payload field 'inner bitstream' must be non-empty bytes, got {_describe(p.inner)}")
    alpha = p.alpha
    if not (alpha is None or (_is_int(alpha) and 0 <= alpha <= 255) or (type(alpha) is bytes and alpha)):
        raise PayloadError(
            f"payload field 'alpha' must be nil, an integer 0..255 or non-empty bytes, got {_describe(alpha)}"
        )


def _describe(value: object) -> str:
    """A short description for error messages (never a whole bitstream)."""
    if isinstance(value, (bytes, bytearray, list, dict, str)):
        return f"{type(value).__name__} of length {len(value)}"
    return repr(value) if isinstance(value, (int, float, type(None))) else type(value).__name__


def pack(payload: Payload) -> bytes:
    """Serialise ``payload`` (already validated by its constructor) to v1 bytes."""
    fields = (
        FORMAT_VERSION,
        payload.width,
        payload.height,
        payload.scale,
        payload.inner_codec,
        payload.model_tag,
        payload.inner,
        payload.alpha,
    )
    body = b"".join(msgpack.packb(f, use_bin_type=True) for f in fields)
    return body + zlib.crc32(body).to_bytes(CHECKSUM_BYTES, "big")


def overhead(payload: Payload) -> int:
    """Container bytes on top of the inner bitstream and the coded alpha plane."""
    coded_alpha = len(payload.alpha) if isinstance(payload.alpha, bytes) else 0
    return len(pack(payload)) - len(payload.inner) - coded_alpha


def unpack(data: bytes | bytearray | memoryview, limits: Limits | None = None) -> Payload:
    """Parse and verify v1 bytes: size limit, version, CRC-32, then each field strictly.

    Raises :class:`PayloadError` for anything that is not a well-formed v1 payload and
    :class:`LimitExceededError` when the payload or a bitstream in it is over ``limits``.
    """
    limits = resolve(limits)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PayloadError(f"a payload must be bytes, got {type(data).__name__}")
    data = bytes(data)
    limits.check_payload_bytes(len(data))
    if not data:
        raise PayloadError("empty payload")

    try:
        version = _next(_strict_unpacker(data), "version")
    except PayloadError as exc:
        raise PayloadError("not an sr_codec payload (it does not start with a format version number)") from exc
    if not _is_int(version):
        raise PayloadError("not an sr_codec payload (it does not start with a format version number)")
    if version != FORMAT_VERSION:
        raise PayloadError(
            f"unsupported payload format version {version}: this sr_codec reads version {FORMAT_VERSION} "
            "(the payload was written by a newer sr_codec, or it is corrupt)"
        )
    if len(data) < MIN_PAYLOAD_BYTES:
        raise PayloadError(f"truncated payload: {len(data)} bytes, a v1 payload has at least {MIN_PAYLOAD_BYTES}")
    body, trailer = data[:-CHECKSUM_BYTES], data[-CHECKSUM_BYTES:]
    if zlib.crc32(body) != int.from_bytes(trailer, "big"):
        raise PayloadError("payload checksum mismatch: the payload is corrupted or truncated")

    unpacker = _strict_unpacker(body)
    _next(unpacker, "version")
    width, height, scale, inner_codec, model_tag, inner, alpha = (
        _next(unpacker, name)
        for name in ("width", "height", "scale", "inner codec", "model tag", "inner bitstream", "alpha")
    )
    if unpacker.tell() != len(body):
        raise PayloadError(f"payload has {len(body) - unpacker.tell()} unexpected bytes after its last field")
    for name, value in (("inner bitstream", inner), ("alpha plane", alpha)):
        if isinstance(value, bytes) and len(value) > limits.max_inner_bytes:
            raise LimitExceededError(f"{name} is {len(value)} bytes; the limit is {limits.max_inner_bytes}")
    return Payload(width, height, scale, inner_codec, model_tag, inner, alpha)


def _strict_unpacker(body: bytes) -> msgpack.Unpacker:
    """An Unpacker that refuses str, array, map and ext outright and any bin longer than ``body``."""
    unpacker = msgpack.Unpacker(
        raw=False,
        use_list=True,
        strict_map_key=True,
        max_buffer_size=max(len(body), 1),
        max_bin_len=len(body),
        max_str_len=0,
        max_array_len=0,
        max_map_len=0,
        max_ext_len=0,
    )
    unpacker.feed(body)
    return unpacker


def _next(unpacker: msgpack.Unpacker, field: str) -> object:
    """The next msgpack object; running out of data or hitting a limit is a :class:`PayloadError`."""
    try:
        return unpacker.unpack()
    except msgpack.OutOfData:
        raise PayloadError(f"truncated payload: field {field!r} is missing") from None
    except ValueError as exc:  # a declared length over max_*_len, or a malformed object
        raise PayloadError(f"payload field {field!r} is malformed: {exc}") from exc
    except Exception as exc:  # msgpack raises a few other types on garbage
        raise PayloadError(f"payload field {field!r} cannot be parsed: {type(exc).__name__}: {exc}") from exc
