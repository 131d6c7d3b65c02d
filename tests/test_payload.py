"""Payload format v1: exact layout, overhead, strict parsing of damaged and forged bytes."""

from __future__ import annotations

import zlib

import msgpack
import numpy as np
import pytest

from sr_codec.errors import LimitExceededError, PayloadError
from sr_codec.limits import Limits
from sr_codec.format.payload import FORMAT_VERSION, MAX_SCALE, Payload, overhead, pack, unpack


def forge(*fields, version=FORMAT_VERSION) -> bytes:
    """Arbitrary msgpack fields after ``version``, with a correct CRC-32: only field checks can reject it."""
    body = b"".join(msgpack.packb(f, use_bin_type=True) for f in (version, *fields))
    return body + zlib.crc32(body).to_bytes(4, "big")


GOOD = (768, 512, 4, 0, 0xDEADBEEF, b"\x00inner-bitstream", None)


def test_round_trip_rgb_constant_and_coded_alpha():
    for alpha in (None, 0, 127, 255, b"\x89PNG-ish alpha plane"):
        p = Payload(768, 512, 4, 0, 0xDEADBEEF, bytes(range(256)) * 3, alpha)
        assert unpack(pack(p)) == p
    assert unpack(bytearray(pack(p))) == p and unpack(memoryview(pack(p))) == p


def test_layout_is_the_documented_worked_example():
    """docs/format.md walks through exactly these bytes; changing them is a format change."""
    p = Payload(width=768, height=512, scale=4, codec_id=0, model_tag=0x1A2B3C4D, bitstream=b"AV1", alpha=None)
    data = pack(p)
    assert data[:-4].hex(" ") == "01 cd 03 00 cd 02 00 04 00 ce 1a 2b 3c 4d c4 03 41 56 31 c0"
    assert data[-4:] == zlib.crc32(data[:-4]).to_bytes(4, "big")
    assert data[-4:].hex() == "9cc08d36"
    assert overhead(p) == 21


@pytest.mark.parametrize("side", [1, 127, 128, 255, 256, 4000, 65535])
@pytest.mark.parametrize("tag", [0, 0x7F, 0xFFFF, 0x10000, 0xFFFFFFFF])
@pytest.mark.parametrize("inner_len", [1, 255, 256, 65535, 65536, 200_000])
def test_rgb_overhead_at_most_24_bytes(side, tag, inner_len):
    p = Payload(side, side, 10, 3, tag, b"\x01" * inner_len, None)
    measured = len(pack(p)) - inner_len
    assert measured == overhead(p) <= 24
    # the exact sum of the documented field sizes
    uint = lambda v: 1 if v < 128 else 2 if v < 256 else 3 if v < 65536 else 5  # noqa: E731
    bin_header = 2 if inner_len < 256 else 3 if inner_len < 65536 else 5
    assert measured == 1 + 2 * uint(side) + 1 + 1 + uint(tag) + bin_header + 1 + 4


def test_alpha_costs_only_its_field():
    base = Payload(*GOOD)
    assert len(pack(Payload(*GOOD[:6], 100))) - len(pack(base)) == 0  # fixint replaces nil
    assert len(pack(Payload(*GOOD[:6], 200))) - len(pack(base)) == 1
    coded = b"\x05" * 300
    assert len(pack(Payload(*GOOD[:6], coded))) - len(pack(base)) == 300 + 2


def test_every_truncation_is_a_payload_error():
    data = pack(Payload(*GOOD))
    for n in range(len(data)):
        with pytest.raises(PayloadError):
            unpack(data[:n])


def test_every_single_bit_flip_is_a_payload_error():
    data = pack(Payload(9, 7, 2, 3, 0x01020304, bytes(range(40)), b"alpha!"))
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(PayloadError):
            unpack(bytes(flipped))


def test_random_bytes_are_payload_errors():
    rng = np.random.default_rng(7)
    for n in list(range(0, 40)) + [100, 1000, 5000] * 20:
        junk = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        with pytest.raises(PayloadError):
            unpack(junk)
        with pytest.raises(PayloadError):  # past the version check, so the checksum must catch it
            unpack(b"\x01" + junk)


@pytest.mark.parametrize("version", [0, 2, 3, 127, 2**40, -1])
def test_unknown_versions_are_named(version):
    with pytest.raises(PayloadError, match=f"version {version}"):
        unpack(forge(*GOOD, version=version))


@pytest.mark.parametrize("first", ["1", 1.0, True, None, b"\x01", [1]])
def test_not_starting_with_a_version_number(first):
    with pytest.raises(PayloadError):
        unpack(forge(*GOOD, version=first))


def test_trailing_data_is_rejected():
    with pytest.raises(PayloadError, match="unexpected bytes"):
        unpack(forge(*GOOD, 0))  # an extra field, checksum correct
    with pytest.raises(PayloadError):
        unpack(pack(Payload(*GOOD)) + b"\x00")  # bytes after the checksum


def test_missing_fields_are_rejected():
    for n in range(len(GOOD)):
        with pytest.raises(PayloadError):
            unpack(forge(*GOOD[:n]))


@pytest.mark.parametrize(
    "index,value",
    [
        (0, 0), (0, -5), (0, 1.5), (0, True), (0, "768"), (0, [768]), (0, {"w": 768}), (0, None), (0, 2**32),
        (1, 0), (1, b"\x02"),
        (2, 0), (2, MAX_SCALE + 1), (2, 2.0), (2, False),
        (3, 4), (3, 255), (3, -1), (3, None),
        (4, -1), (4, 2**32), (4, 1.0),
        (5, b""), (5, "text"), (5, 12), (5, None), (5, [b"x"]),
        (6, 256), (6, -1), (6, b""), (6, 1.0), (6, True), (6, "a"),
    ],
)
def test_wrong_types_and_ranges_are_rejected(index, value):
    fields = list(GOOD)
    fields[index] = value
    with pytest.raises(PayloadError):
        unpack(forge(*fields))


def test_ext_and_nested_objects_are_rejected_without_allocation():
    fields = list(GOOD)
    fields[5] = msgpack.ExtType(5, b"x" * 10)
    with pytest.raises(PayloadError):
        unpack(forge(*fields))
    # a bin header declaring 4 GiB inside a 20-byte payload
    body = bytes.fromhex("01 cd 03 00 cd 02 00 04 00 00 c6 ff ff ff ff 00")
    with pytest.raises(PayloadError):
        unpack(body + zlib.crc32(body).to_bytes(4, "big"))


def test_limits_on_payload_and_bitstream_sizes():
    data = pack(Payload(768, 512, 4, 0, 0, b"\x00" * 3000, b"\x01" * 5000))
    assert unpack(data, Limits(max_payload_bytes=len(data), max_inner_bytes=5000)).bitstream == b"\x00" * 3000
    with pytest.raises(LimitExceededError, match="payload"):
        unpack(data, Limits(max_payload_bytes=len(data) - 1))
    with pytest.raises(LimitExceededError, match="alpha"):
        unpack(data, Limits(max_inner_bytes=4999))
    with pytest.raises(LimitExceededError, match="inner"):
        unpack(data, Limits(max_inner_bytes=2999))


@pytest.mark.parametrize("not_bytes", ["payload", None, 12, [1, 2], np.zeros(10, np.uint8)])
def test_non_bytes_input(not_bytes):
    with pytest.raises(PayloadError):
        unpack(not_bytes)


def test_constructor_refuses_invalid_fields():
    with pytest.raises(PayloadError):
        Payload(0, 1, 4, 0, 0, b"x")
    with pytest.raises(PayloadError):
        Payload(1, 1, 4, 0, 0, b"x", alpha=300)
    with pytest.raises(PayloadError):
        Payload(1, 1, 4, 0, 0, bytearray(b"x"))
