"""Hostile input (issue 7): payloads and images from strangers never crash, hang, exhaust memory
or pass off corrupt pixels; every failure is the documented SrCodecError subclass.

Sections: limits and bombs, integrity, msgpack hardening and extension fields, property-based
tests (hypothesis), concurrency, nothing lost, the odd inputs. Decodes use ``model="bicubic"``
except the concurrency test's shipped-model variant, which skips while no model is shipped.
"""

from __future__ import annotations

import hashlib
import io
import struct
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from sr_codec import (
    InputImageError,
    LimitExceededError,
    Limits,
    ModelError,
    PayloadError,
    SrCodecError,
    decode,
    decode_preview,
    encode,
    inspect,
)
from sr_codec.sender.builder import effective_scale
from sr_codec.imaging.resample import low_res_size
from sr_codec import codecs
from sr_codec.codecs.png import PngCodec
from sr_codec.zoo import manifest as zoo
from sr_codec.format.payload import MAX_EXTENSION_DEPTH, Payload, pack, unpack

CODECS = {name: codecs.by_name(name) for name in codecs.names()}
CODECS_BY_ID = {codec.wire_id: codec for codec in CODECS.values()}

# CI-sized hypothesis runs (the whole file takes about 15 s); no deadline: per-example time varies on a busy box.
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reseal(body: bytes) -> bytes:
    """``body`` with a correct CRC-32 appended: only the field checks can reject it."""
    return body + zlib.crc32(body).to_bytes(4, "big")


def forge(*fields) -> bytes:
    """Version 1, then arbitrary msgpack fields, correctly checksummed."""
    return reseal(b"".join(msgpack.packb(f, use_bin_type=True) for f in (1, *fields)))


def image(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth gradient plus noise (so every codec has something to code), uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([yy * 255 // max(h, 1), xx * 255 // max(w, 1), (yy + xx) * 127 // max(h + w, 1)], axis=2)
    rgb = np.clip(base + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)
    if channels == 3:
        return rgb
    alpha = (np.hypot(yy - h / 2, xx - w / 2) < min(h, w) / 3).astype(np.uint8) * 200 + 30
    return np.concatenate([rgb, alpha[..., None].astype(np.uint8)], axis=2)


@pytest.fixture(scope="module")
def payloads() -> dict[str, bytes]:
    """Small real payloads: every inner codec, RGB and RGBA (coded and constant alpha), several scales."""
    out = {f"{name}-rgb": encode(image(30, 44, seed=1), inner=name) for name in CODECS}
    out["avif-rgba"] = encode(image(30, 44, 4, seed=2))
    out["webp-rgba-x2"] = encode(image(21, 17, 4, seed=3), scale=2, inner="webp")
    constant = image(16, 24, 4, seed=4)
    constant[..., 3] = 77
    out["png-rgba-constant-x1"] = encode(constant, scale=1, inner="png")
    out["jpeg-x10"] = encode(image(41, 37, seed=5), scale=10, inner="jpeg")
    return out


# --------------------------------------------------------------------------- bomb files


def _png(w: int, h: int) -> bytes:
    """A PNG header declaring w x h RGB, with 1 MiB of zero rows as a real zlib stream (about 1 KB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 << 20), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _small(fmt: str, mode: str = "RGB", **options) -> bytearray:
    buf = io.BytesIO()
    Image.new(mode, (8, 8)).save(buf, fmt, **options)
    return bytearray(buf.getvalue())


def _gif(w: int, h: int) -> bytes:
    data = _small("GIF", "P")
    data[6:10] = struct.pack("<HH", w, h)  # logical screen
    i = data.index(b"\x2c")  # image descriptor
    data[i + 5 : i + 9] = struct.pack("<HH", w, h)
    return bytes(data)


def _bmp(w: int, h: int) -> bytes:
    data = _small("BMP")
    data[18:26] = struct.pack("<ii", w, h)
    return bytes(data)


def _jpeg(w: int, h: int) -> bytes:
    data = _small("JPEG")
    i = data.index(b"\xff\xc0")  # SOF0: length(2) precision(1) height(2) width(2)
    data[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def _webp(w: int, h: int) -> bytes:
    data = _small("WEBP", lossless=True)
    i = data.index(b"VP8L") + 8 + 1  # chunk header, signature byte, then 14-bit (width-1), 14-bit (height-1)
    bits = int.from_bytes(data[i : i + 4], "little") & ~((1 << 28) - 1)
    data[i : i + 4] = (bits | (min(w, 16384) - 1) | ((min(h, 16384) - 1) << 14)).to_bytes(4, "little")
    return bytes(data)


def _avif(w: int, h: int) -> bytes:
    data = _small("AVIF")
    i = data.index(b"ispe") + 8  # box type, version+flags, then width and height
    data[i : i + 8] = struct.pack(">II", w, h)
    return bytes(data)


def _tiff(w: int, h: int) -> bytes:
    data = _small("TIFF", "L")
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength
            value = w if tag == 256 else h
            data[entry + 8 : entry + 12] = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
    return bytes(data)


BOMB_FILES = {"png": _png, "gif": _gif, "bmp": _bmp, "jpeg": _jpeg, "webp": _webp, "avif": _avif, "tiff": _tiff}


class PixelsDecoded(BaseException):
    """Raised by the ``no_pixel_decoding`` guard; a BaseException so that no error wrapper can hide it."""


@pytest.fixture
def no_pixel_decoding(monkeypatch):
    """Fail the test if any Pillow image file decodes pixels or any inner codec runs its decoder."""
    calls = []

    def refuse(self, *args, **kwargs):
        calls.append(type(self).__name__)
        raise PixelsDecoded(type(self).__name__)

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    for codec in CODECS.values():
        monkeypatch.setattr(type(codec), "decode", refuse)
    return calls


# --------------------------------------------------------------------------- limits and bombs


def test_the_no_pixel_decoding_guard_does_fire(payloads, no_pixel_decoding):
    """The guard the bomb tests rely on: a valid payload or image really does trip it."""
    with pytest.raises(PixelsDecoded):
        decode_preview(payloads["webp-rgb"])
    with pytest.raises(PixelsDecoded):
        encode(_png(8, 8))
    assert no_pixel_decoding == ["WebpCodec", "PngImageFile"]


def test_limits_are_documented_defaults_and_configurable():
    assert Limits() == Limits(
        max_payload_bytes=64 << 20, max_inner_bytes=64 << 20, max_pixels=50_000_000, max_extension_bytes=64 << 10
    )
    for field in ("max_payload_bytes", "max_inner_bytes", "max_pixels", "max_extension_bytes"):
        for bad in (0, -1, 1.5, True, None):
            with pytest.raises(InputImageError):
                Limits(**{field: bad})
    with pytest.raises(InputImageError):
        inspect(b"", limits={"max_pixels": 10})


@pytest.mark.parametrize("wire_id", sorted(CODECS_BY_ID))
def test_one_kilobyte_payload_declaring_65535_squared_is_refused_before_any_decoding(wire_id, no_pixel_decoding):
    forged = pack(Payload(65535, 65535, 4, wire_id, 0, b"\x0a" * 1000))
    assert len(forged) < 1024
    for call in (decode_preview, lambda p: decode(p, model="bicubic")):
        with pytest.raises(LimitExceededError, match="65535 x 65535"):
            call(forged)
    assert no_pixel_decoding == []


def test_max_pixels_is_configurable_on_both_sides(payloads):
    info = inspect(payloads["png-rgb"])
    pixels = info.width * info.height
    assert decode_preview(payloads["png-rgb"], limits=Limits(max_pixels=pixels)).shape[2] == 3
    with pytest.raises(LimitExceededError):
        decode_preview(payloads["png-rgb"], limits=Limits(max_pixels=pixels - 1))
    with pytest.raises(LimitExceededError):
        encode(image(30, 44), limits=Limits(max_pixels=30 * 44 - 1))


@pytest.mark.parametrize("fmt", sorted(BOMB_FILES))
@pytest.mark.parametrize("side", [9000, 65535])
def test_image_bombs_are_refused_before_decoding(fmt, side, tmp_path, no_pixel_decoding):
    """9000^2 = 81 MP: our max_pixels refuses it (Pillow would only warn); 65535^2: Pillow's guard, same error.

    Except AVIF beyond 16384 px a side: libavif itself refuses to parse it, which Pillow reports as an
    unidentified image, so it is an InputImageError (refused just as early).
    """
    data = BOMB_FILES[fmt](side, side)
    assert len(data) < 2048
    path = tmp_path / f"bomb.{fmt}"
    path.write_bytes(data)
    expected = InputImageError if fmt == "avif" and side > 16384 else LimitExceededError
    for source in (data, bytearray(data), path, str(path)):
        with pytest.raises(expected):
            encode(source)
    if side == 9000:  # Pillow itself opens this header; handing the lazy PIL image in is refused as well
        with Image.open(io.BytesIO(data)) as lazy:
            with pytest.raises(LimitExceededError, match="max_pixels"):
                encode(lazy)
    assert no_pixel_decoding == []


def test_array_bomb_is_refused_without_copying():
    huge = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (65535, 65535, 3))  # 12 GiB it does not own
    with pytest.raises(LimitExceededError):
        encode(huge)


def test_inner_header_declaring_another_size_is_refused_before_decoding(no_pixel_decoding):
    """The payload says 40 x 40 (legal), its PNG bitstream's header says 9000 x 9000 or 65535 x 65535."""
    forged = pack(Payload(40, 40, 1, PngCodec.wire_id, 0, _png(9000, 9000)))
    with pytest.raises(PayloadError, match="is 9000 x 9000.*needs 40 x 40"):
        decode_preview(forged)
    forged = pack(Payload(40, 40, 1, PngCodec.wire_id, 0, _png(65535, 65535)))
    with pytest.raises(PayloadError, match="header cannot be read"):  # beyond Pillow's own bomb guard
        decode_preview(forged)
    assert no_pixel_decoding == []


# --------------------------------------------------------------------------- integrity


@pytest.mark.parametrize("name", ["png-rgb", "avif-rgba"])
def test_every_single_bit_flip_of_a_real_payload_is_detected(payloads, name):
    data = payloads[name]
    assert len(data) < 1500
    for bit in range(len(data) * 8):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        for call in (inspect, decode_preview, lambda p: decode(p, model="bicubic")):
            with pytest.raises(PayloadError):
                call(bytes(damaged))


edits = st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=12)


@FAST
@given(name=st.sampled_from(["png-rgb", "webp-rgba-x2", "avif-rgba"]), changes=edits)
def test_any_multi_byte_change_is_detected(payloads, name, changes):
    damaged = bytearray(payloads[name])
    for position, xor in changes:
        damaged[position % len(damaged)] ^= xor
    if bytes(damaged) == payloads[name]:  # two edits cancelled out
        return
    for call in (inspect, decode_preview):
        with pytest.raises(PayloadError):
            call(bytes(damaged))


@FAST
@given(
    name=st.sampled_from(["jpeg-rgb", "avif-rgb"]),
    cut=st.integers(0, 10**6),
    length=st.integers(1, 40),
    insert=st.binary(max_size=40),
)
def test_insertions_deletions_and_splices_are_detected(payloads, name, cut, length, insert):
    data = payloads[name]
    cut %= len(data)
    damaged = data[:cut] + insert + data[cut + length :]
    if damaged == data:
        return
    with pytest.raises(PayloadError):
        inspect(damaged)
    with pytest.raises(PayloadError):
        decode_preview(damaged)


@pytest.mark.parametrize("name", ["avif-rgb", "webp-rgb", "jpeg-rgb", "png-rgb", "avif-rgba"])
def test_declared_size_must_match_the_inner_header_before_decoding(payloads, name, no_pixel_decoding):
    p = unpack(payloads[name])
    for width, height in ((p.width + p.scale, p.height), (p.width, p.height + p.scale), (p.height, p.width)):
        forged = pack(Payload(width, height, p.scale, p.codec_id, p.model_tag, p.bitstream, p.alpha))
        if (width, height) == (p.width, p.height):
            continue
        with pytest.raises(PayloadError, match="needs"):
            decode_preview(forged)
    assert no_pixel_decoding == []


def test_decoded_size_is_checked_even_when_a_header_lies(monkeypatch, payloads):
    """A bitstream whose header passes (here: a read_size that lies) still fails after decoding."""
    p = unpack(payloads["png-rgb"])
    wrong = io.BytesIO()
    Image.fromarray(image(5, 5)).save(wrong, "PNG")
    forged = pack(Payload(p.width, p.height, p.scale, p.codec_id, p.model_tag, wrong.getvalue()))
    monkeypatch.setattr(PngCodec, "read_size", lambda self, data: low_res_size(p.height, p.width, p.scale))
    with pytest.raises(PayloadError, match="decoded to"):
        decode_preview(forged)
    with pytest.raises(PayloadError, match="decoded to"):
        decode(forged, model="bicubic")


def test_alpha_plane_of_the_wrong_size_is_refused(payloads):
    p = unpack(payloads["avif-rgba"])
    plane = io.BytesIO()
    Image.new("L", (3, 3), 9).save(plane, "WEBP", lossless=True)
    forged = pack(Payload(p.width, p.height, p.scale, p.codec_id, p.model_tag, p.bitstream, plane.getvalue()))
    with pytest.raises(PayloadError, match="alpha plane is 3 x 3"):
        decode_preview(forged)


def test_model_tag_is_checked_against_the_shipped_weights(monkeypatch, payloads):
    p = unpack(payloads["avif-rgb"])
    foreign = pack(Payload(p.width, p.height, p.scale, p.codec_id, 0x5EED5EED, p.bitstream))
    with pytest.raises(ModelError, match="0x5eed5eed.*model='default'"):
        decode(foreign)
    assert decode(foreign, model="bicubic").shape == (30, 44, 3)

    # weights for another scale that carry the payload's tag (a fake manifest: nothing is loaded)
    fake = {"models": {"fake-x2": {"sha256": "5eed5eed" + "0" * 56, "scale": 2}}, "default": {}}
    monkeypatch.setattr(zoo, "read_manifest", lambda weights_dir=zoo.WEIGHTS_DIR: fake)
    assert inspect(foreign).model_id == "fake-x2"
    with pytest.raises(PayloadError, match="not an x4 model"):
        decode(foreign)
    with pytest.raises(ModelError, match="x2"):
        decode(foreign, model="fake-x2")


# --------------------------------------------------------------------------- msgpack hardening, extensions

GOOD = (44, 30, 4, 3, 0)  # width, height, scale, codec (PNG), tag: then the bitstream and alpha


def _with_extensions(payload: bytes, extension_bytes: bytes) -> bytes:
    return reseal(payload[:-4] + extension_bytes)


@pytest.mark.parametrize(
    "extensions",
    [{0: 1}, {2: "a caption"}, {4: [1, 2.5, None, True, b"\x00" * 50]}, {1000: {"nested": {"map": [1, 2]}}},
     {2**64 - 2: 0}, {2: 0, 4: 1, 6: 2}],
    ids=str,
)
def test_unknown_optional_extension_fields_are_ignored(payloads, extensions):
    plain = payloads["png-rgba-constant-x1"]
    extended = pack(unpack(plain), extensions)
    assert extended[:-4].startswith(plain[:-4]) and len(extended) > len(plain)
    assert unpack(extended) == unpack(plain)
    assert np.array_equal(decode_preview(extended), decode_preview(plain))
    assert np.array_equal(decode(extended, model="bicubic"), decode(plain, model="bicubic"))
    assert inspect(extended).payload_bytes == len(extended)


def test_payloads_written_today_carry_no_extension_map(payloads):
    for data in payloads.values():
        p = unpack(data)
        assert pack(p) == data and pack(p, {}) == data and pack(p, None) == data
    assert _with_extensions(payloads["png-rgb"], b"\x80") != payloads["png-rgb"]
    assert unpack(_with_extensions(payloads["png-rgb"], b"\x80")) == unpack(payloads["png-rgb"])  # empty map: fine


@pytest.mark.parametrize("extensions", [{1: 0}, {2: 0, 3: "needed"}, {2**64 - 1: 0}], ids=str)
def test_unknown_required_extension_fields_are_refused(payloads, extensions):
    extended = pack(unpack(payloads["png-rgb"]), extensions)
    for call in (inspect, decode_preview):
        with pytest.raises(PayloadError, match="required extension field"):
            call(extended)


@pytest.mark.parametrize(
    "extension_bytes,message",
    [
        (msgpack.packb({"two": 0}), "non-negative integers"),
        (msgpack.packb({-2: 0}), "non-negative integers"),
        (b"\x81\xc3\x00", "non-negative integers"),  # {true: 0}
        (b"\x81\xcb" + struct.pack(">d", 2.0) + b"\x00", "non-negative integers"),  # {2.0: 0}
        (b"\x81\x91\x02\x00", "non-negative integers"),  # {[2]: 0}
        (b"\x82\x02\x00\x02\x01", "appears twice"),
        (b"\x81\x02" + b"\x91" * MAX_EXTENSION_DEPTH + b"\xc0", "nested more than"),
        (b"\x81\x02" + b"\x81\x00" * MAX_EXTENSION_DEPTH + b"\xc0", "nested more than"),
        (b"\x81\x02" + b"\x91" * 5000 + b"\xc0", "malformed"),  # deeper than msgpack's own stack
        (b"\x81\x02\xc7\x01\x05x", "malformed"),  # ext type
        (b"\xdf\xff\xff\xff\xff", "malformed"),  # a 2^32-entry map in 5 bytes
        (b"\x81\x02\xc6\xff\xff\xff\xff", "malformed|missing"),  # a 4 GiB bin in 7 bytes
        (b"\x81\x02\xdd\xff\xff\xff\xff", "malformed"),  # a 2^32-element array
        (b"\x81\x02", "missing"),  # truncated map
        (b"\x80\x80", "after its extension fields"),  # two maps
        (b"\x80\x00", "after its extension fields"),
        (b"\x00", "unexpected bytes"),  # not a map
        (b"\x91\x00", "unexpected bytes"),
        (b"\xc0", "unexpected bytes"),
    ],
)
def test_malformed_extension_maps_are_refused(payloads, extension_bytes, message):
    forged = _with_extensions(payloads["png-rgb"], extension_bytes)
    for call in (inspect, decode_preview):
        with pytest.raises(PayloadError, match=message):
            call(forged)


def test_nesting_up_to_the_limit_and_any_optional_value_are_accepted(payloads):
    deepest = b"\x81\x02" + b"\x91" * (MAX_EXTENSION_DEPTH - 1) + b"\xc0"
    assert inspect(_with_extensions(payloads["png-rgb"], deepest)).width == 44
    not_utf8 = b"\x81\x02\xa2\xff\xfe"  # {2: a str that is not UTF-8}: ignored, so never decoded
    assert inspect(_with_extensions(payloads["png-rgb"], not_utf8)).width == 44


def test_extension_map_size_limit(payloads):
    extended = pack(unpack(payloads["png-rgb"]), {2: b"\x00" * 70_000})
    with pytest.raises(LimitExceededError, match="extension fields are 70007 bytes"):
        inspect(extended)
    assert inspect(extended, limits=Limits(max_extension_bytes=70_007)).width == 44
    small = pack(unpack(payloads["png-rgb"]), {2: 7})
    with pytest.raises(LimitExceededError):
        inspect(small, limits=Limits(max_extension_bytes=2))


def test_pack_refuses_bad_extensions():
    p = Payload(*GOOD, b"x")
    for bad in ({-1: 0}, {"a": 0}, {True: 0}, {2: object()}, {2: {3, 4}}):
        with pytest.raises(PayloadError):
            pack(p, bad)


@pytest.mark.parametrize(
    "index,value",
    [(0, [44]), (0, {1: 2}), (1, [[[[30]]]]), (4, msgpack.ExtType(1, b"tag")), (5, ["bitstream"]), (6, {0: 1})],
)
def test_nested_and_unexpected_types_in_fields_are_refused(index, value):
    fields = [*GOOD, b"x", None]
    fields[index] = value
    with pytest.raises(PayloadError):
        unpack(forge(*fields))


# --------------------------------------------------------------------------- property-based

failures = (PayloadError, LimitExceededError)


@FAST
@given(st.binary(max_size=3000))
def test_random_bytes_never_escape_the_error_classes(data):
    for blob in (data, b"\x01" + data):
        for call in (unpack, inspect, decode_preview):
            with pytest.raises(failures):
                call(blob)


@FAST
@given(st.binary(max_size=400))
def test_random_checksummed_bodies_only_fail_cleanly(data):
    """Random bytes after the version with a correct CRC: the field parser and the decoders see them."""
    blob = reseal(b"\x01" + data)
    try:
        info = inspect(blob)
    except failures:
        return
    try:
        out = decode(blob, model="bicubic")
    except SrCodecError:
        return
    assert out.shape == (info.height, info.width, 4 if info.has_alpha else 3)


@FAST
@given(
    name=st.sampled_from(["avif-rgb", "webp-rgb", "jpeg-rgb", "png-rgb", "avif-rgba", "webp-rgba-x2"]),
    changes=edits,
)
def test_resealed_mutations_decode_to_the_declared_shape_or_fail_cleanly(payloads, name, changes):
    """Mutate a real payload and fix its checksum (what an attacker can do): no foreign exception, no wrong shape."""
    damaged = bytearray(payloads[name][:-4])
    for position, xor in changes:
        damaged[position % len(damaged)] ^= xor
    blob = reseal(bytes(damaged))
    try:
        info = inspect(blob)
    except failures:
        return
    channels = 4 if info.has_alpha else 3
    for call, shape in ((decode_preview, (*info.low_res_size, channels)),
                        (lambda p: decode(p, model="bicubic"), (info.height, info.width, channels))):
        try:
            out = call(blob)
        except SrCodecError:
            continue
        assert out.shape == shape and out.dtype == np.uint8


fields = st.tuples(
    st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1), st.integers(1, 16), st.sampled_from(sorted(CODECS_BY_ID)),
    st.integers(0, 2**32 - 1), st.binary(min_size=1, max_size=300),
    st.one_of(st.none(), st.integers(0, 255), st.binary(min_size=1, max_size=50)),
)
optional = st.dictionaries(
    st.integers(0, 2**20).map(lambda k: 2 * k),
    st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=20), st.binary(max_size=20), st.none()),
    max_size=4,
)


@FAST
@given(fields=fields, extensions=optional, required=st.integers(0, 2**20).map(lambda k: 2 * k + 1))
def test_payload_fields_round_trip_and_required_extensions_are_refused(fields, extensions, required):
    p = Payload(*fields)
    assert unpack(pack(p)) == p
    assert unpack(pack(p, extensions)) == p
    with pytest.raises(PayloadError, match=f"required extension field {required}"):
        unpack(pack(p, {**extensions, required: 0}))


@SLOW
@given(
    h=st.integers(1, 40), w=st.integers(1, 40), channels=st.sampled_from([3, 4]), scale=st.sampled_from([1, 2, 3, 4, 10, 16]),
    inner=st.sampled_from(sorted(CODECS)), alpha=st.sampled_from(["coded", "constant"]), seed=st.integers(0, 2**16),
)
def test_random_small_images_round_trip_to_the_right_shape(h, w, channels, scale, inner, alpha, seed):
    img = image(h, w, channels, seed)
    if channels == 4 and alpha == "constant":
        img[..., 3] = seed % 256
    payload = encode(img, scale=scale, inner=inner)
    info = inspect(payload)
    used = effective_scale(h, w, scale)
    assert (info.width, info.height, info.scale, info.inner, info.mode) == (w, h, used, inner, "RGBA"[:channels])
    preview = decode_preview(payload)
    assert preview.shape == (*low_res_size(h, w, used), channels) and preview.dtype == np.uint8
    full = decode(payload, model="bicubic")
    assert full.shape == img.shape and full.dtype == np.uint8
    if channels == 4 and alpha == "constant":
        assert (full[..., 3] == seed % 256).all()
    if inner == "png" and used == 1:
        assert np.array_equal(full, img)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.parametrize("variant", ["bicubic", "shipped"])
def test_decode_from_8_threads_matches_serial_decoding(payloads, variant):
    if variant == "shipped":
        if zoo.default_model_id(4) == zoo.BICUBIC:
            pytest.skip("no model shipped in sr_codec/weights/manifest.json: the network variant has nothing to run")
        model = None  # each payload's own model: the shipped one for x4 when it was encoded with weights present
        batch = [encode(image(30 + 4 * i, 44, channels, seed=i)) for i, channels in enumerate((3, 4, 3, 4))]
    else:
        model = "bicubic"
        batch = list(payloads.values())
    serial = [decode(p, model=model) for p in batch]
    start = threading.Barrier(8)

    def worker(offset: int) -> list[tuple[int, np.ndarray]]:
        start.wait()  # all 8 threads decode at the same time
        order = [(offset + k) % len(batch) for k in range(len(batch))]
        return [(i, decode(batch[i], model=model)) for i in order * 2]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    assert sum(len(r) for r in results) == 8 * 2 * len(batch)
    for result in results:
        for i, out in result:
            assert out.dtype == serial[i].dtype and np.array_equal(out, serial[i])


# --------------------------------------------------------------------------- nothing lost


def _fingerprint(array: np.ndarray) -> tuple:
    return array.shape, array.dtype.str, array.strides, array.flags.writeable, hashlib.sha256(array.tobytes()).hexdigest()


def test_encode_leaves_the_callers_arrays_alone():
    rgba = image(33, 47, 4, seed=9)
    read_only = image(20, 20, seed=10)
    read_only.flags.writeable = False
    arrays = [
        image(33, 47, seed=8),
        rgba,
        rgba[::2, 1::3],  # a strided view: its base must not change either
        np.asfortranarray(image(25, 31, seed=11)),
        read_only,
        (image(20, 30)[..., 0].astype(np.uint16) * 257),
        image(20, 30)[..., 0] > 100,
        image(20, 30)[..., :1],
    ]
    before = [(_fingerprint(a), _fingerprint(rgba)) for a in arrays]
    for array in arrays:
        encode(array, scale=2, inner="webp")
    assert [(_fingerprint(a), _fingerprint(rgba)) for a in arrays] == before


def _pil_fingerprint(im: Image.Image) -> tuple:
    palette = im.palette.tobytes() if im.palette is not None else None
    return im.mode, im.size, dict(im.getexif()), sorted(im.info), hashlib.sha256(im.tobytes()).hexdigest(), palette


def test_encode_leaves_the_callers_pil_images_and_files_alone(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees (encode transposes a copy, never the caller's image)
    rotated = Image.fromarray(image(24, 36))
    rotated.info["exif"] = exif.tobytes()
    path = tmp_path / "rotated.jpg"
    rotated.save(path, "JPEG", exif=exif)
    palette = Image.fromarray(image(24, 36)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    images = [rotated, palette, Image.fromarray(image(24, 36, 4), "RGBA"), Image.fromarray(image(24, 36)).convert("LA")]

    before = [_pil_fingerprint(im) for im in images]
    for im in images:
        encode(im)
    assert [_pil_fingerprint(im) for im in images] == before

    stat = path.stat()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with Image.open(path) as lazy:  # a lazily opened file image: still usable, unchanged, not closed by encode
        lazy_before = (lazy.mode, lazy.size, dict(lazy.getexif()))
        assert encode(lazy) == encode(path) == encode(str(path))
        assert (lazy.mode, lazy.size, dict(lazy.getexif())) == lazy_before
        with Image.open(path) as fresh:
            assert lazy.tobytes() == fresh.tobytes()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)

    buffer = bytearray(path.read_bytes())
    encode(buffer)
    encode(memoryview(buffer))
    assert hashlib.sha256(buffer).hexdigest() == digest


def test_decode_is_deterministic_and_leaves_the_payload_alone(payloads):
    for data in payloads.values():
        buffer = bytearray(data)
        first = decode(buffer, model="bicubic")
        assert bytes(buffer) == data
        for _ in range(3):
            assert np.array_equal(decode(data, model="bicubic"), first)
            assert np.array_equal(decode_preview(memoryview(buffer)), decode_preview(data))
        expected = first.copy()
        first[:] = 0  # the caller owns what decode returned: changing it changes nothing for the next decode
        assert np.array_equal(decode(data, model="bicubic"), expected)


# --------------------------------------------------------------------------- the odd inputs


def _truncated(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image(40, 40)).save(buf, fmt)
    return buf.getvalue()[: len(buf.getvalue()) // 2]


ODD_IMAGES = {
    "zero-byte bytes": (b"", InputImageError),
    "truncated PNG": (_truncated("PNG"), InputImageError),
    "truncated JPEG": (_truncated("JPEG"), InputImageError),
    "truncated WebP": (_truncated("WEBP"), InputImageError),
    "wrong magic (text)": (b"GIF87a? no, just text pretending to be an image", InputImageError),
    "an sr_codec payload given to encode": (None, InputImageError),  # filled in by the test
    "EPS (a Pillow format never opened)": (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", InputImageError),
    "PNG declaring 65535 x 65535": (_png(65535, 65535), LimitExceededError),
    "NaN float array": (np.full((4, 4, 3), np.nan, np.float32), InputImageError),
    "float array in 0..1": (np.full((4, 4, 3), 0.5, np.float64), InputImageError),
    "NaN PIL mode F image": (Image.fromarray(np.full((4, 4), np.nan, np.float32), "F"), InputImageError),
    "infinite PIL mode F image": (Image.fromarray(np.full((4, 4), np.inf, np.float32), "F"), InputImageError),
    "int8 array": (np.zeros((4, 4, 3), np.int8), InputImageError),
    "int64 array": (np.zeros((4, 4, 3), np.int64), InputImageError),
    "uint32 array": (np.zeros((4, 4, 3), np.uint32), InputImageError),
    "float16 array": (np.zeros((4, 4, 3), np.float16), InputImageError),
    "complex array": (np.zeros((4, 4, 3), np.complex64), InputImageError),
    "object array": (np.full((4, 4, 3), None, object), InputImageError),
    "string array": (np.full((4, 4, 3), "a"), InputImageError),
    "0 x 5 x 3 array": (np.zeros((0, 5, 3), np.uint8), InputImageError),
    "5 x 0 array": (np.zeros((5, 0), np.uint8), InputImageError),
    "0-d array": (np.array(7, np.uint8), InputImageError),
    "1-d array": (np.zeros(12, np.uint8), InputImageError),
    "2-channel array": (np.zeros((4, 4, 2), np.uint8), InputImageError),
    "4-d array": (np.zeros((1, 4, 4, 3), np.uint8), InputImageError),
    "nested list": ([[1, 2], [3, 4]], InputImageError),
    "None": (None, InputImageError),
    "int": (7, InputImageError),
}


@pytest.mark.parametrize("label", list(ODD_IMAGES))
def test_odd_images(label, payloads, tmp_path):
    value, expected = ODD_IMAGES[label]
    if label == "an sr_codec payload given to encode":
        value = payloads["avif-rgb"]
    with pytest.raises(expected):
        encode(value)
    if isinstance(value, bytes):  # the same bytes as a file
        path = tmp_path / "odd.png"
        path.write_bytes(value)
        with pytest.raises(expected):
            encode(path)


def _odd_payloads(payloads: dict[str, bytes]) -> dict[str, tuple[object, type]]:
    good = payloads["avif-rgb"]
    nested = reseal(b"\x01" + b"\x91" * 100_000 + b"\x01")
    return {
        "zero-byte payload": (b"", PayloadError),
        "one byte short": (good[:-1], PayloadError),
        "only the first half": (good[: len(good) // 2], PayloadError),
        "only the version": (b"\x01", PayloadError),
        "one byte appended": (good + b"\x00", PayloadError),
        "wrong magic: a PNG file": (_png(8, 8), PayloadError),
        "wrong magic: a JSON document": (b'{"width": 44}', PayloadError),
        "wrong magic: version 2": (b"\x02" + good[1:], PayloadError),
        "wrong magic: version as str": (reseal(msgpack.packb("1") + good[1:-4]), PayloadError),
        "huge dimensions: 65535 x 65535": (pack(Payload(65535, 65535, 4, 0, 0, b"\x0a" * 900)), LimitExceededError),
        "huge dimensions: (2^32-1) x 1": (pack(Payload(2**32 - 1, 1, 16, 0, 0, b"\x0a")), LimitExceededError),
        "nested msgpack: 100 000 nested arrays": (nested, PayloadError),
        "nested msgpack: width as an array": (forge([44], 30, 4, 0, 0, b"x", None), PayloadError),
        "nested msgpack: map in the bitstream field": (forge(44, 30, 4, 0, 0, {0: b"x"}, None), PayloadError),
        "bin header declaring 4 GiB": (reseal(b"\x01\x2c\x1e\x04\x00\x00\xc6\xff\xff\xff\xff"), PayloadError),
        "payload over max_payload_bytes (64 MiB + 1)": (b"\x01" + bytes(64 << 20), LimitExceededError),
        "str": ("payload", PayloadError),
        "int": (7, PayloadError),
        "None": (None, PayloadError),
        "list of ints": (list(good), PayloadError),
        "numpy uint8 array": (np.frombuffer(good, np.uint8), PayloadError),
    }


def test_odd_payloads(payloads):
    odd = _odd_payloads(payloads)
    for label, (value, expected) in odd.items():
        for call in (inspect, decode_preview, lambda p: decode(p, model="bicubic")):
            if call is inspect and label.startswith("huge dimensions"):
                assert inspect(value).width * inspect(value).height > Limits().max_pixels  # described, not decoded
                continue
            with pytest.raises(expected) as caught:
                call(value)
            assert type(caught.value) is expected, label  # exactly the documented class, not just a subclass


def test_bytearray_and_memoryview_payloads_are_accepted(payloads):
    for data in payloads.values():
        expected = decode(data, model="bicubic")
        for view in (bytearray(data), memoryview(data), memoryview(bytearray(b"xx" + data))[2:]):
            assert np.array_equal(decode(view, model="bicubic"), expected)
            assert inspect(view) == inspect(data)
    # a memoryview of 4-byte items is read as its raw bytes (padded to whole words with an extension field)
    p = unpack(payloads["avif-rgb"])
    data = next(d for d in (pack(p, {2: b"\0" * k}) for k in range(1, 5)) if len(d) % 4 == 0)
    words = memoryview(bytearray(data)).cast("I")
    assert len(words) == len(data) // 4
    assert inspect(words).payload_bytes == len(data)
    assert np.array_equal(decode_preview(words), decode_preview(payloads["avif-rgb"]))


def test_payload_size_limit_is_checked_before_copying(payloads):
    data = payloads["avif-rgb"]
    assert inspect(data, limits=Limits(max_payload_bytes=len(data))).payload_bytes == len(data)
    for value in (data, bytearray(data), memoryview(data)):
        with pytest.raises(LimitExceededError, match=f"{len(data)} bytes"):
            inspect(value, limits=Limits(max_payload_bytes=len(data) - 1))
    huge = np.broadcast_to(np.zeros(1, np.uint8), (1 << 34,))  # 16 GiB it does not own: a copy would not fit
    with pytest.raises(LimitExceededError, match=str(1 << 34)):
        inspect(memoryview(huge))
