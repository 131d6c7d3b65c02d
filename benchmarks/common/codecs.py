"""The codecs a benchmark compares, behind one interface (:class:`BenchCodec`, after CompressAI's ``bench/codecs.py``).

A :class:`BenchCodec` turns an image and a setting into the bytes a chat app sends and the picture
the receiver shows. Constructors: :func:`classical_file` (a complete JPEG/WebP/AVIF file, with
the settings of :mod:`sr_codec.codecs` configured as a plain file), :func:`sr_codec_scale` (an
sr_codec payload at one scale, decoded by bicubic and by the network) and :func:`rate_controlled`
(``encode(scale="auto", max_bytes=...)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from sr_codec import codecs as inner_codecs
from sr_codec.imaging.metrics import MS_SSIM_MIN_SIDE, bits_per_pixel, ms_ssim, psnr

LABELS = {"avif": "AVIF", "webp": "WebP", "jpeg": "JPEG", "png": "PNG"}


@dataclass(frozen=True)
class BenchCodec:
    """One rate-distortion curve: how an image and a setting become sent bytes and a shown picture.

    Codecs with the same ``encode_key`` share payloads (computed once per image and setting);
    with the same ``encode_key`` *and* ``decode_key`` they also share the decoded picture.
    """

    key: str  # file-name safe id
    label: str  # legend and table label
    role: str  # "classical", "bicubic", "network" or "auto"
    scale: int  # 1 for full-resolution codecs; 0 for rate control (the library picks)
    settings: tuple[float, ...]
    setting_name: str  # "quality" or "target_bpp"
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    encode_key: str
    decode_key: str
    note: str = ""


@dataclass(frozen=True)
class Point:
    """One measured point: an image through a codec at a setting."""

    image: str
    method: str
    role: str
    scale: int
    setting_name: str
    setting: float
    height: int
    width: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float


def measure_point(codec: BenchCodec, image: np.ndarray, setting: float, name: str, payload: bytes,
                  decoded: np.ndarray) -> Point:
    """The point of ``payload`` (all of it counts) and the ``decoded`` picture against ``image``."""
    h, w = image.shape[:2]
    if decoded.shape != image.shape:
        raise RuntimeError(f"{codec.key} decoded {decoded.shape} for an original of {image.shape}")
    return Point(
        image=name, method=codec.key, role=codec.role, scale=codec.scale, setting_name=codec.setting_name,
        setting=float(setting), height=h, width=w, bytes=len(payload), bpp=bits_per_pixel(len(payload), h, w),
        psnr=psnr(image, decoded),
        ms_ssim=ms_ssim(image, decoded) if min(h, w) >= MS_SSIM_MIN_SIDE else math.nan,
    )


def file_encoder(name: str) -> Callable[[np.ndarray, float], bytes]:
    """A complete, standard file of the codec ``name`` (for AVIF: container included, Pillow's default speed)."""
    codec = inner_codecs.by_name(name).as_plain_file()

    def encode(image: np.ndarray, quality: float) -> bytes:
        return codec.encode_file(image, int(quality))

    return encode


def classical_file(name: str, settings: Sequence[float]) -> BenchCodec:
    codec = inner_codecs.by_name(name).as_plain_file()
    return BenchCodec(
        key=name,
        label=f"{LABELS.get(name, name.upper())} full res",
        role="classical",
        scale=1,
        settings=tuple(settings),
        setting_name="quality",
        encode=file_encoder(name),
        decode=codec.decode,
        encode_key=f"file:{name}",
        decode_key="",
        note=f"a complete .{'jpg' if name == 'jpeg' else name} file from Pillow, options {codec.save_options(50)}"
        .replace("'quality': 50, ", ""),
    )


def sr_codec_scale(scale: int, settings: Sequence[float], inner: str | None = None) -> list[BenchCodec]:
    """sr_codec at one scale: (b) the payloads decoded by bicubic, (c) the same payloads decoded by the network."""
    import sr_codec
    from sr_codec.sender.builder import payload_model_id

    def encode(image: np.ndarray, quality: float, _s: int = scale) -> bytes:
        return sr_codec.encode(image, scale=_s, quality=int(quality), inner=inner)

    model = payload_model_id(scale, inner_codecs.by_name(inner))
    shared = dict(scale=scale, settings=tuple(settings), setting_name="quality", encode=encode,
                  encode_key=f"sr:x{scale}")
    if scale == 1:
        bicubic_label, bicubic_note = "(a) x1 inner codec only", "sr_codec payload at scale 1, no network"
    else:
        bicubic_label, bicubic_note = f"(b) x{scale} bicubic", "downsample + inner codec + bicubic"
    out = [BenchCodec(key=f"bicubic-x{scale}", label=bicubic_label, role="bicubic",
                      decode=lambda payload: sr_codec.decode(payload, model="bicubic"), decode_key="model:bicubic",
                      note=bicubic_note, **shared)]
    if scale == 1 and model == "bicubic":
        return out  # no artifact-removal network: x1 with a network would repeat (a)
    out.append(BenchCodec(
        key=f"sr_codec-x{scale}",
        label=f"(c) x{scale} sr_codec" + (" [no network shipped: bicubic]" if model == "bicubic" else ""),
        role="network", decode=lambda payload: sr_codec.decode(payload), decode_key=f"model:{model}",
        note=f"downsample + inner codec + network ({model})", **shared))
    return out


def rate_controlled(settings: Sequence[float]) -> BenchCodec:
    """(d) rate control: ``encode(scale="auto", max_bytes=target_bpp x pixels / 8)``."""
    import sr_codec

    def encode(image: np.ndarray, target_bpp: float) -> bytes:
        max_bytes = max(1, int(target_bpp * image.shape[0] * image.shape[1] / 8))
        return sr_codec.encode(image, scale="auto", max_bytes=max_bytes)

    return BenchCodec(key="sr_codec-auto", label="(d) sr_codec auto", role="auto", scale=0, settings=tuple(settings),
                      setting_name="target_bpp", encode=encode, decode=lambda payload: sr_codec.decode(payload),
                      encode_key="sr:auto", decode_key="model:default",
                      note="rate control: encode(scale='auto', max_bytes=target_bpp x pixels / 8)")
