"""Inner codecs: round-trips, and the AVIF codec's container-free wire form (sr_codec.avif_box)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sr_codec.codecs import avif as inner
from sr_codec.format import avif_box
from sr_codec.format.avif_box import build_avif, parse_sequence_header, split_avif
from sr_codec.errors import InputImageError, PayloadError, SrCodecError
from sr_codec import codecs
from sr_codec.codecs import by_name as get_codec
from sr_codec.codecs import by_wire_id as codec_by_wire_id
from sr_codec.codecs.avif import AvifCodec, avif_speed_for

CODECS = {name: codecs.by_name(name) for name in codecs.names()}

AVIF_SIZES = [(1, 1), (7, 13), (1, 500), (64, 48), (121, 81), (300, 200)]  # (width, height)


def crop(photo: np.ndarray, width: int, height: int) -> np.ndarray:
    """A ``height`` x ``width`` piece of the photo (tiled when larger), contiguous uint8 RGB."""
    top, left = 100, 150
    reps = (-(-(top + height) // photo.shape[0]), -(-(left + width) // photo.shape[1]), 1)
    return np.ascontiguousarray(np.tile(photo, reps)[top : top + height, left : left + width])


def pillow_avif(rgb: np.ndarray, quality: int, speed: int | None = None) -> bytes:
    """The full AVIF file Pillow writes with the codec's options (its speed for this size by default)."""
    speed = avif_speed_for(*rgb.shape[:2]) if speed is None else speed
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "AVIF", **AvifCodec().save_options(quality, speed))
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="module")
def bare_streams(photo) -> list[bytes]:
    """Bare AV1 bitstreams of a few sizes and qualities, the seeds of the fuzz tests."""
    codec = get_codec("avif")
    return [codec.encode(crop(photo, w, h), q) for (w, h, q) in [(121, 81, 30), (7, 13, 50), (48, 64, 0), (1, 1, 100)]]


# ------------------------------------------------------------------------------ every codec


@pytest.mark.parametrize("name", sorted(CODECS))
@pytest.mark.parametrize("size", [(160, 120), (13, 7), (1, 1)])
def test_every_codec_round_trips_shape_and_dtype(photo, name, size):
    codec = get_codec(name)
    rgb = crop(photo, *size)
    data = codec.encode(rgb)
    out = codec.decode(data)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert codec.read_size(data) == rgb.shape[:2]
    assert codec_by_wire_id(codec.wire_id) is codec
    if codec.lossless:
        np.testing.assert_array_equal(out, rgb)
    else:  # a lossy decode still resembles the input (mean absolute error, not a tight bound)
        assert np.abs(out.astype(int) - rgb).mean() < 40


@pytest.mark.parametrize("name", [n for n, c in CODECS.items() if not c.lossless])
def test_more_quality_means_more_bytes_and_less_error(small_photo, name):
    codec = get_codec(name)
    sizes, errors = [], []
    for quality in (10, 50, 90):
        data = codec.encode(small_photo, quality)
        sizes.append(len(data))
        errors.append(np.abs(codec.decode(data).astype(int) - small_photo).mean())
    assert sizes[0] < sizes[1] < sizes[2]
    assert errors[0] > errors[2]


def test_quality_out_of_range_and_unknown_codec_are_rejected(small_photo):
    with pytest.raises(InputImageError):
        get_codec("avif").encode(small_photo, 101)
    with pytest.raises(InputImageError):
        get_codec("heic")
    with pytest.raises(PayloadError):
        codec_by_wire_id(9)
    with pytest.raises(InputImageError):
        AvifCodec(speed=11)


# ------------------------------------------------------------------------------ bare AVIF


@pytest.mark.parametrize("quality", [0, 50, 100])
@pytest.mark.parametrize("width, height", AVIF_SIZES)
def test_bare_avif_decodes_to_the_same_pixels_as_the_full_file(photo, width, height, quality):
    rgb = crop(photo, width, height)
    full = pillow_avif(rgb, quality)
    bitstream, w, h = split_avif(full)
    assert (w, h) == (width, height)
    assert build_avif(bitstream) == full  # the container is rebuilt byte for byte

    codec = get_codec("avif")
    data = codec.encode(rgb, quality)
    assert data[0] == 0x0A  # a sequence header OBU, not the 0x00 of a box size
    assert codec.read_size(data) == (height, width)
    np.testing.assert_array_equal(codec.decode(data), pillow_decode(codec.to_avif_file(data)))
    np.testing.assert_array_equal(codec.decode(bitstream), pillow_decode(full))


def test_speed_follows_image_size_unless_given(photo):
    assert avif_speed_for(81, 121) == 6  # BSD100 at x4: small, the slow (best) speed is cheap
    assert avif_speed_for(289, 433) == 9  # a 2 MP photo at x4: the fast speed
    speeds = [avif_speed_for(n, n) for n in range(1, 600, 7)]
    assert speeds == sorted(speeds)
    rgb = crop(photo, 121, 81)
    assert get_codec("avif").encode(rgb, 30) == split_avif(pillow_avif(rgb, 30, speed=6))[0]
    assert AvifCodec(speed=9).encode(rgb, 30) == split_avif(pillow_avif(rgb, 30, speed=9))[0]


def test_sequence_header_describes_the_image(photo):
    seq = parse_sequence_header(get_codec("avif").encode(crop(photo, 121, 81), 50))
    assert (seq.width, seq.height, seq.bit_depth, seq.monochrome) == (121, 81, 8, False)
    assert (seq.subsampling_x, seq.subsampling_y) == (1, 1)  # 4:2:0
    # The CICP libavif signals for Pillow's RGB input: BT.709 primaries, sRGB transfer, BT.601 matrix, full range.
    cicp = (seq.color_primaries, seq.transfer_characteristics, seq.matrix_coefficients, seq.full_range)
    assert cicp == (1, 13, 6, True)


def test_bare_bitstream_saves_the_container(photo):
    rgb = crop(photo, 121, 81)
    bare = get_codec("avif").encode(rgb, 30)
    full = pillow_avif(rgb, 30)
    assert len(full) - len(bare) >= 200
    assert full[len(full) - len(bare) :] == bare  # the same AV1 bits, only the boxes (and delimiter) are gone


def test_full_avif_files_are_still_accepted(photo):
    rgb = crop(photo, 64, 48)
    full = pillow_avif(rgb, 50)
    codec = get_codec("avif")
    assert codec.is_full_file(full) and not codec.is_full_file(codec.encode(rgb, 50))
    assert codec.read_size(full) == (48, 64)
    np.testing.assert_array_equal(codec.decode(full), pillow_decode(full))


def test_encode_keeps_the_full_file_when_the_container_does_not_rebuild(photo, monkeypatch):
    rgb = crop(photo, 64, 48)
    monkeypatch.setattr(inner, "build_avif", lambda bitstream: b"something else")
    data = get_codec("avif").encode(rgb, 50)
    assert data[:1] == b"\x00" and data[4:8] == b"ftyp"
    monkeypatch.undo()
    assert get_codec("avif").decode(data).shape == rgb.shape


def test_split_rejects_what_it_cannot_rebuild(photo):
    with pytest.raises(PayloadError):
        split_avif(b"\x00\x00\x00\x10ftypavif\x00\x00\x00\x00")  # no meta
    buf = io.BytesIO()
    rgba = np.dstack([crop(photo, 32, 24), np.full((24, 32), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(buf, "AVIF", quality=50)
    with pytest.raises(PayloadError):  # alpha is an auxiliary item (iref): not a single still image
        split_avif(buf.getvalue())


def test_declared_size_is_checked_before_decoding(bare_streams, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(PayloadError):
        get_codec("avif").decode(bare_streams[0])  # 121 x 81 > 100


def test_non_bytes_and_empty_input_are_payload_errors():
    codec = get_codec("avif")
    for bad in (b"", 12345, None):
        with pytest.raises(PayloadError):
            codec.decode(bad)
        with pytest.raises(PayloadError):
            codec.read_size(bad)


# ------------------------------------------------------------------------------ fuzzing

FUZZ = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _decode_or_payload_error(data: bytes) -> None:
    codec = get_codec("avif")
    for call in (codec.read_size, codec.decode, avif_box.parse_sequence_header, avif_box.split_avif):
        try:
            out = call(data)
        except PayloadError:
            continue
        except SrCodecError as exc:
            pytest.fail(f"{call.__name__} raised {type(exc).__name__}, not PayloadError")
        if call is codec.decode:
            assert out.dtype == np.uint8 and out.shape == (*codec.read_size(data), 3)


@FUZZ
@given(data=st.data())
def test_truncated_bitstreams_raise_payload_error_only(bare_streams, data):
    stream = data.draw(st.sampled_from(bare_streams))
    _decode_or_payload_error(stream[: data.draw(st.integers(0, len(stream) - 1))])


@FUZZ
@given(data=st.data())
def test_bit_flipped_bitstreams_raise_payload_error_only(bare_streams, data):
    stream = bytearray(data.draw(st.sampled_from(bare_streams)))
    for position in data.draw(st.lists(st.integers(0, 8 * len(stream) - 1), min_size=1, max_size=4)):
        stream[position // 8] ^= 0x80 >> (position % 8)
    _decode_or_payload_error(bytes(stream))


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes_raise_payload_error_only(blob):
    _decode_or_payload_error(blob)


@FUZZ
@given(data=st.data())
def test_corrupt_full_files_raise_payload_error_only(photo, data):
    full = _full_file(photo)
    blob = bytearray(full[: data.draw(st.integers(1, len(full)))])
    for position in data.draw(st.lists(st.integers(0, 8 * len(blob) - 1), max_size=3)):
        blob[position // 8] ^= 0x80 >> (position % 8)
    _decode_or_payload_error(bytes(blob))


_FULL_FILE: list[bytes] = []


def _full_file(photo: np.ndarray) -> bytes:
    if not _FULL_FILE:
        _FULL_FILE.append(pillow_avif(crop(photo, 40, 30), 40))
    return _FULL_FILE[0]


def test_four_four_four_avif_is_stored_bare_and_its_container_rebuilt_byte_for_byte(photo):
    """4:4:4 (AV1 profile 1): the sequence header carries the subsampling; ``av1C``, brands and ``pixi`` follow it."""
    from sr_codec.codecs.avif import AvifCodec

    image = np.ascontiguousarray(photo[:64, :96])
    codec = AvifCodec(speed=8, subsampling="4:4:4")
    full = codec.encode_full(image, 60)
    bitstream = codec.encode(image, 60)
    assert not codec.is_full_file(bitstream) and build_avif(bitstream) == full
    header = parse_sequence_header(bitstream)
    assert (header.seq_profile, header.subsampling_x, header.subsampling_y) == (1, 0, 0)
    assert codec.decode(bitstream).shape == image.shape
    from sr_codec.errors import InputImageError

    with pytest.raises(InputImageError):
        AvifCodec(subsampling="4:2:2")


def test_the_speeds_are_chosen_in_one_place_and_the_codec_makes_its_slower_configurations(photo):
    """Issue 23: rate control asks the codec for its probe and final configurations; it builds none itself."""
    from pathlib import Path

    from sr_codec.codecs import avif

    rgb = np.ascontiguousarray(photo[:64, :96])
    codec = get_codec("avif")
    assert codec.at_speed(8).encode(rgb, 30) == AvifCodec(speed=8).encode(rgb, 30)
    assert codec.at_speed(None) is codec
    assert codec.for_probes().speed == avif.PROBE_SPEED
    assert codec.for_final(81, 121).speed == avif.final_speed_for(81, 121) <= avif.avif_speed_for(81, 121)
    assert codec.as_plain_file().speed == avif.PILLOW_AVIF_SPEED
    fixed = AvifCodec(speed=7)  # a caller's speed is kept everywhere
    assert fixed.for_probes() == fixed.for_final(3000, 4000) == fixed.as_plain_file() == fixed
    for name in ("webp", "jpeg", "png"):
        other = get_codec(name)
        assert other.at_speed(3) is other.for_probes() is other.for_final(10, 10) is other
    rate_dir = Path(avif.__file__).resolve().parents[1] / "sender"
    for path in rate_dir.rglob("*.py"):
        text = path.read_text()
        assert "type(codec)(" not in text and "speed=" not in text.replace("speed_for", ""), path
