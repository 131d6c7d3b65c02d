"""The public API: encode / decode / decode_preview / inspect / decode_many / upscale.

Decodes use ``model="bicubic"`` unless the model choice itself is under test, so these
tests never load TensorFlow and stay fast whatever weights are shipped.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import sr_codec
from sr_codec import (
    InputImageError,
    LimitExceededError,
    Limits,
    ModelError,
    PayloadError,
    SrCodecError,
    decode,
    decode_many,
    decode_preview,
    encode,
    inspect,
)
from sr_codec.sender.builder import effective_scale
from sr_codec.imaging.resample import downsample, low_res_size
from sr_codec.imaging.metrics import psnr
from sr_codec.zoo import manifest as zoo
from sr_codec.format.payload import Payload, pack, unpack

# Bicubic-decode PSNR floors on the astronaut crops below (measured 28.3 / 24.4 / 20.1 dB at x2 / x4 / x10).
MIN_PSNR = {2: 25.0, 4: 22.0, 10: 18.0}


def bicubic(payload: bytes) -> np.ndarray:
    return decode(payload, model="bicubic")


@pytest.fixture(scope="module")
def odd_photo(photo) -> np.ndarray:
    """97 x 261: divisible by none of 2, 4, 10, and far from symmetric."""
    return np.ascontiguousarray(photo[100:197, 50:311])


def assert_upright(original: np.ndarray, decoded: np.ndarray, floor: float) -> None:
    """Right size, and much closer to the original than to any of its mirror images."""
    assert decoded.shape == original.shape and decoded.dtype == np.uint8
    quality = psnr(original, decoded)
    assert quality > floor
    for mirrored in (original[::-1], original[:, ::-1], original[::-1, ::-1]):
        assert psnr(mirrored, decoded) < quality - 6


@pytest.mark.parametrize("scale", [2, 4, 10])
def test_rgb_round_trip_odd_size(odd_photo, scale):
    payload = encode(odd_photo, scale=scale)
    assert_upright(odd_photo, bicubic(payload), MIN_PSNR[scale])
    info = inspect(payload)
    assert (info.height, info.width, info.scale, info.mode) == (97, 261, scale, "RGB")


def test_default_settings_and_payload_accounting(small_photo):
    payload = encode(small_photo)
    info = inspect(payload)
    assert (info.scale, info.inner, info.version, info.has_alpha) == (4, "avif", 1, False)
    assert info.payload_bytes == len(payload) == info.inner_bytes + info.overhead_bytes
    assert info.alpha_bytes == 0 and info.overhead_bytes <= 24
    # The shipped learned pair makes the thumbnail when x4 has one; its upscaler is the model named.
    assert info.model_id == _lossy_model_id(4) and info.model_tag == zoo.tag_for(info.model_id)
    assert info.bits_per_pixel == pytest.approx(8 * len(payload) / (120 * 160))


def test_lossless_inner_names_the_clean_role_model(small_photo):
    """PNG delivers clean low-res, so the payload names the model trained on clean low-res (when shipped)."""
    lossless, lossy = inspect(encode(small_photo, scale=4, inner="png")), inspect(encode(small_photo, scale=4))
    assert lossless.model_id == zoo.upscale_model_id(4)
    assert lossy.model_id == _lossy_model_id(4)
    assert inspect(encode(small_photo, scale=4, sender="bicubic")).model_id == zoo.default_model_id(4)


def test_the_learned_sender_skips_grey_and_tiny_photos(small_photo):
    from sr_codec.sender.learned import learned_pair

    if learned_pair(4) is None:
        pytest.skip("no learned pair ships for x4")
    grey = np.repeat(small_photo[..., :1], 3, axis=2)
    assert inspect(encode(grey, scale=4)).model_id == zoo.default_model_id(4)
    assert inspect(encode(small_photo[:40, :40], scale=4, sender="learned")).model_id == zoo.default_model_id(4)
    assert inspect(encode(small_photo, scale=4, sender="learned")).model_id == learned_pair(4)[1]


def _lossy_model_id(scale: int) -> str:
    from sr_codec.codecs import by_name
    from sr_codec.sender.builder import payload_model_id, resolve_sender

    avif = by_name("avif")
    return payload_model_id(scale, avif, sender=resolve_sender("auto", scale, avif))


def test_scale_1_png_is_lossless(small_photo):
    rgba = np.dstack([small_photo, np.arange(120 * 160, dtype=np.uint32).reshape(120, 160).astype(np.uint8)])
    for image in (small_photo, rgba):
        payload = encode(image, scale=1, inner="png")
        assert np.array_equal(decode(payload), image)  # x1 never runs a network: no model needed
        assert np.array_equal(decode_preview(payload), image)


@pytest.mark.parametrize("scale", [2, 4, 10])
def test_rgba_keeps_alpha(odd_photo, scale):
    h, w = odd_photo.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    alpha = np.clip(255 - 3 * np.hypot(yy - h / 2, xx - w / 2), 0, 255).astype(np.uint8)  # soft disc
    payload = encode(np.dstack([odd_photo, alpha]), scale=scale)
    out = bicubic(payload)
    assert out.shape == (h, w, 4)
    assert_upright(odd_photo, out[..., :3], MIN_PSNR[scale])
    assert psnr(alpha, out[..., 3]) > 30
    info = inspect(payload)
    assert info.has_alpha and info.mode == "RGBA" and info.alpha_bytes > 0
    assert info.payload_bytes == info.inner_bytes + info.alpha_bytes + info.overhead_bytes


def test_hard_mask_can_travel_exact_at_full_resolution(odd_photo):
    """At x2 this detailed binary mask codes smaller at full resolution, so it comes back exact."""
    gray = np.asarray(Image.fromarray(odd_photo).convert("L"))
    mask = np.where(gray > 100, 255, 0).astype(np.uint8)
    payload = encode(np.dstack([odd_photo, mask]), scale=2)
    assert np.array_equal(bicubic(payload)[..., 3], mask)
    preview = decode_preview(payload)
    assert preview.shape == (49, 131, 4)
    assert np.array_equal(preview[..., 3], downsample(mask[..., None], 2)[..., 0])


def test_constant_alpha_costs_one_number(small_photo):
    for value in (0, 77, 255):
        rgba = np.dstack([small_photo, np.full(small_photo.shape[:2], value, np.uint8)])
        payload = encode(rgba)
        assert inspect(payload).alpha_bytes == 0
        assert len(payload) - len(encode(small_photo)) <= 1
        out = bicubic(payload)
        assert out.shape == (120, 160, 4) and np.all(out[..., 3] == value)


def test_grayscale_array_and_file(odd_photo):
    gray = np.asarray(Image.fromarray(odd_photo).convert("L"))
    for image in (gray, gray[..., None], Image.fromarray(gray)):
        out = bicubic(encode(image, scale=2))
        assert out.shape == (97, 261, 3)
        assert np.abs(out.astype(int) - out[..., :1]).max() <= 3  # still gray
        assert psnr(gray, out[..., 1]) > MIN_PSNR[2]


@pytest.mark.parametrize("shape", [(1, 1), (7, 13), (13, 7), (1, 5000), (5000, 1), (3, 2)])
@pytest.mark.parametrize("scale", [2, 4, 10])
def test_tiny_and_thin_images_round_trip(shape, scale):
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    ramps = [60 + 150 * xx / max(w - 1, 1), 60 + 150 * yy / max(h - 1, 1), np.full((h, w), 90.0)]
    image = np.ascontiguousarray(np.stack(ramps, axis=-1).round().astype(np.uint8))
    payload = encode(image, scale=scale)
    info = inspect(payload)
    assert info.scale == effective_scale(h, w, scale)
    out = bicubic(payload)
    assert out.shape == image.shape
    assert decode_preview(payload).shape == (*low_res_size(h, w, info.scale), 3)
    if h * w < 100:  # a handful of pixels shrunk to one or two: the colours survive on average
        assert np.abs(out.reshape(-1, 3).mean(0) - image.reshape(-1, 3).mean(0)).max() <= 16
    else:
        assert psnr(image, out) > 30


def test_scale_is_lowered_only_for_images_smaller_than_it():
    cases = {(512, 512, 4): 4, (97, 261, 10): 10, (7, 13, 10): 7, (13, 7, 4): 4, (3, 2, 4): 2,
             (1, 1, 10): 1, (1, 5000, 4): 4, (5000, 1, 10): 10, (2, 5000, 4): 2}
    for (h, w, asked), used in cases.items():
        assert effective_scale(h, w, asked) == used


def test_exif_rotated_jpeg_is_upright_and_metadata_free(odd_photo):
    stored = np.ascontiguousarray(np.rot90(odd_photo))  # what the camera wrote (261 x 97)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    exif[0x010E] = "secret-location-marker"
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    payload = encode(buf.getvalue(), scale=2)
    assert b"secret-location-marker" not in payload
    assert_upright(odd_photo, bicubic(payload), MIN_PSNR[2])


def _png16(rgb16: np.ndarray) -> bytes:
    """A 16-bit RGB PNG, written by hand (Pillow cannot write 16-bit RGB)."""
    h, w, _ = rgb16.shape
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb16)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16_bit_png(odd_photo, tmp_path):
    wide = odd_photo.astype(np.uint16) * 257 + 100  # uses the low byte too
    path = tmp_path / "deep.png"
    path.write_bytes(_png16(wide))
    assert_upright(odd_photo, bicubic(encode(path, scale=2)), MIN_PSNR[2])
    gray16 = wide[..., 1]
    buf = io.BytesIO()
    Image.fromarray(gray16).save(buf, "PNG")
    out = bicubic(encode(buf.getvalue(), scale=2))
    assert out.shape == (97, 261, 3) and psnr(odd_photo[..., 1], out[..., 1]) > MIN_PSNR[2]


def test_cmyk_jpeg(odd_photo):
    buf = io.BytesIO()
    Image.fromarray(odd_photo).convert("CMYK").save(buf, "JPEG", quality=95)
    assert_upright(odd_photo, bicubic(encode(buf.getvalue(), scale=2)), MIN_PSNR[2])


def test_every_input_kind_gives_the_same_payload(small_photo, tmp_path):
    buf = io.BytesIO()
    Image.fromarray(small_photo).save(buf, "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(buf.getvalue())
    reference = encode(small_photo)
    assert encode(reference_input := buf.getvalue()) == reference
    assert encode(bytearray(reference_input)) == reference
    assert encode(path) == reference and encode(str(path)) == reference
    assert encode(Image.open(path)) == reference


def test_callers_array_is_left_alone(small_photo):
    image = small_photo.copy()
    rgba = np.dstack([image, np.full(image.shape[:2], 200, np.uint8)])
    snapshot, rgba_snapshot = image.copy(), rgba.copy()
    encode(image, scale=1)
    encode(rgba, scale=2)
    assert np.array_equal(image, snapshot) and np.array_equal(rgba, rgba_snapshot)
    frozen = image.copy()
    frozen.flags.writeable = False
    assert encode(frozen) == encode(image)


def test_decoded_arrays_are_fresh_and_writeable(small_photo):
    payload = encode(small_photo, scale=1, inner="png")
    first, second = decode(payload), decode(payload)
    assert first.flags.writeable and first.flags.c_contiguous
    first[:] = 0
    assert np.array_equal(second, small_photo)


def test_decode_preview_and_decode_many(odd_photo, small_photo):
    payloads = [encode(odd_photo, scale=4), encode(small_photo, scale=2)]
    preview = decode_preview(payloads[0])
    assert preview.shape == (25, 66, 3)
    assert psnr(downsample(odd_photo, 4), preview) > 28  # the low-res image, as coded
    many = decode_many(payloads, model="bicubic")
    assert [m.shape for m in many] == [(97, 261, 3), (120, 160, 3)]
    assert all(np.array_equal(m, bicubic(p)) for m, p in zip(many, payloads, strict=True))
    assert decode_many([]) == []


def test_model_choice(small_photo):
    payload = encode(small_photo)
    p = unpack(payload)
    foreign = pack(Payload(p.width, p.height, p.scale, p.codec_id, 0xFEEDF00D, p.bitstream, p.alpha))
    assert inspect(foreign).model_id is None
    with pytest.raises(ModelError, match="model='default'"):
        decode(foreign)
    assert np.array_equal(decode(foreign, model="bicubic"), bicubic(payload))
    if zoo.default_model_id(4) == zoo.BICUBIC:  # with shipped weights this would run the network
        assert np.array_equal(decode(foreign, model="default"), bicubic(payload))
        assert np.array_equal(decode(payload), bicubic(payload))
    with pytest.raises(ModelError):
        decode(payload, model="no-such-model")
    with pytest.raises(ModelError):
        decode(payload, model=4)


def test_upscale_is_re_exported():
    assert callable(sr_codec.upscale)
    low = np.zeros((5, 7, 3), np.uint8)
    assert sr_codec.upscale(low, 2, model_id="bicubic").shape == (10, 14, 3)


def test_declared_size_must_match_the_bitstream(small_photo):
    p = unpack(encode(small_photo))
    for width, height in ((p.width + 4, p.height), (p.width, p.height - 4)):
        forged = pack(Payload(width, height, p.scale, p.codec_id, p.model_tag, p.bitstream, p.alpha))
        with pytest.raises(PayloadError, match="needs"):
            decode(forged, model="bicubic")
        with pytest.raises(PayloadError):
            decode_preview(forged)
    with pytest.raises(PayloadError):  # an AVIF bitstream labelled as PNG
        decode(pack(Payload(p.width, p.height, p.scale, 3, p.model_tag, p.bitstream)), model="bicubic")
    with pytest.raises(PayloadError):  # garbage alpha plane
        decode(pack(Payload(p.width, p.height, p.scale, p.codec_id, p.model_tag, p.bitstream, b"RIFFjunk")))


def test_huge_declared_size_is_refused_before_decoding():
    forged = pack(Payload(65535, 65535, 4, 0, 0, b"\x0a" * 1000))
    assert len(forged) < 1100
    for call in (decode, decode_preview):
        with pytest.raises(LimitExceededError, match="65535"):
            call(forged)
    assert inspect(forged).width == 65535  # inspect describes; it decodes nothing


def test_limits(small_photo):
    with pytest.raises(LimitExceededError):
        encode(small_photo, limits=Limits(max_pixels=120 * 160 - 1))
    payload = encode(small_photo, limits=Limits(max_pixels=120 * 160))
    with pytest.raises(LimitExceededError):
        encode(small_photo, limits=Limits(max_payload_bytes=len(payload) - 1))
    with pytest.raises(LimitExceededError):
        encode(small_photo, limits=Limits(max_inner_bytes=50))
    with pytest.raises(LimitExceededError):
        decode(payload, model="bicubic", limits=Limits(max_pixels=1000))
    with pytest.raises(LimitExceededError):
        inspect(payload, limits=Limits(max_payload_bytes=100))
    with pytest.raises(ValueError):
        Limits(max_pixels=0)


BAD_IMAGES = [
    b"",
    b"not an image at all",
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
    np.zeros((0, 5, 3), np.uint8),
    np.zeros((4, 4, 3), np.float32),
    np.zeros((4, 4, 3), np.int64),
    np.zeros((4, 4, 5), np.uint8),
    np.zeros((4, 4, 4, 4), np.uint8),
    "/definitely/not/here.png",
    12345,
    None,
    [[1, 2], [3, 4]],
]


@pytest.mark.parametrize("bad", BAD_IMAGES, ids=lambda b: type(b).__name__ + str(getattr(b, "shape", ""))[:20])
def test_bad_images_raise_input_image_error(bad):
    with pytest.raises(InputImageError):
        encode(bad)


def test_directory_and_truncated_file(tmp_path, small_photo):
    with pytest.raises(InputImageError):
        encode(tmp_path)
    buf = io.BytesIO()
    Image.fromarray(small_photo).save(buf, "JPEG")
    with pytest.raises(InputImageError):
        encode(buf.getvalue()[: len(buf.getvalue()) // 2])


@pytest.mark.parametrize(
    "kwargs",
    [{"scale": 0}, {"scale": 17}, {"scale": 2.0}, {"scale": True}, {"scale": "4"},
     {"quality": -1}, {"quality": 101}, {"quality": 50.5}, {"inner": "gif"}, {"inner": 3}],
)
def test_bad_arguments(small_photo, kwargs):
    with pytest.raises(InputImageError):
        encode(small_photo, **kwargs)


@pytest.mark.parametrize("bad", [b"", b"\x01", b"\x01" * 30, "a string", None, 42, bytes(range(256))])
def test_bad_payloads_raise_payload_error(bad):
    for call in (decode, decode_preview, inspect):
        with pytest.raises(PayloadError):
            call(bad)


def test_no_foreign_exception_escapes_on_damaged_payloads(small_photo):
    """Corrupt the inner bitstream but re-seal the checksum: the inner codec must fail inside sr_codec."""
    p = unpack(encode(small_photo))
    rng = np.random.default_rng(3)
    for _ in range(40):
        inner = bytearray(p.bitstream)
        for i in rng.integers(0, len(inner), 4):
            inner[i] = rng.integers(0, 256)
        forged = pack(Payload(p.width, p.height, p.scale, p.codec_id, p.model_tag, bytes(inner)))
        try:
            out = decode(forged, model="bicubic")
        except SrCodecError:
            continue
        assert out.shape == small_photo.shape  # a corrupt-but-decodable AV1 frame still has the right size


def test_codec_and_upscaler_failures_are_wrapped(monkeypatch, small_photo):
    wide = np.zeros((2, 20000, 4), np.uint8)
    wide[0, 0, 3] = 7  # not constant: the alpha plane falls back to PNG beyond WebP's 16383 px
    with pytest.raises(InputImageError, match="webp") as caught:
        encode(wide, scale=1, inner="webp")
    assert caught.value.__cause__ is not None
    assert np.array_equal(decode(encode(wide, scale=1, inner="png")), wide)

    def broken_upscale(*args, **kwargs):
        raise RuntimeError("device lost")

    monkeypatch.setattr(sys.modules["sr_codec.receiver.upscale"], "upscale", broken_upscale)
    with pytest.raises(ModelError, match="device lost") as caught:
        decode(encode(small_photo), model="bicubic")
    assert isinstance(caught.value.__cause__, RuntimeError)


def test_encode_decode_preview_inspect_never_import_tensorflow():
    code = """
import sys
import numpy as np
import sr_codec
assert "tensorflow" not in sys.modules, "import sr_codec"
img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
payload = sr_codec.encode(img)
assert "tensorflow" not in sys.modules, "encode"
sr_codec.decode_preview(payload)
assert "tensorflow" not in sys.modules, "decode_preview"
sr_codec.inspect(payload)
assert "tensorflow" not in sys.modules, "inspect"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
