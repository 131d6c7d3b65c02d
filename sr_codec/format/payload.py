"""Payload format v1: the bytes that travel between sender and receiver (see docs/format.md).

A payload is a short sequence of msgpack objects followed by a CRC-32::

    version | width | height | scale | inner codec id | model tag | inner bitstream | alpha | [extensions] | CRC-32

The version comes first so that any reader can tell a newer payload from a corrupt one;
the CRC-32 (big-endian, 4 raw bytes) covers every byte before it. There is no array
header, no field names and no magic number: for an RGB image (sides up to 65535 px) the
container costs at most 24 bytes on top of the inner bitstream, which matters at 1 KB per photo.

After the alpha field a payload may carry one optional msgpack map of *extension fields*
(integer keys; even = optional, ignored by readers that do not know it; odd = required,
refused by readers that do not know it). Version 1 defines no extension field and the
encoder writes no map, so it costs nothing today; it is how v1 readers survive small
future additions (docs/format.md, "Extension fields").

This module only (de)serialises and validates *fields*; whether the inner bitstream really
has the declared size is checked by the decoder (:mod:`sr_codec.receiver.decoder`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import msgpack
import numpy as np

from ..errors import InputImageError, LimitExceededError, PayloadError
from ..limits import Limits, resolve

FORMAT_VERSION = 1
MAX_SCALE = 16
#: Inner codec ids of version 1 (docs/format.md, field 4). The format owns the numbers: a codec module
#: registers under one of them (:func:`sr_codec.codecs.register`), and a new id needs a new version.
INNER_CODEC_IDS: dict[int, str] = {0: "avif", 1: "webp", 2: "jpeg", 3: "png"}
CHECKSUM_BYTES = 4
MAX_TAG = 0xFFFFFFFF
MAX_SIDE = 0xFFFFFFFF
# version, width, height, scale, codec, tag (1 byte each at their smallest), bin8 + 1 byte, nil, CRC
MIN_PAYLOAD_BYTES = 6 + 3 + 1 + CHECKSUM_BYTES

#: Extension fields this reader understands, by key (see docs/format.md). Version 1 defines none:
#: every optional (even) key is ignored and every required (odd) key is refused.
KNOWN_EXTENSIONS: dict[int, str] = {}
#: Deepest nesting of arrays/maps in the extension map, the map itself counting as 1.
MAX_EXTENSION_DEPTH = 8
_MAP_HEADERS = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}  # fixmap, map16, map32


@dataclass(frozen=True)
class Payload:
    """The fields of a v1 payload.

    ``codec_id`` is the inner codec's wire id (:data:`INNER_CODEC_IDS`), ``bitstream`` the inner codec's
    bytes; the codec's *name* is what ``sr_codec.inspect`` reports as ``PayloadInfo.inner``.

    ``alpha`` is ``None`` for an RGB image; for RGBA it is either an int 0..255 (the whole
    alpha plane has that one value) or the coded alpha plane as bytes: lossless WebP (PNG
    where WebP cannot hold the size), at the low-res or the full size.
    """

    width: int
    height: int
    scale: int
    codec_id: int
    model_tag: int
    bitstream: bytes
    alpha: int | bytes | None = None

    @property
    def has_alpha(self) -> bool:
        return self.alpha is not None

    @property
    def mode(self) -> str:
        return "RGBA" if self.has_alpha else "RGB"

    def __post_init__(self) -> None:
        _validate(self)


def check_scale(scale: object) -> int:
    """``scale`` as an int when the format can carry it (1..MAX_SCALE); :class:`InputImageError` otherwise.

    The one scale rule for arguments: ``encode``, ``upscale`` and rate control all use it.
    """
    if type(scale) is bool or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= MAX_SCALE:
        raise InputImageError(f"scale must be an integer in 1..{MAX_SCALE}, got {scale!r}")
    return int(scale)


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
    if not _is_int(p.codec_id) or p.codec_id not in INNER_CODEC_IDS:
        raise PayloadError(
            f"payload field 'inner codec' must be one of {sorted(INNER_CODEC_IDS)}, got {_describe(p.codec_id)}"
        )
    if type(p.bitstream) is not bytes or not p.bitstream:
        raise PayloadError(f"payload field 'inner bitstream' must be non-empty bytes, got {_describe(p.bitstream)}")
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


def pack(payload: Payload, extensions: Mapping[int, object] | None = None) -> bytes:
    """Serialise ``payload`` (already validated by its constructor) to v1 bytes.

    ``extensions``: extension fields to append (integer key -> msgpack-able value; see
    docs/format.md). None or empty writes no map at all, which is what ``encode`` does.
    """
    fields = (
        FORMAT_VERSION,
        payload.width,
        payload.height,
        payload.scale,
        payload.codec_id,
        payload.model_tag,
        payload.bitstream,
        payload.alpha,
    )
    body = b"".join(msgpack.packb(f, use_bin_type=True) for f in fields)
    if extensions:
        for key in extensions:
            if not _is_int(key) or key < 0:
                raise PayloadError(f"extension keys must be non-negative integers, got {_describe(key)}")
        try:
            body += msgpack.packb(dict(extensions), use_bin_type=True, strict_types=True)
        except (TypeError, ValueError, OverflowError) as exc:
            raise PayloadError(f"extension fields cannot be packed: {exc}") from exc
    return body + zlib.crc32(body).to_bytes(CHECKSUM_BYTES, "big")


def overhead(payload: Payload) -> int:
    """Container bytes on top of the inner bitstream and the coded alpha plane."""
    coded_alpha = len(payload.alpha) if isinstance(payload.alpha, bytes) else 0
    return len(pack(payload)) - len(payload.bitstream) - coded_alpha


def unpack(data: bytes | bytearray | memoryview, limits: Limits | None = None) -> Payload:
    """Parse and verify v1 bytes: size limit, version, CRC-32, then each field strictly.

    Raises :class:`PayloadError` for anything that is not a well-formed v1 payload and
    :class:`LimitExceededError` when the payload or a bitstream in it is over ``limits``.
    """
    limits = resolve(limits)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise PayloadError(f"a payload must be bytes, got {type(data).__name__}")
    # The size first, so an oversized buffer is refused before it is copied.
    limits.check_payload_bytes(data.nbytes if isinstance(data, memoryview) else len(data))
    data = data.tobytes() if isinstance(data, memoryview) else bytes(data)
    if not data:
        raise PayloadError("empty payload")

    try:
        version = _next(_strict_unpacker(data), "version")
    except PayloadError as exc:
        raise PayloadError(_not_a_payload(data, "it does not start with a format version number")) from exc
    if not _is_int(version):
        raise PayloadError(_not_a_payload(data, "it does not start with a format version number"))
    if version != FORMAT_VERSION:
        if not _has_valid_checksum(data) or _sniff(data):
            raise PayloadError(_not_a_payload(data, f"it would be format version {version}, but its checksum does not match"))
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
    width, height, scale, codec_id, model_tag, bitstream, alpha = (
        _next(unpacker, name)
        for name in ("width", "height", "scale", "inner codec", "model tag", "inner bitstream", "alpha")
    )
    if unpacker.tell() != len(body):
        _check_extensions(body[unpacker.tell():], limits)
    for name, value in (("inner bitstream", bitstream), ("alpha plane", alpha)):
        if isinstance(value, bytes) and len(value) > limits.max_inner_bytes:
            raise LimitExceededError(f"{name} is {len(value)} bytes; the limit is {limits.max_inner_bytes}")
    return Payload(width, height, scale, codec_id, model_tag, bitstream, alpha)


#: Leading bytes of files people hand a payload reader by mistake.
_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
)


def _sniff(data: bytes) -> str | None:
    """What ``data`` is when it is recognisably something else: an image format or text; None otherwise."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "a WebP image"
    if data[4:8] == b"ftyp":
        return "an AVIF/HEIF/MP4 file"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text" if text and all(c.isprintable() or c in "\t\r\n" for c in text) else None


def _has_valid_checksum(data: bytes) -> bool:
    return len(data) > CHECKSUM_BYTES and zlib.crc32(data[:-CHECKSUM_BYTES]) == int.from_bytes(
        data[-CHECKSUM_BYTES:], "big"
    )


def _not_a_payload(data: bytes, reason: str) -> str:
    """The message for data that is not an sr_codec payload at all, naming what it is when that is clear."""
    what = _sniff(data)
    return f"not an sr_codec payload: the data is {what}" if what else f"not an sr_codec payload ({reason})"


def _check_extensions(rest: bytes, limits: Limits) -> None:
    """Validate the bytes after the alpha field: exactly one map of extension fields.

    Optional (even) keys this reader does not know are ignored; required (odd) ones are a
    :class:`PayloadError`. Version 1 knows no extension, so nothing is returned.
    """
    if rest[0] not in _MAP_HEADERS:
        raise PayloadError(f"payload has {len(rest)} unexpected bytes after its last field")
    if len(rest) > limits.max_extension_bytes:
        raise LimitExceededError(
            f"extension fields are {len(rest)} bytes; the limit is {limits.max_extension_bytes}"
        )
    unpacker = msgpack.Unpacker(
        raw=True,  # str values stay bytes: an ignored field need not even be valid UTF-8
        strict_map_key=False,  # integer keys
        object_pairs_hook=list,  # maps as (key, value) lists: duplicate keys stay visible, any key type is safe
        max_buffer_size=len(rest),
        max_bin_len=len(rest),
        max_str_len=len(rest),
        max_array_len=len(rest),
        max_map_len=len(rest),
        max_ext_len=0,  # ext types are refused
    )
    unpacker.feed(rest)
    pairs = _next(unpacker, "extensions")
    if unpacker.tell() != len(rest):
        raise PayloadError(f"payload has {len(rest) - unpacker.tell()} unexpected bytes after its extension fields")
    _check_depth(pairs)
    seen: set[int] = set()
    for key, _value in pairs:
        if not _is_int(key) or key < 0:
            raise PayloadError(f"extension keys must be non-negative integers, got {_describe(key)}")
        if key in seen:
            raise PayloadError(f"extension field {key} appears twice")
        seen.add(key)
        if key % 2 == 1 and key not in KNOWN_EXTENSIONS:
            raise PayloadError(
                f"payload has required extension field {key}, which this sr_codec does not know "
                "(the payload was written by a newer sr_codec, or it is corrupt)"
            )


def _check_depth(root: list) -> None:
    """Refuse extension values nested deeper than MAX_EXTENSION_DEPTH (iteratively: no recursion)."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_EXTENSION_DEPTH:
            raise PayloadError(f"extension fields are nested more than {MAX_EXTENSION_DEPTH} levels deep")
        for item in node:
            if isinstance(item, (list, tuple)):  # arrays are lists, maps lists of (key, value) tuples
                stack.append((item, depth + (not isinstance(item, tuple))))


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
        raise PayloadError(f"truncated payload: field {field!r} is missing or runs past the end") from None
    except ValueError as exc:  # a declared length over max_*_len, or a malformed object
        raise PayloadError(f"payload field {field!r} is malformed: {exc}") from exc
    except Exception as exc:  # msgpack raises a few other types on garbage
        raise PayloadError(f"payload field {field!r} cannot be parsed: {type(exc).__name__}: {exc}") from exc
