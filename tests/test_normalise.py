"""load_image: every accepted input becomes private, upright, metadata-free 8-bit sRGB pixels.

All test images are made here (Pillow, or a few bytes of hand-written PNG/ICC where Pillow
cannot write what we need: 16-bit RGB PNGs, decompression-bomb headers, non-sRGB profiles).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageFile

from sr_codec.errors import InputImageError, LimitExceededError
from sr_codec.imaging.normalise import NormalisedImage, load_image

RNG = np.random.default_rng(1234)


# --- image makers -------------------------------------------------------------------------


def encode(image: np.ndarray | Image.Image, fmt: str, **options) -> bytes:
    im = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def smooth_rgb(h: int, w: int) -> np.ndarray:
    """A gradient image: lossy codecs reproduce it closely."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack(
        [40 + 170 * x / max(w - 1, 1), 60 + 150 * y / max(h - 1, 1), 120 + 60 * np.sin(x / 7.0)], axis=-1
    ).round().astype(np.uint8)


def asymmetric_rgb() -> np.ndarray:
    """4 x 6, every pixel different: any flip or rotation shows."""
    return (np.arange(4 * 6 * 3).reshape(4, 6, 3) * 3).astype(np.uint8)


def blocky_rgb() -> np.ndarray:
    """16 x 32 with four flat 8 x 16 quadrants of distinct colours (JPEG keeps them)."""
    img = np.zeros((16, 32, 3), np.uint8)
    img[:8, :16], img[:8, 16:] = (230, 30, 30), (30, 230, 30)
    img[8:, :16], img[8:, 16:] = (30, 30, 230), (230, 230, 30)
    return img


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_from_rows(width: int, height: int, bit_depth: int, colour_type: int, raw_rows: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw_rows))
        + png_chunk(b"IEND", b"")
    )


def png16(values: np.ndarray) -> bytes:
    """A 16-bit PNG (gray, gray+alpha, RGB or RGBA), which Pillow cannot write for colour."""
    h, w = values.shape[:2]
    channels = 1 if values.ndim == 2 else values.shape[2]
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    rows = values.astype(">u2").reshape(h, w * channels)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 per row
    return png_from_rows(w, h, 16, colour_type, raw)


def bomb_png(width: int = 65535, height: int = 65535) -> bytes:
    """A few hundred bytes declaring width x height RGB pixels."""
    return png_from_rows(width, height, 8, 2, b"\x00" * 1000)


SRGB_COLORANTS_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
ADOBE_COLORANTS_D50 = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


def icc_rgb_profile(gamma: float, colorants, description: str) -> bytes:
    """A minimal ICC v2 RGB matrix/TRC display profile (ImageCms can only create sRGB, Lab, XYZ)."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    text = description.encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * (8 + 3 + 67)
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256))
    tags = [
        (b"desc", desc),
        (b"cprt", b"text\0\0\0\0none\0"),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(colorants[0])),
        (b"gXYZ", xyz(colorants[1])),
        (b"bXYZ", xyz(colorants[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body)) + b"none" + struct.pack(">I", 0x02100000)
        + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4
        + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055) * 255


def expected_in_srgb(rgb: np.ndarray, gamma: float, colorants) -> np.ndarray:
    """What a matrix/TRC profile's pixels are in sRGB (same D50 PCS, relative colorimetric, clipped)."""
    to_xyz = np.array(colorants, dtype=np.float64).T
    srgb_to_xyz = np.array(SRGB_COLORANTS_D50, dtype=np.float64).T
    linear = (rgb.astype(np.float64) / 255) ** gamma
    srgb_linear = linear @ (np.linalg.inv(srgb_to_xyz) @ to_xyz).T
    return srgb_encode(srgb_linear)


def assert_close(actual: np.ndarray, expected: np.ndarray, tol: float) -> None:
    diff = np.abs(actual.astype(np.float64) - np.asarray(expected, dtype=np.float64))
    assert diff.max() <= tol, f"max abs difference {diff.max()} > {tol}"


# --- NormalisedImage ----------------------------------------------------------------------


def test_normalised_image_holds_only_pixels():
    out = load_image(asymmetric_rgb())
    # pixels, plus the frame count of the source (a number, no metadata): encode warns when frames are dropped
    assert [f.name for f in dataclasses.fields(NormalisedImage)] == ["rgb", "alpha", "frames"]
    assert (out.height, out.width, out.frames) == (4, 6, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.rgb = out.rgb  # type: ignore[misc]


@pytest.mark.parametrize(
    "rgb, alpha",
    [
        (np.zeros((4, 5, 3), np.float32), None),
        (np.zeros((4, 5), np.uint8), None),
        (np.zeros((4, 10, 3), np.uint8)[:, ::2], None),
        (np.zeros((4, 5, 3), np.uint8), np.zeros((5, 4), np.uint8)),
    ],
)
def test_normalised_image_rejects_malformed_fields(rgb, alpha):
    with pytest.raises(InputImageError):
        NormalisedImage(rgb, alpha)


# --- numpy arrays -------------------------------------------------------------------------


def test_array_shapes():
    gray = RNG.integers(0, 256, (7, 13), dtype=np.uint8)
    rgb = RNG.integers(0, 256, (7, 13, 3), dtype=np.uint8)
    rgba = RNG.integers(0, 256, (7, 13, 4), dtype=np.uint8)

    for image in (gray, gray[..., None]):
        out = load_image(image)
        assert np.array_equal(out.rgb, np.repeat(gray[..., None], 3, axis=2)) and out.alpha is None
    out = load_image(rgb)
    assert np.array_equal(out.rgb, rgb) and out.alpha is None
    out = load_image(rgba)
    assert np.array_equal(out.rgb, rgba[..., :3]) and np.array_equal(out.alpha, rgba[..., 3])
    for out in (load_image(rgba), load_image(gray)):
        assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous and out.rgb.shape == (7, 13, 3)


@pytest.mark.parametrize("dtype", ["<u2", ">u2"])
def test_uint16_arrays_round_to_8_bit(dtype):
    values = np.array([[0, 128, 129, 257, 257 * 100, 257 * 100 + 128, 257 * 100 + 129, 65535]], dtype=dtype)
    out = load_image(values)
    assert out.rgb[0, :, 0].tolist() == [0, 0, 1, 1, 100, 100, 101, 255]
    assert np.array_equal(out.rgb[..., 0], out.rgb[..., 2])


def test_bool_array_is_black_and_white():
    mask = np.array([[True, False, True]])
    assert load_image(mask).rgb[0, :, 1].tolist() == [255, 0, 255]


def test_array_output_is_a_private_copy_and_input_is_untouched():
    base = RNG.integers(0, 256, (9, 22, 4), dtype=np.uint8)
    view = base[:, ::-2]  # non-contiguous, negative strides
    view.flags.writeable = False
    before = base.copy()
    out = load_image(view)
    assert np.array_equal(out.rgb, view[..., :3]) and np.array_equal(out.alpha, view[..., 3])
    assert not np.shares_memory(out.rgb, base) and not np.shares_memory(out.alpha, base)
    out.rgb[:] = 0
    assert np.array_equal(base, before)

    rgb = RNG.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    out = load_image(rgb)
    assert not np.shares_memory(out.rgb, rgb)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 4, 3), np.float32),
        np.full((4, 4), np.nan),
        np.zeros((4, 4), np.float16),
        np.zeros((4, 4), np.int16),
        np.zeros((4, 4), np.int32),
        np.zeros((4, 4), np.int64),
        np.zeros((4, 4), np.uint32),
        np.zeros((4, 4), np.complex64),
        np.zeros((4, 4), object),
        np.zeros(16, np.uint8),
        np.zeros((2, 4, 4, 3), np.uint8),
        np.zeros((4, 4, 2), np.uint8),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros((0, 5), np.uint8),
        np.zeros((5, 0, 3), np.uint8),
        np.array(7, np.uint8),
    ],
    ids=lambda a: f"{a.dtype}{list(a.shape)}",
)
def test_rejected_arrays(array):
    with pytest.raises(InputImageError) as info:
        load_image(array)
    assert "\n" not in str(info.value)


def test_array_pixel_limit():
    image = np.zeros((100, 100, 3), np.uint8)
    assert load_image(image, max_pixels=10_000).width == 100
    with pytest.raises(LimitExceededError):
        load_image(image, max_pixels=9_999)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_max_pixels_must_be_a_positive_integer(bad):
    with pytest.raises(InputImageError):
        load_image(np.zeros((2, 2), np.uint8), max_pixels=bad)


@pytest.mark.parametrize("obj", [None, 3, 1.5, [[0, 255]], {"rgb": 1}, object()], ids=repr)
def test_rejected_objects(obj):
    with pytest.raises(InputImageError):
        load_image(obj)


# --- encoded bytes and files --------------------------------------------------------------

LOSSLESS = {"PNG": {}, "GIF": {}, "BMP": {}, "TIFF": {}, "WEBP": {"lossless": True}}
LOSSY = {"JPEG": {"quality": 95}, "AVIF": {"quality": 90}, "WEBP": {"quality": 95}}


@pytest.mark.parametrize("fmt", sorted(LOSSLESS))
@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_lossless_bytes_of_each_format(fmt, wrap):
    image = blocky_rgb()  # four colours: GIF's palette holds them exactly
    out = load_image(wrap(encode(image, fmt, **LOSSLESS[fmt])))
    assert np.array_equal(out.rgb, image)


@pytest.mark.parametrize("fmt", sorted(LOSSY))
def test_lossy_bytes_of_each_format(fmt):
    image = smooth_rgb(32, 48)
    out = load_image(encode(image, fmt, **LOSSY[fmt]))
    assert out.rgb.shape == image.shape and out.alpha is None
    assert np.abs(out.rgb.astype(int) - image).mean() < 4


def test_alpha_survives_in_webp_avif_and_tiff():
    rgba = np.dstack([smooth_rgb(16, 24), np.tile(np.linspace(0, 255, 24).astype(np.uint8), (16, 1))])
    for fmt, options in [("WEBP", {"lossless": True}), ("TIFF", {}), ("AVIF", {"quality": 90})]:
        out = load_image(encode(rgba, fmt, **options))
        assert out.alpha is not None, fmt
        assert np.abs(out.alpha.astype(int) - rgba[..., 3]).max() <= 8, fmt


def test_opaque_rgba_still_has_alpha():
    rgba = np.dstack([blocky_rgb(), np.full((16, 32), 255, np.uint8)])
    out = load_image(encode(rgba, "PNG"))
    assert out.alpha is not None and (out.alpha == 255).all()


def test_path_inputs(tmp_path):
    image = asymmetric_rgb()
    path = tmp_path / "picture.png"
    path.write_bytes(encode(image, "PNG"))

    class CustomPath:
        def __fspath__(self) -> str:
            return str(path)

    for ref in (str(path), path, CustomPath()):
        assert np.array_equal(load_image(ref).rgb, image)


def test_caller_file_is_untouched(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    path.write_bytes(encode(blocky_rgb(), "JPEG", quality=90, exif=exif))
    digest, mtime = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns
    assert load_image(path).rgb.shape == (32, 16, 3)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest and path.stat().st_mtime_ns == mtime


def test_missing_directory_and_empty_paths(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    for ref, words in [
        (tmp_path / "absent.png", "not found"),
        (str(tmp_path), "directory"),
        (tmp_path / "empty.png", "empty"),
        ("", "not found"),
        ("bad\0name.png", "cannot be accessed"),
    ]:
        with pytest.raises(InputImageError, match=words):
            load_image(ref)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX fifos")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(InputImageError, match="regular file"):
        load_image(fifo)


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
        truncated(encode(smooth_rgb(64, 64), "PNG")),
        truncated(encode(smooth_rgb(64, 64), "JPEG", quality=90)),
        truncated(encode(smooth_rgb(64, 64), "WEBP", quality=90)),
        truncated(encode(smooth_rgb(64, 64), "TIFF")),
        encode(blocky_rgb(), "PPM"),  # a real image, but not a format we accept
        encode(blocky_rgb(), "ICO"),
    ],
    ids=["empty", "garbage", "png-signature", "png-cut", "jpeg-cut", "webp-cut", "tiff-cut", "ppm", "ico"],
)
def test_unreadable_bytes_and_files_are_rejected(tmp_path, data):
    for source in (data, tmp_path / "input.img"):
        if isinstance(source, Path):
            source.write_bytes(data)
        with pytest.raises(InputImageError) as info:
            load_image(source)
        assert not isinstance(info.value, OSError) and "\n" not in str(info.value)


# --- orientation and metadata -------------------------------------------------------------

ROTATIONS = {3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1)}


@pytest.mark.parametrize("orientation", sorted(ROTATIONS))
def test_exif_orientation_is_applied(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    image = asymmetric_rgb()
    png = load_image(encode(image, "PNG", exif=exif))
    assert np.array_equal(png.rgb, ROTATIONS[orientation](image))

    tiff = load_image(encode(image, "TIFF", tiffinfo={0x0112: orientation}))
    assert np.array_equal(tiff.rgb, ROTATIONS[orientation](image))

    blocks = blocky_rgb()
    jpeg = load_image(encode(blocks, "JPEG", quality=95, subsampling=0, exif=exif))
    assert_close(jpeg.rgb, ROTATIONS[orientation](blocks), tol=8)  # flat 8 x 8-aligned blocks


def test_pil_image_orientation_and_the_callers_image_is_untouched():
    rgba = np.dstack([asymmetric_rgb(), np.arange(24, dtype=np.uint8).reshape(4, 6) * 10])
    im = Image.fromarray(rgba)
    exif = im.getexif()
    exif[0x0112] = 8
    im.info["exif"] = exif.tobytes()
    before = (im.mode, im.size, im.tobytes(), dict(im.info))
    out = load_image(im)
    assert np.array_equal(out.rgb, np.rot90(rgba[..., :3], 1)) and np.array_equal(out.alpha, np.rot90(rgba[..., 3], 1))
    assert (im.mode, im.size, im.tobytes(), dict(im.info)) == before
    assert im.getexif()[0x0112] == 8


def test_gps_exif_xmp_and_comments_are_dropped():
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 5.5), 3: "E", 4: (4.0, 53.0, 10.25)})
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret>SecretXmpPayload</secret></x:xmpmeta>'
    image = smooth_rgb(24, 40)
    tagged = encode(image, "JPEG", quality=90, exif=exif, comment=b"SecretComment", xmp=xmp)
    plain = encode(image, "JPEG", quality=90)

    with Image.open(io.BytesIO(tagged)) as im:  # the input really carries the metadata
        assert im.getexif().get_ifd(0x8825)[2] == (52.0, 22.0, 5.5)
        assert im.info["comment"] == b"SecretComment" and b"SecretXmpPayload" in im.info["xmp"]

    out = load_image(tagged)
    assert np.array_equal(out.rgb, load_image(plain).rgb)  # same pixels as the untagged file
    assert set(vars(out)) == {"rgb", "alpha", "frames"} and out.alpha is None and out.frames == 1
    assert out.rgb.base is None or isinstance(out.rgb.base, np.ndarray)
    blob = pickle.dumps(out)
    for secret in (b"SecretCameraMaker", b"SecretComment", b"SecretXmpPayload", b"GPS"):
        assert secret not in blob


# --- colour management --------------------------------------------------------------------


def colour_probe() -> np.ndarray:
    levels = np.array([0, 30, 70, 128, 190, 255], np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(12, 18, 3)
    return np.ascontiguousarray(cube)


@pytest.mark.parametrize(
    "gamma, colorants",
    [(1.0, SRGB_COLORANTS_D50), (2.2, ADOBE_COLORANTS_D50)],
    ids=["linear-srgb-primaries", "adobe-rgb-like"],
)
def test_icc_profile_is_converted_to_srgb(gamma, colorants):
    icc = icc_rgb_profile(gamma, colorants, "Test profile")
    image = colour_probe()
    out = load_image(encode(image, "PNG", icc_profile=icc))
    expected = expected_in_srgb(image, gamma, colorants)
    assert_close(out.rgb, expected, tol=2.5)
    assert np.abs(out.rgb.astype(int) - image).max() > 30  # the conversion did something


def test_icc_profile_with_alpha_keeps_alpha():
    icc = icc_rgb_profile(1.0, SRGB_COLORANTS_D50, "Linear")
    rgba = np.dstack([colour_probe(), RNG.integers(0, 256, (12, 18), dtype=np.uint8)])
    out = load_image(encode(rgba, "PNG", icc_profile=icc))
    assert np.array_equal(out.alpha, rgba[..., 3])
    assert_close(out.rgb, expected_in_srgb(rgba[..., :3], 1.0, SRGB_COLORANTS_D50), tol=2.5)


def test_srgb_tagged_image_is_unchanged():
    image = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    builtin = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    handmade = icc_rgb_profile(2.2, SRGB_COLORANTS_D50, "sRGB-ish, gamma 2.2")
    assert np.array_equal(load_image(encode(image, "PNG", icc_profile=builtin)).rgb, image)
    # the description does not matter, the colours do: gamma 2.2 is not sRGB's curve
    assert not np.array_equal(load_image(encode(image, "PNG", icc_profile=handmade)).rgb, image)


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_unusable_icc_profile_is_ignored(mode):
    image = Image.fromarray(blocky_rgb()).convert(mode)
    rgb_profile = icc_rgb_profile(1.0, SRGB_COLORANTS_D50, "RGB profile")
    for icc in (b"not a profile at all", rgb_profile if mode == "L" else rgb_profile[:100]):
        out = load_image(encode(image, "PNG", icc_profile=icc))
        assert np.array_equal(out.rgb, np.asarray(image.convert("RGB")))


def test_lab_tiff_round_trips_to_the_original_colours():
    levels = np.array([50, 100, 150, 200], np.uint8)  # inside the gamut: 8-bit Lab is coarse at its edges
    image = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(8, 8, 3)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    lab = ImageCms.applyTransform(Image.fromarray(image), to_lab)
    assert lab.mode == "LAB"
    out = load_image(encode(lab, "TIFF"))
    assert np.abs(np.asarray(lab, dtype=int) - image).mean() > 30  # the file really holds Lab numbers
    assert_close(out.rgb, image, tol=14)  # 8-bit Lab quantisation
    assert np.abs(out.rgb.astype(int) - image).mean() < 2


def test_cmyk_jpeg_adobe_inverted():
    cmyk = np.zeros((16, 48, 4), np.uint8)
    cmyk[:, 16:32, 0] = 255  # cyan
    cmyk[:, 32:, 3] = 255  # black; the first 16 columns are paper white
    data = encode(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    assert b"Adobe" in data  # Pillow writes inverted Adobe CMYK
    out = load_image(data)
    assert out.rgb.shape == (16, 48, 3)
    assert_close(out.rgb[:, 2:14], (255, 255, 255), tol=6)
    assert_close(out.rgb[:, 18:30], (0, 255, 255), tol=6)
    assert_close(out.rgb[:, 34:46], (0, 0, 0), tol=6)


# --- pixel formats ------------------------------------------------------------------------


def test_16_bit_gray_png():
    values = RNG.integers(0, 65536, (7, 13), dtype=np.uint16)
    values[0, :4] = [0, 128, 129, 65535]
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    out = load_image(data)
    expected = (values.astype(np.uint32) + 128) // 257
    assert np.array_equal(out.rgb, np.repeat(expected[..., None], 3, axis=2).astype(np.uint8))
    assert load_image(png16(values)).rgb.tolist() == out.rgb.tolist()
    assert out.alpha is None

    keyed = load_image(encode(Image.fromarray(values), "PNG", transparency=int(values[3, 5])))
    assert np.array_equal(keyed.alpha, np.where(values == values[3, 5], 0, 255))


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_16_bit_colour_png(channels):
    values = RNG.integers(0, 65536, (5, 9, channels), dtype=np.uint16)
    values[0, 0] = 257 * 77  # exact multiples of 257 stay exact
    out = load_image(png16(values))
    rounded = ((values.astype(np.uint32) + 128) // 257).astype(int)
    colour = np.repeat(rounded[..., :1], 3, axis=2) if channels == 2 else rounded[..., :3]
    assert_close(out.rgb, colour, tol=1)  # Pillow keeps the high byte of 16-bit colour
    assert out.rgb[0, 0].tolist() == [77, 77, 77]
    if channels == 3:
        assert out.alpha is None
    else:
        assert out.alpha is not None and np.abs(out.alpha.astype(int) - rounded[..., -1]).max() <= 1


def test_32_bit_integer_and_float_tiffs():
    ints = np.array([[-5, 0, 257, 32768, 65535, 100_000]], np.int32)
    assert load_image(encode(Image.fromarray(ints), "TIFF")).rgb[0, :, 0].tolist() == [0, 0, 1, 128, 255, 255]

    unit = np.array([[0.0, 0.25, 0.5, 1.0]], np.float32)
    assert load_image(encode(Image.fromarray(unit), "TIFF")).rgb[0, :, 0].tolist() == [0, 64, 128, 255]
    eight_bit = np.array([[0.0, 2.0, 127.6, 300.0]], np.float32)
    assert load_image(encode(Image.fromarray(eight_bit), "TIFF")).rgb[0, :, 0].tolist() == [0, 2, 128, 255]

    with pytest.raises(InputImageError, match="NaN"):
        load_image(encode(Image.fromarray(np.array([[0.5, np.nan]], np.float32)), "TIFF"))


def test_palette_png_and_gif_with_transparency():
    indices = np.array([[0, 1, 2, 1], [2, 0, 1, 2]], np.uint8)
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3)
    im = Image.fromarray(indices, "P")
    im.putpalette(palette)
    colours = np.array(palette[:9], np.uint8).reshape(3, 3)
    for fmt in ("PNG", "GIF"):
        out = load_image(encode(im, fmt, transparency=1))
        assert np.array_equal(out.alpha, np.where(indices == 1, 0, 255)), fmt
        opaque = indices != 1
        assert np.array_equal(out.rgb[opaque], colours[indices[opaque]]), fmt

    out = load_image(encode(im, "PNG"))  # no transparency: no alpha
    assert out.alpha is None and np.array_equal(out.rgb, colours[indices])


def test_la_png():
    la = np.dstack([RNG.integers(0, 256, (6, 7), dtype=np.uint8), RNG.integers(0, 256, (6, 7), dtype=np.uint8)])
    out = load_image(encode(Image.fromarray(la, "LA"), "PNG"))
    assert np.array_equal(out.rgb, np.repeat(la[..., :1], 3, axis=2)) and np.array_equal(out.alpha, la[..., 1])


def test_colour_key_transparency_becomes_alpha():
    rgb = blocky_rgb()
    out = load_image(encode(rgb, "PNG", transparency=(230, 30, 30)))
    assert np.array_equal(out.alpha, np.where((rgb == (230, 30, 30)).all(axis=2), 0, 255))


COLOUR_MODES = ["P", "PA", "RGBX", "RGBa", "YCbCr", "HSV", "CMYK"]
GRAY_MODES = ["1", "L", "LA", "La", "I;16B"]


def pil_image_in(mode: str) -> Image.Image:
    rgb = Image.fromarray(smooth_rgb(8, 12))
    if mode == "I;16B":
        return Image.frombytes(mode, rgb.size, (np.asarray(rgb.convert("L")).astype(">u2") * 257).tobytes())
    if mode == "La":
        return rgb.convert("LA").convert("La")
    if mode in ("P", "PA"):  # fewer than 256 colours: an adaptive palette holds them exactly
        return rgb.convert("P", palette=Image.Palette.ADAPTIVE).convert(mode)
    return rgb.convert(mode)


@pytest.mark.parametrize("mode", COLOUR_MODES + GRAY_MODES)
def test_pil_modes(mode):
    im = pil_image_in(mode)
    assert im.mode == mode
    out = load_image(im)
    assert out.rgb.shape == (8, 12, 3)
    assert (out.alpha is not None) == (mode in ("PA", "LA", "La", "RGBa"))
    if mode in COLOUR_MODES:
        assert_close(out.rgb, smooth_rgb(8, 12), tol=3)
    else:
        gray = np.asarray(Image.fromarray(smooth_rgb(8, 12)).convert("L"))
        if mode == "1":  # dithered to black and white
            assert set(np.unique(out.rgb)) <= {0, 255}
        else:
            assert np.array_equal(out.rgb, np.repeat(gray[..., None], 3, axis=2))


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])
def test_animated_files_give_the_first_frame(fmt):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    frames = [Image.new("RGB", (10, 6), c) for c in colours]
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    with Image.open(io.BytesIO(data)) as im:
        assert getattr(im, "n_frames", 1) == 3
    out = load_image(data)
    assert out.rgb.shape == (6, 10, 3)
    assert_close(out.rgb, colours[0], tol=2)


@pytest.mark.parametrize("size", [(1, 1), (7, 13), (1, 5000), (5000, 1)])
def test_odd_sizes(size):
    image = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
    assert np.array_equal(load_image(image).rgb, image)
    assert np.array_equal(load_image(encode(image, "PNG")).rgb, image)
    jpeg = load_image(encode(image, "JPEG", quality=90))
    assert jpeg.rgb.shape == image.shape


# --- limits -------------------------------------------------------------------------------


@pytest.fixture
def no_decoding(monkeypatch):
    """Fails the test if Pillow decodes a file's pixels."""
    calls = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    return calls


@pytest.mark.parametrize("pillow_guard", [True, False], ids=["pillow-guard-on", "pillow-guard-off"])
def test_bomb_png_is_rejected_from_its_header(tmp_path, monkeypatch, no_decoding, pillow_guard):
    if not pillow_guard:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = bomb_png()
    assert len(data) < 1000
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    for source in (data, path):
        with pytest.raises(LimitExceededError):
            load_image(source)
    assert no_decoding == []


def test_bomb_jpeg_and_lazy_pil_image_are_rejected(monkeypatch, no_decoding):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # only our own check is left
    jpeg = bytearray(encode(blocky_rgb(), "JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 60000, 60000)  # height, width
    with pytest.raises(LimitExceededError, match="60000 x 60000"):
        load_image(bytes(jpeg))

    lazy = Image.open(io.BytesIO(bomb_png(20000, 20000)))  # header parsed, nothing decoded
    with pytest.raises(LimitExceededError):
        load_image(lazy)
    assert no_decoding == []


def test_max_pixels_applies_to_encoded_inputs():
    data = encode(blocky_rgb(), "PNG")  # 16 x 32 = 512 pixels
    assert load_image(data, max_pixels=512).width == 32
    with pytest.raises(LimitExceededError):
        load_image(data, max_pixels=511)


def test_pillow_decompression_bomb_error_is_converted(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above 200 pixels
    with pytest.raises(LimitExceededError) as info:
        load_image(encode(blocky_rgb(), "PNG"))
    assert isinstance(info.value.__cause__, Image.DecompressionBombError)


def test_pillow_bomb_warning_raised_as_error_is_converted(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # the 512-pixel image only triggers the warning
    data = encode(blocky_rgb(), "PNG")
    with pytest.warns(Image.DecompressionBombWarning):
        assert load_image(data).width == 32
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(LimitExceededError):
            load_image(data)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the tags it skips
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"])
def test_corrupted_files_raise_only_sr_codec_errors(fmt):
    rng = np.random.default_rng(7)
    data = encode(smooth_rgb(16, 24), fmt)
    for _ in range(25):
        corrupt = bytearray(data)
        for position in rng.integers(0, len(corrupt), size=4):
            corrupt[position] = rng.integers(0, 256)
        try:
            out = load_image(bytes(corrupt[: rng.integers(len(corrupt) // 2, len(corrupt) + 1)]))
        except (InputImageError, LimitExceededError):
            continue
        assert out.rgb.dtype == np.uint8 and out.rgb.ndim == 3  # damage in a harmless spot


# --- optional HEIC ------------------------------------------------------------------------


def test_heic_bytes_when_pillow_heif_is_installed():
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    image = smooth_rgb(32, 48)
    out = load_image(encode(image, "HEIF", quality=95))
    assert out.rgb.shape == image.shape
    assert np.abs(out.rgb.astype(int) - image).mean() < 4
