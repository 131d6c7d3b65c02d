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
    ssimulacra2: float = math.nan
    butteraugli: float = math.nan


def measure_point(codec: BenchCodec, image: np.ndarray, setting: float, name: str, payload: bytes,
                  decoded: np.ndarray, perceptual: bool = False) -> Point:
    """The point of ``payload`` (all of it counts) and the ``decoded`` picture against ``image``.

    ``perceptual``: also SSIMULACRA2 and butteraugli, each where its tool is installed (else NaN)."""
    h, w = image.shape[:2]
    if decoded.shape != image.shape:
        raise RuntimeError(f"{codec.key} decoded {decoded.shape} for an original of {image.shape}")
    extra = {}
    if perceptual:
        from benchmarks.common.perceptual import perceptual_scores

        extra = perceptual_scores(image[..., :3], decoded[..., :3])
    return Point(
        image=name, method=codec.key, role=codec.role, scale=codec.scale, setting_name=codec.setting_name,
        setting=float(setting), height=h, width=w, bytes=len(payload), bpp=bits_per_pixel(len(payload), h, w),
        psnr=psnr(image, decoded),
        ms_ssim=ms_ssim(image, decoded) if min(h, w) >= MS_SSIM_MIN_SIDE else math.nan,
        **extra,
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


AUTO_REZ_FACTORS = (1, 2, 3, 4, 6)


def _lanczos(image: np.ndarray, height: int, width: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))


def largest_file_within(codec, image: np.ndarray, max_bytes: int) -> bytes | None:
    """The highest-quality complete file of ``codec`` that fits ``max_bytes`` (bisection on quality 0..100)."""
    lo, hi, best = 0, 100, None
    while lo <= hi:
        q = (lo + hi) // 2
        data = codec.encode_file(image, q)
        if len(data) <= max_bytes:
            best, lo = data, q + 1
        else:
            hi = q - 1
    return best


def auto_rez(image: np.ndarray, max_bytes: int, factors: Sequence[int] = AUTO_REZ_FACTORS,
             codec_name: str = "avif") -> tuple[bytes, np.ndarray, int] | None:
    """"AUTO-REZ", what an engineer builds without sr_codec: for each shrink factor, Lanczos down, the best
    plain AVIF file (Pillow's speed 6) within ``max_bytes``, Lanczos back up; the factor with the best RGB
    PSNR for this photo wins. Returns (file bytes, picture, factor), None when nothing fits."""
    codec = inner_codecs.by_name(codec_name).as_plain_file()
    h, w = image.shape[:2]
    best = None
    for f in factors:
        small = image if f == 1 else _lanczos(image, max(1, -(-h // f)), max(1, -(-w // f)))
        data = largest_file_within(codec, small, max_bytes)
        if data is None:
            continue
        shown = codec.decode(data)
        if f != 1:
            shown = _lanczos(shown, h, w)
        score = psnr(image, shown)
        if best is None or score > best[0]:
            best = (score, data, shown, f)
    return None if best is None else best[1:]


def auto_rez_curve(settings: Sequence[float]) -> BenchCodec:
    """AUTO-REZ as a curve: at each target bpp, :func:`auto_rez` within target_bpp x pixels / 8 bytes.

    Its "bytes" are the AVIF file plus 5 bytes for the original height, width and the factor (what
    sr_codec's payload header carries for it)."""
    import struct

    HEADER = struct.Struct(">HHB")

    def encode(image: np.ndarray, target_bpp: float) -> bytes:
        max_bytes = max(1, int(target_bpp * image.shape[0] * image.shape[1] / 8) - HEADER.size)
        found = auto_rez(image, max_bytes)
        if found is None:  # nothing fits: the smallest there is
            found = auto_rez(image, 1 << 30, factors=(max(AUTO_REZ_FACTORS),))
        data, _, factor = found
        return HEADER.pack(image.shape[0], image.shape[1], factor) + data

    def decode(blob: bytes) -> np.ndarray:
        h, w, factor = HEADER.unpack(blob[:HEADER.size])
        data = blob[HEADER.size:]
        shown = inner_codecs.by_name("avif").as_plain_file().decode(data)
        return shown if factor == 1 else _lanczos(shown, h, w)

    return BenchCodec(key="auto-rez", label="AUTO-REZ (best shrink 1-6 + AVIF + Lanczos)", role="classical", scale=0,
                      settings=tuple(settings), setting_name="target_bpp", encode=encode, decode=decode,
                      encode_key="auto-rez", decode_key="",
                      note="per photo, the best of shrink factors 1/2/3/4/6 (Lanczos) + a plain AVIF file (speed 6) "
                           "+ Lanczos back up, picked by RGB PSNR at the byte budget")
