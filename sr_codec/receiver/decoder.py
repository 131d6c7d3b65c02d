"""The receiver: ``decode`` a payload to full resolution, ``decode_preview``, ``inspect``.

Unpack and verify -> check the declared sizes against the limits and the inner bitstream ->
resolve the model -> inner decode -> upscale (network or bicubic) -> crop to the original size.

Nothing here imports TensorFlow; only ``decode`` and ``decode_many`` may, through
:mod:`sr_codec.receiver.upscale`, when the payload's model is a network.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .. import codecs
from ..codecs import InnerCodec
from ..codecs.alpha import decode_alpha
from ..errors import InputImageError, LookUnavailableWarning, ModelError, PayloadError, wrap_foreign
from ..format import payload as wire
from ..imaging.resample import downsample, low_res_size, upsample_bicubic
from ..limits import Limits, resolve
from ..zoo import manifest as zoo


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


def _read_header(payload: bytes, limits: Limits) -> tuple[wire.Payload, InnerCodec, tuple[int, int]]:
    """Unpack and verify, then check the declared sizes against the limits and the inner bitstream's header.

    Returns the payload, its inner codec and the (height, width) of the low-res image; no pixel is decoded.
    """
    p = wire.unpack(payload, limits)
    limits.check_pixels(p.height, p.width, "the payload's image")
    codec = codecs.by_wire_id(p.codec_id)
    low_size = low_res_size(p.height, p.width, p.scale)
    declared = codec.read_size(p.bitstream)
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
    low = codec.decode(p.bitstream)
    if low.shape != (*low_size, 3):
        raise PayloadError(f"inner {codec.name} bitstream decoded to {low.shape}, expected {(*low_size, 3)}")
    alpha = None if p.alpha is None else decode_alpha(p.alpha, low_size, (p.height, p.width))
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


def check_look(look: str) -> str:
    """``look`` when it is one of :data:`zoo.LOOKS`, else :class:`InputImageError` naming them."""
    if not isinstance(look, str) or look not in zoo.LOOKS:
        raise InputImageError(f"unknown look {look!r}; the looks are {', '.join(map(repr, zoo.LOOKS))}")
    return look


def _apply_look(model_id: str, look: str, missing: set[str]) -> str:
    """The model that shows ``model_id``'s payloads in ``look``; the model itself (noted in ``missing``) without a twin."""
    if look == zoo.LOOKS[0] or model_id == zoo.BICUBIC:
        return model_id
    twin = zoo.model_for_look(model_id, look)
    if twin is None:
        missing.add(model_id)
        return model_id
    return twin


def _warn_missing_look(look: str, missing: set[str]) -> None:
    if missing:
        warnings.warn(f"no {look} look for model {', '.join(sorted(missing))}: shown with its faithful look",
                      LookUnavailableWarning, stacklevel=3)


@dataclass(frozen=True)
class _Pending:
    """A payload read and checked, its model resolved: what is left is the upscale and the final crop."""

    payload: wire.Payload
    low: np.ndarray
    alpha: np.ndarray | None
    model_id: str


def _prepare(payload: bytes, model: str | None, limits: Limits, look: str = "faithful",
             missing: set[str] | None = None) -> _Pending:
    with wrap_foreign(PayloadError, "decode"):
        p, codec, low_size = _read_header(payload, limits)
        model_id = _resolve_model(p, model)  # before any pixel is decoded: a model we lack fails fast
        model_id = _apply_look(model_id, look, set() if missing is None else missing)
        low, alpha = _read_pixels(p, codec, low_size)
    return _Pending(p, low, alpha, model_id)


def _finish(pending: _Pending, rgb: np.ndarray) -> np.ndarray:
    """The upscaled RGB cropped to the original size, with the alpha plane back on."""
    p, low, alpha = pending.payload, pending.low, pending.alpha
    with wrap_foreign(PayloadError, "decode"):
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
    look: str = "faithful",
) -> np.ndarray:
    """Rebuild the image: uint8 H x W x 3 RGB (H x W x 4 RGBA when the input had alpha), original size.

    ``model``: None = the model the encoder expected (ModelError when those weights are not
    shipped), ``"default"`` = the shipped model for the payload's scale, ``"bicubic"`` = no
    network, or a model id from the manifest. ``device``: ``"cpu"``, ``"gpu"`` or None
    (``$SR_CODEC_DEVICE``, else the GPU when there is one). ``tile`` and ``runtime`` go to
    :func:`sr_codec.upscale`: the tile side in low-res pixels (None = from the free
    memory, 0 = never tile) and None (the shipped ``.tflite`` under LiteRT on the CPU, without TensorFlow;
    Keras on a GPU), ``"keras"`` or ``"litert"``.

    ``look``: ``"faithful"`` (the model above) or ``"sharp"`` (its adversarially trained twin: same
    payload, same decode cost, more texture, a little less PSNR). A model without a sharp twin (bicubic,
    x10) shows its faithful look with a :class:`LookUnavailableWarning`; an unknown look is an
    :class:`InputImageError`.
    """
    limits = resolve(limits)
    check_look(look)
    missing: set[str] = set()
    pending = _prepare(payload, model, limits, look, missing)
    _warn_missing_look(look, missing)
    from .upscale import upscale  # the module imports TensorFlow only when a network runs

    with wrap_foreign(ModelError, "super-resolution"):
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
    look: str = "faithful",
) -> list[np.ndarray]:
    """:func:`decode` for several payloads: the images ``decode`` returns, in input order.

    Payloads sharing a scale and a model go through :func:`sr_codec.upscale_many`
    together, so same-size images (and tiles) share network calls, which is what a GPU needs
    to be fast (on the CPU, Keras runtime, the batched pixels are bit-identical to ``decode``'s); ``look`` as
    in :func:`decode`. Every payload is read and checked before any network runs (the first bad one
    raises, as in a loop of ``decode``); all low-res and decoded images are held in memory at
    once, so pass a chat's batch, not an archive.
    """
    if isinstance(payloads, (bytes, bytearray, memoryview)):
        raise PayloadError("decode_many takes an iterable of payloads; use decode for a single one")
    limits = resolve(limits)
    check_look(look)
    missing: set[str] = set()
    pending = [_prepare(payload, model, limits, look, missing) for payload in payloads]
    _warn_missing_look(look, missing)
    groups: dict[tuple[int, str], list[int]] = {}
    for index, item in enumerate(pending):
        groups.setdefault((item.payload.scale, item.model_id), []).append(index)
    from .upscale import upscale_many

    images: dict[int, np.ndarray] = {}
    for (scale, model_id), indices in groups.items():
        with wrap_foreign(ModelError, "super-resolution"):
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
    with wrap_foreign(PayloadError, "decode_preview"):
        p, low, alpha = _read_payload(payload, limits)
        if alpha is None:
            return low.copy()
        if alpha.shape != low.shape[:2]:  # coded at full resolution
            alpha = downsample(alpha[..., None], p.scale)[..., 0]
        return np.concatenate([low, alpha[..., None]], axis=2)


def inspect(payload: bytes, *, limits: Limits | None = None) -> PayloadInfo:
    """Describe a payload (verifying its checksum and fields) without decoding pixels."""
    limits = resolve(limits)
    with wrap_foreign(PayloadError, "inspect"):
        p = wire.unpack(payload, limits)
        return PayloadInfo(
            version=wire.FORMAT_VERSION,
            width=p.width,
            height=p.height,
            has_alpha=p.has_alpha,
            scale=p.scale,
            inner=codecs.by_wire_id(p.codec_id).name,
            model_tag=p.model_tag,
            model_id=zoo.model_id_for_tag(p.model_tag),
            payload_bytes=memoryview(payload).nbytes,  # bytes, also for a memoryview of wider items
            inner_bytes=len(p.bitstream),
            alpha_bytes=len(p.alpha) if isinstance(p.alpha, bytes) else 0,
        )
