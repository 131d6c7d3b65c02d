"""Input normalisation: whatever the caller hands the encoder becomes plain 8-bit sRGB pixels.

:func:`load_image` accepts a path, encoded file bytes, a ``PIL.Image.Image`` or a numpy
array and returns a :class:`NormalisedImage`: a private uint8 H x W x 3 sRGB array plus an
optional uint8 H x W alpha plane. Nothing else survives: EXIF (GPS included), XMP, ICC,
comments and every other piece of metadata are dropped, after the two that change how the
pixels look have been applied:

* the EXIF orientation (``PIL.ImageOps.exif_transpose``), so the pixels are upright;
* the embedded ICC profile, converted to sRGB with LittleCMS (perceptual intent, which
  LittleCMS turns into relative colorimetric for matrix-shaper profiles). Untagged images
  are taken to be sRGB already; a profile equivalent to sRGB (within one level on a probe
  set of colours) leaves the pixels untouched; an unreadable profile, or one that does not
  match the pixel mode, is ignored rather than rejecting a picture that decodes fine.

Pixel formats (Pillow modes) become 8-bit RGB(A):

* 16-bit data is rounded to 8 bits as ``round(v / 257)`` (uint16 arrays and Pillow's
  ``I;16*`` modes). 16-bit RGB(A) PNG/TIFF files are delivered by Pillow already reduced to
  8 bits (it keeps the high byte, at most one level away from the rounded value).
* ``I`` (32-bit integer) is read as 16-bit data (the range 16-bit PNG/TIFF files land in):
  values are clipped to 0..65535, then rounded as above.
* ``F`` (32-bit float) is read as 0..1 when every value is within [0, 1] (the convention of
  float image files), as 0..255 otherwise (Pillow's convention); then clipped and rounded.
  NaN or infinite values are rejected.
* palette (``P``/``PA``), ``1``, ``L``, ``LA``, ``CMYK`` (Adobe inverted JPEGs are undone by
  Pillow; a CMYK ICC profile is honoured), ``YCbCr``, ``HSV`` and ``LAB`` (via LittleCMS'
  Lab profile) become RGB. Transparency of any kind (alpha channel, palette transparency,
  ``tRNS`` colour key) becomes the alpha plane.

Animated files (GIF, WebP, APNG, AVIF) and multi-page TIFFs give their first frame; a PIL
image handed in gives its current frame (we never seek the caller's image). The frame count is
kept in :attr:`NormalisedImage.frames`, and ``encode`` warns (:class:`~sr_codec.errors.AnimatedImageWarning`)
when it drops frames: a payload holds one still image.

Decompression bombs: the size declared by the file header is checked against
``max_pixels`` right after ``Image.open`` (which parses the header only) and before a single
pixel is decoded. Pillow's own guard (``Image.MAX_IMAGE_PIXELS``) stays active as a second
line: when it fires first its ``DecompressionBombError`` becomes :class:`LimitExceededError`
too, so a ``max_pixels`` above ``2 * Image.MAX_IMAGE_PIXELS`` (about 179 MP) has no effect on
files unless the caller relaxes Pillow's limit.

Encoded inputs are restricted to JPEG (MPO camera JPEGs included: Pillow opens them through
its JPEG plugin), PNG, WebP, AVIF, GIF, BMP and TIFF, plus HEIC/HEIF when ``pillow-heif`` is
installed (its opener is registered on first use): the other Pillow plugins (EPS, which runs
Ghostscript, among them) are never tried on untrusted bytes.
"""

from __future__ import annotations

import importlib
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Union

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, UnidentifiedImageError

from ..errors import InputImageError, LimitExceededError, SrCodecError

DEFAULT_MAX_PIXELS = 50_000_000

ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, Image.Image, np.ndarray]

_ENCODED_FORMATS = ("JPEG", "PNG", "WEBP", "AVIF", "GIF", "BMP", "TIFF")
_PLUGIN_MODULES = (
    "JpegImagePlugin", "PngImagePlugin", "WebPImagePlugin", "AvifImagePlugin",
    "GifImagePlugin", "BmpImagePlugin", "TiffImagePlugin",
)
_WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_GRAY_MODES = ("1", "L", "LA", "La", *_WIDE_GRAY_MODES)


@dataclass(frozen=True, eq=False)
class NormalisedImage:
    """Upright sRGB pixels and nothing else.

    ``rgb`` is a uint8 H x W x 3 C-contiguous array owned by this object (never a view of the
    caller's data); ``alpha`` is a uint8 H x W array when the input had an alpha channel or
    any transparency (even if every pixel is opaque), else ``None``.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    frames: int = 1
    """Frames (or pages) the source had; only the first is kept (``encode`` warns when this is above 1)."""

    def __post_init__(self) -> None:
        rgb = self.rgb
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
            raise InputImageError(f"NormalisedImage.rgb must be a uint8 H x W x 3 array, got {_describe_array(rgb)}")
        if not rgb.flags.c_contiguous:
            raise InputImageError("NormalisedImage.rgb must be C-contiguous")
        alpha = self.alpha
        if alpha is not None and not (
            isinstance(alpha, np.ndarray) and alpha.dtype == np.uint8 and alpha.shape == rgb.shape[:2]
        ):
            raise InputImageError(
                f"NormalisedImage.alpha must be None or a uint8 {rgb.shape[0]} x {rgb.shape[1]} array, "
                f"got {_describe_array(alpha)}"
            )

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def load_image(image: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> NormalisedImage:
    """Decode/convert ``image`` into upright 8-bit sRGB pixels (see the module docstring).

    ``image``: a path (str or os.PathLike), encoded file bytes (bytes, bytearray,
    memoryview), a ``PIL.Image.Image``, or a uint8/uint16/bool numpy array shaped H x W,
    H x W x 1, H x W x 3 (RGB) or H x W x 4 (RGBA). The caller's object is never modified.

    Raises :class:`InputImageError` for anything that is not a readable image and
    :class:`LimitExceededError` when the image has more than ``max_pixels`` pixels (checked
    on the declared size, before decoding).
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise InputImageError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    max_pixels = int(max_pixels)
    if isinstance(image, np.ndarray):
        return _from_array(image, max_pixels)
    if isinstance(image, Image.Image):
        with _foreign_errors("PIL image"):
            return _from_pil(image, max_pixels, "PIL image")
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _from_bytes(image, max_pixels)
    if isinstance(image, (str, os.PathLike)):
        return _from_path(image, max_pixels)
    raise InputImageError(
        f"unsupported image object of type {type(image).__name__}: expected a path, encoded image bytes, "
        "a PIL image or a uint8 numpy array"
    )


# --- numpy arrays -------------------------------------------------------------------------


def _from_array(array: np.ndarray, max_pixels: int) -> NormalisedImage:
    shape = array.shape
    if array.ndim not in (2, 3) or (array.ndim == 3 and shape[2] not in (1, 3, 4)):
        raise InputImageError(f"image array must be H x W, H x W x 1, H x W x 3 or H x W x 4; got shape {shape}")
    if array.size == 0:
        raise InputImageError(f"image array is empty (shape {shape})")
    dtype = array.dtype
    if dtype.kind == "f":
        raise InputImageError(f"float image arrays are not accepted (dtype {dtype}): convert to uint8 0..255 first")
    if not (dtype == np.bool_ or (dtype.kind == "u" and dtype.itemsize in (1, 2))):
        raise InputImageError(f"unsupported image array dtype {dtype}: expected uint8, uint16 or bool")
    _check_pixels(shape[1], shape[0], max_pixels, "image array")

    if dtype == np.bool_:
        pixels = np.where(array, np.uint8(255), np.uint8(0))  # a new array
    elif dtype.itemsize == 2:
        pixels = _uint16_to_uint8(array)  # a new array
    else:
        pixels = np.array(array, dtype=np.uint8, order="C", copy=True)  # never a view of the caller's data

    if pixels.ndim == 2 or pixels.shape[2] == 1:
        gray = pixels.reshape(shape[0], shape[1], 1)
        return NormalisedImage(np.repeat(gray, 3, axis=2))
    if pixels.shape[2] == 3:
        return NormalisedImage(np.ascontiguousarray(pixels))
    return NormalisedImage(np.ascontiguousarray(pixels[..., :3]), np.ascontiguousarray(pixels[..., 3]))


def _uint16_to_uint8(values: np.ndarray) -> np.ndarray:
    """round(v / 257) for 0..65535 (exact for the multiples of 257 that 8-bit data scales to)."""
    wide = np.clip(values, 0, 65535).astype(np.uint32)
    return ((wide + 128) // 257).astype(np.uint8)


# --- encoded inputs -----------------------------------------------------------------------


def _from_path(path: str | os.PathLike, max_pixels: int) -> NormalisedImage:
    try:
        name = os.fspath(path)
        info = os.stat(name)
    except FileNotFoundError as exc:
        raise InputImageError(f"image file not found: {_path_text(path)!r}") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise InputImageError(f"image file {_path_text(path)!r} cannot be accessed: {_one_line(exc)}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputImageError(f"{name!r} is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise InputImageError(f"{name!r} is not a regular file")
    if info.st_size == 0:
        raise InputImageError(f"image file {name!r} is empty")
    label = f"image file {name!r}"
    with _foreign_errors(label):
        with Image.open(name, formats=_encoded_formats()) as im:
            return _from_pil(im, max_pixels, label)


def _path_text(path: object) -> str:
    """The path as the user typed it ('photo.jpg', never PosixPath('photo.jpg'))."""
    try:
        return os.fsdecode(path)
    except TypeError:
        return str(path)


def _from_bytes(data: bytes | bytearray | memoryview, max_pixels: int) -> NormalisedImage:
    with _foreign_errors("image bytes"):
        # A private immutable copy: the caller may reuse its buffer while we decode.
        blob = data.tobytes() if isinstance(data, memoryview) else bytes(data)
    if not blob:
        raise InputImageError("image bytes are empty")
    with _foreign_errors("image bytes"):
        with Image.open(io.BytesIO(blob), formats=_encoded_formats()) as im:
            return _from_pil(im, max_pixels, "image bytes")


@lru_cache(maxsize=None)
def _heif_registered() -> bool:
    """Register pillow-heif's HEIC/HEIF opener on first use, when the package is installed."""
    try:
        import pillow_heif
    except Exception:  # absent, or present but broken (missing shared library)
        return False
    try:
        pillow_heif.register_heif_opener()
    except Exception:
        return False
    return True


def _encoded_formats() -> tuple[str, ...]:
    """Pillow format ids that load_image opens (Image.open fails on ids it does not know)."""
    _import_plugins()
    _heif_registered()
    return tuple(f for f in (*_ENCODED_FORMATS, "HEIF") if f in Image.OPEN)


@lru_cache(maxsize=None)
def _import_plugins() -> None:
    """Import just the Pillow plugins we accept (``Image.init()`` would import all ~45)."""
    for module in _PLUGIN_MODULES:
        try:
            importlib.import_module(f"PIL.{module}")
        except ImportError:  # e.g. a Pillow built without AVIF: that format is simply not offered
            pass


# --- PIL images ---------------------------------------------------------------------------


def _from_pil(im: Image.Image, max_pixels: int, label: str) -> NormalisedImage:
    """Pixels of ``im`` (whose header only may have been read) as a NormalisedImage."""
    _check_pixels(im.width, im.height, max_pixels, label)  # before any pixel is decoded
    im.load()  # truncated/corrupt data fails here, before the metadata is looked at
    upright = _upright(im)
    colour, alpha = _split_alpha(upright)
    rgb = _to_srgb(colour, upright.info.get("icc_profile"))
    frames = int(getattr(im, "n_frames", 1) or 1)
    return NormalisedImage(np.asarray(rgb).copy(), alpha, frames)  # asarray + copy: the fastest writeable copy


def _upright(im: Image.Image) -> Image.Image:
    """``im`` with its EXIF orientation applied: a new image when it needs turning (the
    caller's image is never changed), ``im`` itself when it is upright already."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation)
        if orientation not in (2, 3, 4, 5, 6, 7, 8):
            return im
        return ImageOps.exif_transpose(im)  # in_place=False: a transposed copy
    except Exception:  # malformed EXIF must not reject a picture whose pixels decode fine
        return im


def _split_alpha(im: Image.Image) -> tuple[Image.Image, np.ndarray | None]:
    """(colour image in mode L, RGB, CMYK or LAB; alpha plane or None)."""
    mode = im.mode
    if mode in _WIDE_GRAY_MODES:
        values = np.asarray(im)
        gray = Image.fromarray(_uint16_to_uint8(values), "L")
        key = im.info.get("transparency")
        alpha = np.where(values == key, np.uint8(0), np.uint8(255)) if isinstance(key, int) else None
        return gray, alpha
    if mode == "F":
        return Image.fromarray(_float_to_uint8(np.asarray(im)), "L"), None
    if im.has_transparency_data:
        with_alpha = im.convert("LA" if mode in _GRAY_MODES else "RGBA")
        alpha = np.array(with_alpha.getchannel("A"), dtype=np.uint8, order="C")
        return with_alpha.convert("L" if with_alpha.mode == "LA" else "RGB"), alpha
    if mode in ("L", "RGB", "CMYK", "LAB"):
        return im, None
    return im.convert("L" if mode == "1" else "RGB"), None


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise InputImageError("image has NaN or infinite float pixels")
    peak = 1.0 if values.min() >= 0.0 and values.max() <= 1.0 else 255.0
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / peak)), 0, 255).astype(np.uint8)


# --- colour management --------------------------------------------------------------------


def _to_srgb(colour: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB image in sRGB from a colour image in mode L, RGB, CMYK or LAB."""
    if colour.mode == "LAB":
        to_srgb = ImageCms.buildTransform(
            ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB", ImageCms.Intent.PERCEPTUAL
        )
        return ImageCms.applyTransform(colour, to_srgb)
    transform = _icc_to_srgb(icc, colour.mode) if icc else None
    if transform is not None:
        return ImageCms.applyTransform(colour, transform)
    return colour if colour.mode == "RGB" else colour.convert("RGB")


def _icc_to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS transform from the embedded profile to sRGB; None when the profile is
    unusable for ``mode`` or is equivalent to sRGB (keeping those pixels bit-exact)."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(
            source, ImageCms.createProfile("sRGB"), mode, "RGB", ImageCms.Intent.PERCEPTUAL
        )
    except Exception:  # corrupt profile, or e.g. an RGB profile on a grayscale image
        return None
    if mode in ("RGB", "L") and _is_near_identity(transform, mode):
        return None
    return transform


def _is_near_identity(transform: ImageCms.ImageCmsTransform, mode: str) -> bool:
    """Whether ``transform`` moves no probe colour by more than one level."""
    ramp = np.arange(256, dtype=np.uint8)
    if mode == "L":
        probe = ramp.reshape(1, 256)
        expected = np.repeat(probe[..., None], 3, axis=2)
    else:
        zeros = np.zeros(256, np.uint8)
        levels = np.linspace(0, 255, 7).round().astype(np.uint8)
        cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
        ramps = [np.stack(channels, axis=-1) for channels in
                 ((ramp, zeros, zeros), (zeros, ramp, zeros), (zeros, zeros, ramp), (ramp, ramp, ramp))]
        probe = np.concatenate([*ramps, cube]).reshape(1, -1, 3)
        expected = probe
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(probe, mode), transform))
    return int(np.abs(out.astype(np.int16) - expected.astype(np.int16)).max()) <= 1


# --- shared helpers -----------------------------------------------------------------------


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise InputImageError(f"{what} has no pixels ({width} x {height})")
    if width * height > max_pixels:
        raise LimitExceededError(
            f"{what} is {width} x {height} = {width * height:,} pixels, more than max_pixels={max_pixels:,}"
        )


@contextmanager
def _foreign_errors(label: str) -> Iterator[None]:
    """Turn whatever Pillow/LittleCMS/the OS raise into sr_codec errors (cause kept)."""
    try:
        yield
    except SrCodecError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # the warning when -W error
        raise LimitExceededError(f"{label} exceeds Pillow's pixel limit: {_one_line(exc)}") from exc
    except UnidentifiedImageError as exc:
        supported = ", ".join(_encoded_formats())
        raise InputImageError(f"{label} is not a supported image ({supported}) or is corrupt") from exc
    except MemoryError as exc:
        raise LimitExceededError(f"{label}: not enough memory to decode the image") from exc
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error, ... on bad data
        raise InputImageError(f"{label} cannot be decoded: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _describe_array(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {value.shape}"
    return type(value).__name__
