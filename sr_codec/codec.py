"""The public codec: ``encode`` an image to a payload, ``decode`` it back at full resolution.

Sender: normalise the input -> shrink by ``scale`` -> inner codec -> pack the payload.
Receiver: unpack and verify -> check the declared sizes against the limits and the inner
bitstream -> resolve the model -> inner decode -> upscale (network or bicubic) -> crop to the
original size.

Nothing here imports TensorFlow; only ``decode`` and ``decode_many`` may, through
:mod:`sr_codec.upscale`, when the payload's model is a network.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from . import payload as wire
from .downsample import downsample, low_res_size, upsample_bicubic
from .errors import InputImageError, LimitExceededError, ModelError, PayloadError, SrCodecError
from .inner import codec_by_wire_id, get_codec
from .limits import Limits, resolve
from .models import zoo

if TYPE_CHECKING:  # annotations only: encode imports the normaliser lazily
    from .inner import InnerCodec
    from .normalise import NormalisedImage

# Lossless WebP codes the alpha plane smallest (measured in docs/format.md) but caps a side at 16383 px.
WEBP_MAX_SIDE = 16383

#: The scale ``encode`` uses without ``scale``, ``max_bytes`` or ``target_psnr`` (an int, or "auto").
DEFAULT_SCALE: int | str = 4


@dataclass(frozen=True)
class PayloadInfo:
    """What a payload holds, read from its header without decoding any pixels."""

    version: int
    width: int
    height: int
    has_alpha: bool
    scale: int
    inner: str
    model_tag: int
    model_id: str | None
    """The shipped model carrying ``model_tag`` ("bicubic" for tag 0), None when none does."""
    payload_bytes: int
    inner_bytes: int
    alpha_bytes: int
    """Bytes of the coded alpha plane; 0 for RGB and for a constant alpha (stored as one number)."""

    @property
    def mode(self) -> str:
        return "RGBA" if self.has_alpha else "RGB"

    @property
    def low_res_size(self) -> tuple[int, int]:
        """(height, width) of the low-resolution image the inner codec carries."""
        return low_res_size(self.height, self.width, self.scale)

    @property
    def overhead_bytes(self) -> int:
        """Container bytes on top of the inner bitstream and the coded alpha plane."""
        return self.payload_bytes - self.inner_bytes - self.alpha_bytes

    @property
    def bits_per_pixel(self) -> float:
        return 8.0 * self.payload_bytes / (self.width * self.height)


@contextmanager
def _wrap_foreign(error: type[SrCodecError], action: str) -> Iterator[None]:
    """Let SrCodecErrors through; turn anything else raised inside into ``error`` (cause kept)."""
    try:
        yield
    except SrCodecError:
        raise
    except MemoryError as exc:
        raise LimitExceededError(f"{action}: out of memory") from exc
    except Exception as exc:
        raise error(f"{action} failed: {type(exc).__name__}: {exc}") from exc


def effective_scale(height: int, width: int, scale: int) -> int:
    """The scale ``encode`` really uses: ``scale``, lowered to the shorter side of a smaller image.

    A side shorter than the scale would be padded with more replicated pixels than it has
    real ones, biasing the low-res pixel towards the edge; so a 7 x 13 image asked for x10
    is coded at x7, a 3 x 2 one at x2 and a 1 x 1 one at x1. A side of one pixel does not
    count: replicating a single row (or column) is exact, so a 1 x 5000 strip at x4 is
    coded as 1 x 1250. Padding and the decoder's crop restore the exact size either way.
    """
    sides = [side for side in (height, width) if side > 1]
    return max(1, min(scale, *sides)) if sides else 1


def _check_scale(scale: object) -> int:
    if type(scale) is bool or not isinstance(scale, (int, np.integer)) or not 1 <= scale <= wire.MAX_SCALE:
        raise InputImageError(f"scale must be an integer in 1..{wire.MAX_SCALE}, got {scale!r}")
    return int(scale)


def _check_quality(quality: object) -> int | None:
    if quality is None:
        return None
    if type(quality) is bool or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 100:
        raise InputImageError(f"quality must be None or an integer in 0..100, got {quality!r}")
    return int(quality)


def encode(
    image: object,
    *,
    scale: int | str | None = None,
    quality: int | None = None,
    inner: str | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    mode: str = "fast",
    limits: Limits | None = None,
) -> bytes:
    """Compress ``image`` into a payload.

    ``image``: a path, encoded file bytes, a ``PIL.Image`` or a uint8 array (H x W, H x W x 3
    RGB, H x W x 4 RGBA). ``scale``: the shrink factor, 1..16 (1, 2, 4 and 10 have trained
    networks); lowered for images smaller than it (:func:`effective_scale`); or ``"auto"``:
    rate control picks it among 1, 2, 4 and 10. None (default): :data:`DEFAULT_SCALE`, or
    ``"auto"`` when ``max_bytes`` or ``target_psnr`` is given (an explicit integer scale with
    them keeps that scale and chooses only the quality). ``quality``: 0..100 for the inner codec (None =
    its default; rate control picks it when ``max_bytes`` or ``target_psnr`` is given).
    ``inner``: ``"avif"`` (default), ``"webp"``, ``"jpeg"`` or lossless ``"png"``.

    Rate control (docs/rate_control.md), by *decoded* RGB PSNR against the input:

    * ``max_bytes=N``: the best payload of at most N bytes (:class:`LimitExceededError` when
      even the smallest setting is bigger); never worse than the inner codec alone at full
      resolution within N bytes.
    * ``target_psnr=dB``: the smallest payload whose decoded PSNR reaches ``dB`` (within
      ``max_bytes`` when both are given); when no setting reaches it, the best one there is.
    * ``scale="auto"`` alone: ``max_bytes=sr_codec.rate.DEFAULT_MAX_BYTES``, as a soft limit
      (the smallest payload there is when nothing fits).

    ``mode``: ``"fast"`` (predict each scale's decoded PSNR, run the network once or twice)
    or ``"best"`` (decode every finalist with the network). See :func:`sr_codec.rate.choose`
    for the full report of a choice.
    """
    if scale is None:
        scale = "auto" if max_bytes is not None or target_psnr is not None else DEFAULT_SCALE
    if isinstance(scale, str) or max_bytes is not None or target_psnr is not None:
        from .rate import choose

        return choose(
            image,
            scale=scale,
            quality=quality,
            inner=inner,
            max_bytes=max_bytes,
            target_psnr=target_psnr,
            mode=mode,
            limits=limits,
        ).payload
    if mode not in ("fast", "best"):
        raise InputImageError(f"mode must be 'fast' or 'best', got {mode!r}")
    limits = resolve(limits)
    scale = _check_scale(scale)
    quality = _check_quality(quality)
    codec = get_codec(inner)
    from .normalise import load_image  # senders only: a receiver never loads the input-image machinery

    with _wrap_foreign(InputImageError, "encode"):
        img = load_image(image, max_pixels=limits.max_pixels)
        scale = effective_scale(img.height, img.width, scale)
        builder = PayloadBuilder(img, codec, limits)
        # A lossless inner codec delivers clean low-res: name the clean-role model, which is trained for it.
        model_id = zoo.upscale_model_id(scale) if codec.lossless else zoo.default_model_id(scale)
        packed = builder.pack(scale, builder.bitstream(scale, quality), zoo.tag_for(model_id))
        limits.check_payload_bytes(len(packed))
        return packed


class PayloadBuilder:
    """Turns (scale, quality, model tag) into payload bytes for one normalised image.

    The low-res image and the coded alpha plane are kept per scale, so rate control can try
    many qualities and models for the cost of the inner encodes alone.
    """

    def __init__(self, image: NormalisedImage, codec: InnerCodec, limits: Limits) -> None:
        self.image = image
        self.codec = codec
        self.limits = limits
        self._low: dict[int, np.ndarray] = {}
        self._alpha: dict[int, int | bytes] = {}

    def low_res(self, scale: int) -> np.ndarray:
        """The image shrunk by ``scale`` (what the inner codec compresses)."""
        if scale not in self._low:
            self._low[scale] = downsample(self.image.rgb, scale)
        return self._low[scale]

    def bitstream(self, scale: int, quality: int | None, codec: InnerCodec | None = None) -> bytes:
        """The inner codec's bitstream of the low-res image at ``quality`` (None = the codec's default).

        ``codec``: another configuration of the same codec (same wire id), e.g. a slower AVIF speed.
        """
        codec = self.codec if codec is None else codec
        if codec.wire_id != self.codec.wire_id:
            raise InputImageError(f"a {codec.name} bitstream cannot go into a {self.codec.name} payload")
        low = self.low_res(scale)
        try:
            bitstream = codec.encode(low, quality)
        except SrCodecError:
            raise
        except Exception as exc:  # e.g. a side beyond what WebP or JPEG can hold
            raise InputImageError(
                f"the {codec.name} codec cannot code a {low.shape[1]} x {low.shape[0]} image: {exc}"
            ) from exc
        if len(bitstream) > self.limits.max_inner_bytes:
            raise LimitExceededError(
                f"inner bitstream is {len(bitstream)} bytes; the limit is {self.limits.max_inner_bytes}"
            )
        return bitstream

    def pack(self, scale: int, bitstream: bytes, model_tag: int) -> bytes:
        """The payload carrying ``bitstream`` (from :meth:`bitstream` at ``scale``) for the model ``model_tag``."""
        img = self.image
        if img.alpha is not None and scale not in self._alpha:
            self._alpha[scale] = _encode_alpha(img.alpha, scale)
        return wire.pack(
            wire.Payload(
                width=img.width,
                height=img.height,
                scale=scale,
                inner_codec=self.codec.wire_id,
                model_tag=model_tag,
                inner=bitstream,
                alpha=None if img.alpha is None else self._alpha[scale],
            )
        )


def _encode_alpha(alpha: np.ndarray, scale: int) -> int | bytes:
    """A constant plane as its value; otherwise coded losslessly at low or full resolution.

    The low-res plane (shrunk like the RGB) is the smaller for soft edges; a hard-edged mask
    can be cheaper at full resolution, where it is also exact. The smaller one is kept; the
    decoder tells them apart by their size.
    """
    first = int(alpha.flat[0])
    if np.all(alpha == first):
        return first
    low = _lossless_plane(downsample(alpha[..., None], scale)[..., 0])
    if scale == 1:
        return low
    full = _lossless_plane(alpha)
    return full if len(full) <= len(low) else low


def _lossless_plane(plane: np.ndarray) -> bytes:
    buf = io.BytesIO()
    if max(plane.shape) <= WEBP_MAX_SIDE:  # method 4: within 1% of method 6's size, 5-100x faster
        Image.fromarray(plane, "L").save(buf, "WEBP", lossless=True, quality=100, method=4)
    else:
        Image.fromarray(plane, "L").save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _decode_alpha(coded: int | bytes, low_size: tuple[int, int], full_size: tuple[int, int]) -> np.ndarray:
    """The alpha plane from its payload field: uint8 at ``low_size``, or at ``full_size`` when coded so."""
    if isinstance(coded, int):
        return np.full(low_size, coded, np.uint8)
    try:
        with Image.open(io.BytesIO(coded), formats=["WEBP", "PNG"]) as im:
            size = (im.size[1], im.size[0])
            if size not in (low_size, full_size):
                raise PayloadError(
                    f"alpha plane is {size[1]} x {size[0]}; the payload needs {low_size[1]} x {low_size[0]} "
                    f"(low-res) or {full_size[1]} x {full_size[0]} (full-res)"
                )
            return np.asarray(im.convert("L"))
    except SrCodecError:
        raise
    except Exception as exc:
        raise PayloadError(f"alpha plane cannot be decoded: {exc}") from exc


def _read_header(payload: bytes, limits: Limits) -> tuple[wire.Payload, InnerCodec, tuple[int, int]]:
    """Unpack and verify, then check the declared sizes against the limits and the inner bitstream's header.

    Returns the payload, its inner codec and the (height, width) of the low-res image; no pixel is decoded.
    """
    p = wire.unpack(payload, limits)
    limits.check_pixels(p.height, p.width, "the payload's image")
    codec = codec_by_wire_id(p.inner_codec)
    low_size = low_res_size(p.height, p.width, p.scale)
    declared = codec.read_size(p.inner)
    if declared != low_size:
        raise PayloadError(
            f"inner {codec.name} bitstream is {declared[1]} x {declared[0]}, but a {p.width} x {p.height} image "
            f"at x{p.scale} needs {low_size[1]} x {low_size[0]}"
        )
    return p, codec, low_size


def _read_pixels(
    p: wire.Payload, codec: InnerCodec, low_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The low-res RGB and the alpha plane (low-res or full-res, as coded) of a payload :func:`_read_header` passed."""
    low = codec.decode(p.inner)
    if low.shape != (*low_size, 3):
        raise PayloadError(f"inner {codec.name} bitstream decoded to {low.shape}, expected {(*low_size, 3)}")
    alpha = None if p.alpha is None else _decode_alpha(p.alpha, low_size, (p.height, p.width))
    return low, alpha


def _read_payload(payload: bytes, limits: Limits) -> tuple[wire.Payload, np.ndarray, np.ndarray | None]:
    """Unpack, check the declared sizes against the limits and the bitstreams, decode the pixels.

    Returns the payload, the low-res RGB and the alpha plane (low-res or full-res, as coded).
    """
    p, codec, low_size = _read_header(payload, limits)
    return (p, *_read_pixels(p, codec, low_size))


def _resolve_model(p: wire.Payload, model: str | None) -> str:
    """The model id ``decode`` runs: the payload's own, the shipped default, bicubic, or a named one."""
    if model is None:
        model_id = zoo.model_id_for_tag(p.model_tag)
        if model_id is None:
            shipped = ", ".join(zoo.available_model_ids()) or "none"
            raise ModelError(
                f"the payload was encoded for model tag {p.model_tag:#010x}, which no shipped weights carry "
                f"(shipped: {shipped}); decode with model='default' to use the shipped x{p.scale} model, "
                "or model='bicubic'"
            )
        if model_id != zoo.BICUBIC and int(zoo.model_info(model_id)["scale"]) != p.scale:
            raise PayloadError(f"the payload names model {model_id}, which is not an x{p.scale} model")
        return model_id
    if not isinstance(model, str):
        raise ModelError(f"model must be None, 'default', 'bicubic' or a model id, got {type(model).__name__}")
    if model == "default":
        return zoo.default_model_id(p.scale)
    if model == zoo.BICUBIC:
        return model
    info = zoo.model_info(model)  # ModelError when unknown
    if int(info["scale"]) != p.scale:
        raise ModelError(f"model {model} upscales x{info['scale']}, but the payload is x{p.scale}")
    return model


@dataclass(frozen=True)
class _Pending:
    """A payload read and checked, its model resolved: what is left is the upscale and the final crop."""

    payload: wire.Payload
    low: np.ndarray
    alpha: np.ndarray | None
    model_id: str


def _prepare(payload: bytes, model: str | None, limits: Limits) -> _Pending:
    with _wrap_foreign(PayloadError, "decode"):
        p, codec, low_size = _read_header(payload, limits)
        model_id = _resolve_model(p, model)  # before any pixel is decoded: a model we lack fails fast
        low, alpha = _read_pixels(p, codec, low_size)
    return _Pending(p, low, alpha, model_id)


def _finish(pending: _Pending, rgb: np.ndarray) -> np.ndarray:
    """The upscaled RGB cropped to the original size, with the alpha plane back on."""
    p, low, alpha = pending.payload, pending.low, pending.alpha
    with _wrap_foreign(PayloadError, "decode"):
        expected = (low.shape[0] * p.scale, low.shape[1] * p.scale, 3)
        if rgb.shape != expected or rgb.dtype != np.uint8:
            raise ModelError(f"upscaler returned {rgb.dtype} {rgb.shape}, expected uint8 {expected}")
        rgb = rgb[: p.height, : p.width]
        if alpha is None:
            return rgb.copy()  # contiguous, writeable, and never the upscaler's own buffer
        if alpha.shape != (p.height, p.width):
            alpha = upsample_bicubic(alpha[..., None], p.scale, (p.height, p.width))[..., 0]
        return np.concatenate([rgb, alpha[..., None]], axis=2)


def decode(
    payload: bytes,
    *,
    device: str | None = None,
    model: str | None = None,
    limits: Limits | None = None,
    tile: int | None = None,
    runtime: str | None = None,
) -> np.ndarray:
    """Rebuild the image: uint8 H x W x 3 RGB (H x W x 4 RGBA when the input had alpha), original size.

    ``model``: None = the model the encoder expected (ModelError when those weights are not
    shipped), ``"default"`` = the shipped model for the payload's scale, ``"bicubic"`` = no
    network, or a model id from the manifest. ``device``: ``"cpu"``, ``"gpu"`` or None
    (``$SR_CODEC_DEVICE``, else the GPU when there is one). ``tile`` and ``runtime`` go to
    :func:`sr_codec.upscale.upscale`: the tile side in low-res pixels (None = from the free
    memory, 0 = never tile) and None (the shipped ``.tflite`` under LiteRT on the CPU, without TensorFlow;
    Keras on a GPU), ``"keras"`` or ``"litert"``.
    """
    limits = resolve(limits)
    pending = _prepare(payload, model, limits)
    from .upscale import upscale  # the module imports TensorFlow only when a network runs

    with _wrap_foreign(ModelError, "super-resolution"):
        rgb = upscale(pending.low, pending.payload.scale, device=device, model_id=pending.model_id,
                      tile=tile, runtime=runtime)
    return _finish(pending, rgb)


def decode_many(
    payloads: Iterable[bytes],
    *,
    device: str | None = None,
    model: str | None = None,
    limits: Limits | None = None,
    tile: int | None = None,
    runtime: str | None = None,
) -> list[np.ndarray]:
    """:func:`decode` for several payloads: the images ``decode`` returns, in input order.

    Payloads sharing a scale and a model go through :func:`sr_codec.upscale.upscale_many`
    together, so same-size images (and tiles) share network calls, which is what a GPU needs
    to be fast (on the CPU, Keras runtime, the batched pixels are bit-identical to ``decode``'s). Every payload is read and checked before any network runs (the first bad one
    raises, as in a loop of ``decode``); all low-res and decoded images are held in memory at
    once, so pass a chat's batch, not an archive.
    """
    if isinstance(payloads, (bytes, bytearray, memoryview)):
        raise PayloadError("decode_many takes an iterable of payloads; use decode for a single one")
    limits = resolve(limits)
    pending = [_prepare(payload, model, limits) for payload in payloads]
    groups: dict[tuple[int, str], list[int]] = {}
    for index, item in enumerate(pending):
        groups.setdefault((item.payload.scale, item.model_id), []).append(index)
    from .upscale import upscale_many

    images: dict[int, np.ndarray] = {}
    for (scale, model_id), indices in groups.items():
        with _wrap_foreign(ModelError, "super-resolution"):
            rgbs = upscale_many([pending[i].low for i in indices], scale, device=device, model_id=model_id,
                                tile=tile, runtime=runtime)
        if len(rgbs) != len(indices):
            raise ModelError(f"upscaler returned {len(rgbs)} images for {len(indices)}")
        for index, rgb in zip(indices, rgbs):
            images[index] = _finish(pending[index], rgb)
    return [images[index] for index in range(len(pending))]


def decode_preview(payload: bytes, *, limits: Limits | None = None) -> np.ndarray:
    """The instant preview: the low-resolution image as sent (plus alpha), without any network.

    Returns uint8 h x w x 3 (x 4 with alpha), h x w = the original size divided by the scale,
    rounded up. Never imports TensorFlow.
    """
    limits = resolve(limits)
    with _wrap_foreign(PayloadError, "decode_preview"):
        p, low, alpha = _read_payload(payload, limits)
        if alpha is None:
            return low.copy()
        if alpha.shape != low.shape[:2]:  # coded at full resolution
            alpha = downsample(alpha[..., None], p.scale)[..., 0]
        return np.concatenate([low, alpha[..., None]], axis=2)


def inspect(payload: bytes, *, limits: Limits | None = None) -> PayloadInfo:
    """Describe a payload (verifying its checksum and fields) without decoding pixels."""
    limits = resolve(limits)
    with _wrap_foreign(PayloadError, "inspect"):
        p = wire.unpack(payload, limits)
        return PayloadInfo(
            version=wire.FORMAT_VERSION,
            width=p.width,
            height=p.height,
            has_alpha=p.has_alpha,
            scale=p.scale,
            inner=codec_by_wire_id(p.inner_codec).name,
            model_tag=p.model_tag,
            model_id=zoo.model_id_for_tag(p.model_tag),
            payload_bytes=memoryview(payload).nbytes,  # bytes, also for a memoryview of wider items
            inner_bytes=len(p.inner),
            alpha_bytes=len(p.alpha) if isinstance(p.alpha, bytes) else 0,
        )
