"""The fuzzing harness shared by the atheris target and the plain mutation fuzzer.

:func:`check` feeds one input to ``inspect``, ``decode_preview`` and (optionally)
``decode(model="bicubic")`` and raises :class:`Finding` for anything the public API must never
do: raise an exception that is not an :class:`~sr_codec.SrCodecError`, run out of memory
(reported as ``LimitExceededError(... out of memory)``), or return pixels of a size the payload
does not declare.

A random change to a payload almost always fails the CRC-32 in microseconds, which tests only
the checksum. :func:`sealed` recomputes the checksum so that a mutation reaches the field
parser, the extension map, the limits, the inner codecs' headers and decoders and the alpha plane:
what an attacker, who can compute a CRC too, would send.
"""

from __future__ import annotations

import zlib

import numpy as np

import sr_codec
from sr_codec import LimitExceededError, SrCodecError


class Finding(Exception):
    """The public API misbehaved on this input."""


def sealed(data: bytes) -> bytes:
    """``data`` minus its last 4 bytes, with a correct CRC-32 in their place (``data`` if shorter)."""
    if len(data) < 5:
        return data
    body = data[:-4]
    return body + zlib.crc32(body).to_bytes(4, "big")


# How far into the payload an input got before it was refused, from the error message.
_STAGES = (
    ("checksum", "checksum"),
    ("version", "version"),
    ("truncated", "truncated"),
    ("empty payload", "truncated"),
    ("extension", "extension"),
    ("unexpected bytes", "trailing bytes"),
    ("the limit is", "limit"),
    ("header cannot be read", "inner header"),
    ("AV1", "inner header"),
    ("needs", "declared size"),
    ("alpha plane", "alpha plane"),
    ("cannot be decoded", "inner decode"),
    ("decoded to", "inner decode"),
    ("inner avif", "inner decode"),
    ("payload field", "fields"),
    ("inner codec", "fields"),
    ("model", "model"),
)


def _stage(exc: BaseException) -> str:
    message = str(exc)
    return next((stage for needle, stage in _STAGES if needle in message), "other")


def _outcome(exc: BaseException, call: str) -> str:
    if isinstance(exc, LimitExceededError) and "out of memory" in str(exc):
        raise Finding(f"{call}: ran out of memory: {exc}") from exc
    if isinstance(exc, SrCodecError):
        return f"{type(exc).__name__} ({_stage(exc)})"
    raise Finding(f"{call} raised {type(exc).__name__}: {exc}") from exc


def _check_pixels(out: object, shape: tuple[int, ...], call: str) -> None:
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != shape:
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise Finding(f"{call} returned {got}, the payload declares uint8 {shape}")


def check(data: bytes, full_decode: bool = False) -> str:
    """Run the public API on ``data``; return the outcome ("ok" or the SrCodecError class name).

    Raises :class:`Finding` on misbehaviour (see the module docstring).
    """
    try:
        info = sr_codec.inspect(data)
    except BaseException as exc:  # noqa: BLE001 - everything that is not an SrCodecError is a finding
        if isinstance(exc, KeyboardInterrupt):
            raise
        outcome = _outcome(exc, "inspect")
        # inspect failed: decode_preview must fail too (it parses the same header first)
        try:
            sr_codec.decode_preview(data)
        except BaseException as exc2:  # noqa: BLE001
            if isinstance(exc2, KeyboardInterrupt):
                raise
            _outcome(exc2, "decode_preview")
            return outcome
        raise Finding("decode_preview accepted a payload that inspect refused")

    channels = 4 if info.has_alpha else 3
    outcome = f"ok ({info.inner} {info.mode})"
    calls = [("decode_preview", sr_codec.decode_preview, (*info.low_res_size, channels))]
    if full_decode:
        calls.append(("decode", lambda d: sr_codec.decode(d, model="bicubic"), (info.height, info.width, channels)))
    for name, call, shape in calls:
        try:
            out = call(data)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            outcome = _outcome(exc, name)
            continue
        _check_pixels(out, shape, name)
    return outcome
