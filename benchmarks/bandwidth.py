"""Bytes saved versus picture quality: sr_codec against JPEG, WebP and AVIF at full resolution.

    python -m benchmarks.bandwidth [--data DIR] [--scales 1 2 4 10] [--codecs jpeg,webp,avif]
                                   [--qualities ...] [--out results/] [--limit N]

For every image, every *method* (one rate-distortion curve) is swept over its settings; each
point records the bytes a chat app would send, bits per pixel, and the RGB PSNR and MS-SSIM of
what the receiver displays against the original. The methods separate where a saving comes from:

* **JPEG / WebP / AVIF**: the classical codecs at full resolution, as ordinary files from Pillow
  at fixed, generous settings (:data:`CLASSICAL_OPTIONS`).
* **(a) x1**: sr_codec at scale 1: the inner codec at full resolution in sr_codec's payload
  (no downsampling, no network); its gap to the AVIF file is what sr_codec's container and
  inner-codec settings change on their own.
* **(b) xS bicubic**: downsample + inner codec + plain bicubic (``decode(model="bicubic")``).
* **(c) xS sr_codec**: the same payload decoded by the shipped network (``decode()``).
* **(d) auto**: rate control (``encode(scale="auto", max_bytes=N)``), when the library has it.

Rates are whole payloads (container included), never the inner bitstream alone. Curves are
averaged over images at each setting (the CompressAI convention) before Bjøntegaard deltas.
Adding a method is one entry in the list :func:`build_methods` returns.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from benchmarks import rd

DEFAULT_IMAGES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
"""Colour photos inside the scikit-image wheel (read from its package folder: nothing is fetched)."""

DEFAULT_SCALES = (1, 2, 4, 10)
DEFAULT_CODECS = ("jpeg", "webp", "avif")
DEFAULT_GRIDS: dict[str, tuple[float, ...]] = {
    "jpeg": (2, 5, 10, 20, 35, 55, 80),
    "webp": (0, 5, 15, 30, 55, 80),
    "avif": (0, 10, 20, 30, 45, 60, 80),
    "sr": (5, 20, 35, 50, 70, 90),
    # rate control: target bits per pixel, turned into max_bytes per image
    "auto": (0.03, 0.06, 0.12, 0.25),
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".avif", ".ppm"}
GRID_TARGET_BPP = (0.05, 0.1)  # the visual grid shows an sr_codec point in this range if there is one


# ----------------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Method:
    """One rate-distortion curve: how an image and a setting become sent bytes and a shown picture.

    Methods with the same ``encode_key`` share payloads (computed once per image and setting);
    with the same ``encode_key`` *and* ``decode_key`` they also share the decoded picture.
    """

    key: str  # file-name safe id
    label: str  # legend and table label
    role: str  # "classical", "bicubic", "network" or "auto"
    scale: int  # 1 for full-resolution methods; 0 for rate control (the library picks)
    settings: tuple[float, ...]
    setting_name: str  # "quality" or "target_bpp"
    encode: Callable[[np.ndarray, float], bytes]
    decode: Callable[[bytes], np.ndarray]
    encode_key: str
    decode_key: str
    note: str = ""


@dataclass(frozen=True)
class Point:
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


CLASSICAL_OPTIONS: dict[str, tuple[str, dict]] = {
    # Pillow format and options besides quality: each codec at its best practical settings, fixed
    # here so that tuning sr_codec's inner codecs (e.g. a faster AVIF speed) never moves the baseline.
    "jpeg": ("JPEG", {"optimize": True, "subsampling": 2}),  # optimised Huffman tables, 4:2:0
    "webp": ("WEBP", {"method": 6}),  # slowest, best WebP
    "avif": ("AVIF", {"speed": 6, "subsampling": "4:2:0"}),  # Pillow's default speed
}


def _file_encoder(name: str) -> Callable[[np.ndarray, float], bytes]:
    """A complete, standard image file from Pillow (for AVIF: container included, unlike sr_codec's inner AVIF)."""
    pil_format, options = CLASSICAL_OPTIONS[name]

    def encode(image: np.ndarray, quality: float) -> bytes:
        from PIL import Image

        q = max(1, int(quality)) if name == "jpeg" else int(quality)  # libjpeg has no quality 0
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(image), "RGB").save(buf, pil_format, quality=q, **options)
        return buf.getvalue()

    return encode


def _file_decoder(pil_format: str) -> Callable[[bytes], np.ndarray]:
    def decode(data: bytes) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(data), formats=[pil_format]) as im:
            return np.asarray(im.convert("RGB"))

    return decode


def _classical_method(name: str, settings: Sequence[float]) -> Method:
    pil_format, options = CLASSICAL_OPTIONS[name]
    return Method(
        key=name,
        label=f"{'WebP' if name == 'webp' else name.upper()} full res",
        role="classical",
        scale=1,
        settings=tuple(settings),
        setting_name="quality",
        encode=_file_encoder(name),
        decode=_file_decoder(pil_format),
        encode_key=f"file:{name}",
        decode_key="",
        note=f"a complete .{'jpg' if name == 'jpeg' else name} file from Pillow, options {options}",
    )


def _network_model(scale: int) -> str:
    from sr_codec.models import zoo

    return zoo.default_model_id(scale)


def _sr_methods(scale: int, settings: Sequence[float]) -> list[Method]:
    """(b) and (c) for one scale: the same payloads, decoded by bicubic and by the network."""
    import sr_codec

    def encode(image: np.ndarray, quality: float, _s: int = scale) -> bytes:
        return sr_codec.encode(image, scale=_s, quality=int(quality))

    model = _network_model(scale)
    shared = dict(
        scale=scale, settings=tuple(settings), setting_name="quality", encode=encode, encode_key=f"sr:x{scale}"
    )
    if scale == 1:
        bicubic_label, bicubic_note = "(a) x1 inner codec only", "sr_codec payload at scale 1, no network"
    else:
        bicubic_label, bicubic_note = f"(b) x{scale} bicubic", "downsample + inner codec + bicubic"
    methods = [
        Method(
            key=f"bicubic-x{scale}",
            label=bicubic_label,
            role="bicubic",
            decode=lambda payload: sr_codec.decode(payload, model="bicubic"),
            decode_key="model:bicubic",
            note=bicubic_note,
            **shared,
        )
    ]
    if scale == 1 and model == "bicubic":
        return methods  # no artifact-removal network: x1 with a network would repeat (a)
    methods.append(
        Method(
            key=f"sr_codec-x{scale}",
            label=f"(c) x{scale} sr_codec" + (" [no network shipped: bicubic]" if model == "bicubic" else ""),
            role="network",
            decode=lambda payload: sr_codec.decode(payload),
            decode_key=f"model:{model}",
            note=f"downsample + inner codec + network ({model})",
            **shared,
        )
    )
    return methods


def auto_rate_control_available() -> bool:
    """Whether ``sr_codec.encode`` accepts ``scale="auto", max_bytes=N`` (rate control, path d)."""
    import sr_codec
    from sr_codec.errors import SrCodecError

    probe = np.zeros((48, 64, 3), np.uint8)
    probe[..., 0] = np.arange(64, dtype=np.uint8)[None, :] * 4
    probe[..., 1] = np.arange(48, dtype=np.uint8)[:, None] * 5
    try:
        sr_codec.encode(probe, scale="auto", max_bytes=4000)
    except (TypeError, ValueError, SrCodecError):
        return False
    return True


def _auto_method(settings: Sequence[float]) -> Method:
    import sr_codec

    def encode(image: np.ndarray, target_bpp: float) -> bytes:
        max_bytes = max(1, int(target_bpp * image.shape[0] * image.shape[1] / 8))
        return sr_codec.encode(image, scale="auto", max_bytes=max_bytes)

    return Method(
        key="sr_codec-auto",
        label="(d) sr_codec auto",
        role="auto",
        scale=0,
        settings=tuple(settings),
        setting_name="target_bpp",
        encode=encode,
        decode=lambda payload: sr_codec.decode(payload),
        encode_key="sr:auto",
        decode_key="model:default",
        note="rate control: encode(scale='auto', max_bytes=target_bpp x pixels / 8)",
    )


def build_methods(
    scales: Sequence[int],
    codecs: Sequence[str],
    grids: dict[str, tuple[float, ...]],
    include_auto: bool | None = None,
) -> list[Method]:
    """Every curve of the benchmark. ``include_auto=None`` detects rate control in the library."""
    methods = [_classical_method(name, grids[name]) for name in codecs]
    for scale in scales:
        methods += _sr_methods(int(scale), grids["sr"])
    if include_auto is None:
        include_auto = auto_rate_control_available()
    if include_auto:
        methods.append(_auto_method(grids["auto"]))
    return methods


# ------------------------------------------------------------------------------------ images


def default_image_paths() -> list[Path]:
    """The built-in set: colour photos inside scikit-image's package folder (no download)."""
    import skimage.data

    folder = Path(skimage.data.__file__).resolve().parent
    return [folder / name for name in DEFAULT_IMAGES if (folder / name).is_file()]


def image_paths(data: str | Path | None) -> list[Path]:
    if data is None:
        return default_image_paths()
    folder = Path(data)
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: Path) -> np.ndarray:
    """uint8 H x W x 3 RGB, EXIF orientation applied, alpha dropped, greyscale expanded."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"))


# ------------------------------------------------------------------------------------- sweep


def measure(method: Method, image: np.ndarray, setting: float, name: str = "") -> tuple[Point, bytes, np.ndarray]:
    """Encode and decode one point; the rate is ``len`` of what ``method.encode`` returns, all of it."""
    payload = method.encode(image, setting)
    decoded = method.decode(payload)
    return _point(method, image, setting, name, payload, decoded), payload, decoded


def _point(method: Method, image: np.ndarray, setting: float, name: str, payload: bytes, decoded: np.ndarray) -> Point:
    h, w = image.shape[:2]
    if decoded.shape != image.shape:
        raise RuntimeError(f"{method.key} decoded {decoded.shape} for an original of {image.shape}")
    return Point(
        image=name,
        method=method.key,
        role=method.role,
        scale=method.scale,
        setting_name=method.setting_name,
        setting=float(setting),
        height=h,
        width=w,
        bytes=len(payload),
        bpp=rd.bits_per_pixel(len(payload), h, w),
        psnr=rd.psnr_rgb(image, decoded),
        ms_ssim=rd.ms_ssim(image, decoded) if min(h, w) >= rd.MS_SSIM_MIN_SIDE else math.nan,
    )


def sweep(
    images: Sequence[tuple[str, np.ndarray]],
    methods: Sequence[Method],
    keep_pictures_of: int | None = 0,
    progress: bool = True,
) -> tuple[list[Point], dict[tuple[str, float], np.ndarray]]:
    """Measure every (image, method, setting). Returns the points and the decoded pictures of image
    number ``keep_pictures_of`` (for the visual grid)."""
    from tqdm import tqdm

    total = len(images) * sum(len(m.settings) for m in methods)
    points: list[Point] = []
    pictures: dict[tuple[str, float], np.ndarray] = {}
    with tqdm(total=total, desc="bandwidth", unit="pt", disable=not progress, file=sys.stderr) as bar:
        for index, (name, image) in enumerate(images):
            payloads: dict[tuple[str, float], bytes] = {}
            measured: dict[tuple[str, str, float], tuple[Point, np.ndarray]] = {}
            for method in methods:
                for setting in method.settings:
                    bar.set_postfix_str(f"{name} {method.key} {setting:g}")
                    same = (method.encode_key, method.decode_key, setting)
                    if same in measured:  # identical bytes and picture: e.g. (c) while no network ships
                        first, decoded = measured[same]
                        point = Point(**{**asdict(first), "method": method.key, "role": method.role})
                    else:
                        pkey = (method.encode_key, setting)
                        if pkey not in payloads:
                            payloads[pkey] = method.encode(image, setting)
                        decoded = method.decode(payloads[pkey])
                        point = _point(method, image, setting, name, payloads[pkey], decoded)
                        if method.decode_key:
                            measured[same] = (point, decoded)
                    points.append(point)
                    if index == keep_pictures_of:
                        pictures[(method.key, setting)] = decoded
                    bar.update()
    return points, pictures


# ------------------------------------------------------------------------------------ curves


@dataclass(frozen=True)
class Curve:
    method: Method
    settings: list[float]
    bytes: list[float]  # mean payload bytes per image
    bpp: list[float]
    psnr: list[float]
    ms_ssim: list[float]


def mean_curves(points: Sequence[Point], methods: Sequence[Method]) -> dict[str, Curve]:
    """Average each method's points over images at every setting."""
    groups: dict[tuple[str, float], list[Point]] = defaultdict(list)
    for p in points:
        groups[(p.method, p.setting)].append(p)
    curves = {}
    for m in methods:
        rows = [groups[(m.key, s)] for s in m.settings if groups.get((m.key, s))]
        if not rows:
            continue
        curves[m.key] = Curve(
            method=m,
            settings=[r[0].setting for r in rows],
            bytes=[float(np.mean([p.bytes for p in r])) for r in rows],
            bpp=[float(np.mean([p.bpp for p in r])) for r in rows],
            psnr=[float(np.mean([p.psnr for p in r])) for r in rows],
            ms_ssim=[float(np.mean([p.ms_ssim for p in r])) for r in rows],
        )
    return curves


def psnr_at_bytes(curve: Curve, num_bytes: float) -> float | None:
    """PSNR the curve reaches at ``num_bytes`` (linear in log-bytes); ``None`` outside its range."""
    order = np.argsort(curve.bytes)
    b = np.log(np.asarray(curve.bytes)[order])
    q = np.maximum.accumulate(np.asarray(curve.psnr)[order])
    x = math.log(num_bytes)
    return float(np.interp(x, b, q)) if b[0] <= x <= b[-1] else None


# ----------------------------------------------------------------------------------- outputs


def _fmt_bytes(n: float | None) -> str:
    if n is None:
        return "—"
    return f"{n / 1000:.1f} KB" if n >= 10_000 else f"{n / 1000:.2f} KB"


def _fmt_pct(v: float | None) -> str:
    return "no overlap" if v is None else f"{v:+.1f} %"


def _fmt_db(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f} dB"


def _saving_cell(reference: Curve, psnr: float, num_bytes: float) -> str:
    ref = rd.interpolate_bytes_at_psnr(reference.bytes, reference.psnr, psnr)
    if ref is None:
        return "out of range"
    return f"{_fmt_bytes(ref)} ({(1 - num_bytes / ref) * 100:+.0f} %)".replace("(+", "(saves ").replace(
        "(-", "(costs +"
    )


def _headline_point(curve: Curve) -> int:
    """Index of the point at the library's default quality (50), else the middle one."""
    for i, s in enumerate(curve.settings):
        if curve.method.setting_name == "quality" and s == 50:
            return i
    return len(curve.settings) // 2


def _bd_pair(ref: Curve, test: Curve) -> tuple[float | None, float | None]:
    try:
        return rd.bd_rate(ref.bpp, ref.psnr, test.bpp, test.psnr), rd.bd_psnr(ref.bpp, ref.psnr, test.bpp, test.psnr)
    except ValueError:  # fewer than 2 usable points
        return None, None


def summary_markdown(
    curves: dict[str, Curve],
    images: Sequence[tuple[str, np.ndarray]],
    command: str,
    wall_s: float,
    data_label: str,
    files: dict[str, str],
) -> str:
    classical = [c for c in curves.values() if c.method.role == "classical"]
    tested = [c for c in curves.values() if c.method.role != "classical"]
    megapixels = np.mean([im.shape[0] * im.shape[1] for _, im in images]) / 1e6
    lines = [
        "# Bandwidth benchmark: bytes sent versus picture quality",
        "",
        f"Command: `{command}`  ",
        f"Data: {data_label}: {len(images)} images, mean {megapixels:.2f} megapixels "
        f"({', '.join(f'{n} {im.shape[1]}x{im.shape[0]}' for n, im in images)}).  ",
        f"Wall time (loading, sweep, plots): {wall_s:.0f} s on {os.cpu_count()} CPU cores "
        f"({platform.machine()}, Python {platform.python_version()}).",
        "",
        "Bytes are what a chat app sends per photo: the whole sr_codec payload (container included) or the whole",
        "classical file. PSNR is RGB PSNR of the full-resolution picture the receiver shows against the original;",
        "MS-SSIM is 5-scale RGB MS-SSIM. Values are means over the images at each setting (KB = 1000 bytes).",
        "Networks per scale: "
        + ", ".join(
            f"x{c.method.scale}: {c.method.decode_key.removeprefix('model:')}"
            for c in tested
            if c.method.role == "network"
        )
        + ".",
        "",
    ]
    if any(c.method.role == "network" and c.method.decode_key == "model:bicubic" for c in tested):
        lines += [
            "**No network is shipped yet for some scales**: their (c) rows decode with bicubic and equal (b).",
            "",
        ]
    # headline
    lines += ["## At the default quality", ""]
    header = "| method | bytes | bpp | PSNR | MS-SSIM | " + " | ".join(
        f"{c.method.label.split()[0]} at same PSNR | {c.method.label.split()[0]} PSNR at same bytes" for c in classical
    )
    lines += [header + " |", "|" + "---|" * (5 + 2 * len(classical))]
    for c in tested:
        i = _headline_point(c)
        cells = [
            f"{c.method.label} ({c.method.setting_name} {c.settings[i]:g})",
            _fmt_bytes(c.bytes[i]),
            f"{c.bpp[i]:.3f}",
            f"{c.psnr[i]:.2f} dB",
            f"{c.ms_ssim[i]:.4f}",
        ]
        for ref in classical:
            cells += [_saving_cell(ref, c.psnr[i], c.bytes[i]), _fmt_db(psnr_at_bytes(ref, c.bytes[i]))]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "\"out of range\" / \"—\": the classical codec's quality sweep never reaches that PSNR or that size",
        "(see the classical ranges below); we never extrapolate.",
        "",
    ]
    # BD-rate
    lines += [
        "## BD-rate against each classical codec",
        "",
        "Bjøntegaard delta rate (VCEG-M33 cubic fit of log-rate in PSNR, on the mean curves, over the PSNR range",
        "both curves cover): negative = fewer bytes than the codec for the same PSNR. BD-PSNR: dB gained at equal",
        "rate over the byte range both cover. \"no overlap\": the two curves share no PSNR (or rate) range.",
        "In brackets: the PSNR range a BD-rate averages over; a narrow one makes it a local, less stable number.",
        "",
    ]
    header = "| method | PSNR range | " + " | ".join(f"vs {c.method.label.split()[0]}" for c in classical)
    header += " | " + " | ".join(f"BD-PSNR vs {c.method.label.split()[0]}" for c in classical) + " |"
    lines += [header, "|" + "---|" * (2 + 2 * len(classical))]
    for c in tested:
        pairs = [_bd_pair(ref, c) for ref in classical]
        rate_cells = []
        for ref, (rate, _) in zip(classical, pairs):
            lo, hi = max(min(ref.psnr), min(c.psnr)), min(max(ref.psnr), max(c.psnr))
            rate_cells.append(_fmt_pct(rate) + ("" if rate is None else f" ({lo:.1f}–{hi:.1f} dB)"))
        lines.append(
            f"| {c.method.label} | {min(c.psnr):.1f}–{max(c.psnr):.1f} dB | "
            + " | ".join(rate_cells)
            + " | "
            + " | ".join("no overlap" if p is None else f"{p:+.2f} dB" for _, p in pairs)
            + " |"
        )
    lines.append("")
    # what the network adds
    scales = sorted({c.method.scale for c in tested if c.method.role == "network"})
    if scales:
        lines += [
            "## What the network adds (c) over bicubic (b), same payloads",
            "",
            "| scale | network | BD-rate (c) vs (b) | BD-PSNR (c) vs (b) | PSNR gain at default quality |",
            "|---|---|---|---|---|",
        ]
        for s in scales:
            b, n = curves.get(f"bicubic-x{s}"), curves.get(f"sr_codec-x{s}")
            if b is None or n is None:
                continue
            rate, gain = _bd_pair(b, n)
            i = _headline_point(n)
            lines.append(
                f"| x{s} | {n.method.decode_key.removeprefix('model:')} | {_fmt_pct(rate)} | "
                f"{'no overlap' if gain is None else f'{gain:+.2f} dB'} | {n.psnr[i] - b.psnr[i]:+.2f} dB |"
            )
        lines.append("")
    # per point
    lines += [
        "## Bytes saved at equal PSNR, point by point",
        "",
        "Each cell: the bytes the classical codec needs for the same mean PSNR (log-linear interpolation between its",
        "measured qualities) and the share of them sr_codec saves.",
        "",
    ]
    for c in tested:
        lines += [f"### {c.method.label}", ""]
        header = f"| {c.method.setting_name} | bytes | bpp | PSNR | MS-SSIM | " + " | ".join(
            c2.method.label.split()[0] for c2 in classical
        )
        lines += [header + " |", "|" + "---|" * (5 + len(classical))]
        for i, s in enumerate(c.settings):
            cells = [f"{s:g}", _fmt_bytes(c.bytes[i]), f"{c.bpp[i]:.3f}", f"{c.psnr[i]:.2f}", f"{c.ms_ssim[i]:.4f}"]
            cells += [_saving_cell(ref, c.psnr[i], c.bytes[i]) for ref in classical]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Classical codecs at full resolution", ""]
    for c in classical:
        lines += [
            f"**{c.method.label}** ({c.method.note}): "
            + ", ".join(f"q{s:g}: {_fmt_bytes(b)} {p:.2f} dB" for s, b, p in zip(c.settings, c.bytes, c.psnr)),
            "",
        ]
    lines += ["## Files", ""] + [f"- {what}: `{path}`" for what, path in files.items()] + [""]
    return "\n".join(lines)


_SCALE_COLOURS = {1: "tab:brown", 2: "tab:blue", 4: "tab:red", 10: "tab:green"}
_CODEC_STYLE = {"jpeg": ("0.55", "s"), "webp": ("tab:purple", "^"), "avif": ("black", "o")}


def plot_rd(curves: dict[str, Curve], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    for c in curves.values():
        m = c.method
        if m.role == "classical":
            colour, marker = _CODEC_STYLE.get(m.key, ("0.3", "x"))
            style = dict(color=colour, marker=marker, linestyle="-", linewidth=2)
        elif m.role == "auto":
            style = dict(color="tab:orange", marker="*", linestyle="-", linewidth=2)
        else:
            colour = _SCALE_COLOURS.get(m.scale, "tab:cyan")
            style = dict(color=colour, marker="." if m.role == "bicubic" else "D", markersize=5,
                         linestyle="--" if m.role == "bicubic" else "-", linewidth=1.2 if m.role == "bicubic" else 2)
        axes[0].plot(c.bpp, c.psnr, label=m.label, **style)
        axes[1].plot(c.bpp, c.ms_ssim, label=m.label, **style)
    for ax, ylabel in zip(axes, ("RGB PSNR (dB)", "MS-SSIM (RGB)")):
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel (whole payload / file), log scale")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _detail_crop(image: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left corner of the ``side`` x ``side`` window with the most gradient energy (coarse search)."""
    grey = image.astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    integral = np.pad(energy, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    h, w = energy.shape
    best, corner = -1.0, (0, 0)
    step = max(1, side // 8)
    for y in range(0, max(1, h - side + 1), step):
        for x in range(0, max(1, w - side + 1), step):
            y1, x1 = min(y + side, h), min(x + side, w)
            total = integral[y1, x1] - integral[y, x1] - integral[y1, x] + integral[y, x]
            if total > best:
                best, corner = total, (y, x)
    return corner


def _closest(values: Sequence[float], target: float) -> int:
    return int(np.argmin([abs(math.log(v) - math.log(target)) for v in values]))


def choose_grid_points(
    points: Sequence[Point], methods: Sequence[Method], image_name: str
) -> list[tuple[Method, Point]] | None:
    """sr_codec's point nearest 0.05–0.1 bpp on ``image_name``, and the JPEG/AVIF points of closest bytes."""
    by_key = {m.key: m for m in methods}
    mine = [p for p in points if p.image == image_name]
    candidates = [p for p in mine if p.role == "network"] or [p for p in mine if p.role == "bicubic" and p.scale > 1]
    if not candidates:
        return None
    preferred = [p for p in candidates if p.scale == 4] or candidates
    lo, hi = GRID_TARGET_BPP
    in_range = [p for p in preferred if lo <= p.bpp <= hi]
    pool = in_range or preferred
    target = math.sqrt(lo * hi)
    sr_point = pool[_closest([p.bpp for p in pool], target)]
    chosen = [(by_key[sr_point.method], sr_point)]
    bicubic_twin = [
        p for p in mine if p.method == f"bicubic-x{sr_point.scale}" and p.setting == sr_point.setting
    ]
    if sr_point.role == "network" and by_key[sr_point.method].decode_key != "model:bicubic" and bicubic_twin:
        chosen.append((by_key[bicubic_twin[0].method], bicubic_twin[0]))
    for codec in ("jpeg", "avif"):
        pts = [p for p in mine if p.method == codec]
        if pts:
            p = pts[_closest([q.bytes for q in pts], sr_point.bytes)]
            chosen.append((by_key[codec], p))
    return chosen


def plot_grid(
    original: np.ndarray,
    chosen: Sequence[tuple[Method, Point]],
    pictures: dict[tuple[str, float], np.ndarray],
    path: Path,
    image_name: str,
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = max(16, min(224, original.shape[0] // 2, original.shape[1] // 2))
    y, x = _detail_crop(original, side)
    panels = [(f"original\n{image_name} {original.shape[1]}x{original.shape[0]}", original)]
    for method, p in chosen:
        panels.append(
            (
                f"{method.label}\n{method.setting_name} {p.setting:g}: {p.bytes:,} B, {p.psnr:.2f} dB",
                pictures[(method.key, p.setting)],
            )
        )
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.8))
    for ax, (title, picture) in zip(np.atleast_1d(axes), panels):
        ax.imshow(picture[y : y + side, x : x + side], interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(f"Crops at about the same bytes ({side}x{side} px at ({x}, {y}), shown enlarged)", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(
    out: Path,
    points: Sequence[Point],
    methods: Sequence[Method],
    images: Sequence[tuple[str, np.ndarray]],
    pictures: dict[tuple[str, float], np.ndarray],
    command: str,
    started: float,
    data_label: str,
) -> dict[str, Path]:
    """Write the points JSON, one CompressAI JSON per curve, the Markdown summary and both PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    curves = mean_curves(points, methods)
    files: dict[str, Path] = {
        "every point (JSON)": out / "bandwidth_points.json",
        "summary (Markdown)": out / "bandwidth.md",
        "RD curves (PNG)": out / "bandwidth_rd.png",
        "visual grid (PNG)": out / "bandwidth_grid.png",
    }
    meta = {
        "command": command,
        "data": data_label,
        "images": [{"name": n, "height": im.shape[0], "width": im.shape[1]} for n, im in images],
        "sweep_wall_s": round(time.perf_counter() - started, 1),
        "methods": [
            {"key": m.key, "label": m.label, "role": m.role, "scale": m.scale, "setting_name": m.setting_name,
             "settings": list(m.settings), "note": m.note}
            for m in methods
        ],
        "rate": "bytes = len(whole payload or file); bpp = 8 * bytes / original pixels",
    }
    files["every point (JSON)"].write_text(json.dumps({"meta": meta, "points": [asdict(p) for p in points]}, indent=1))
    for key, c in curves.items():
        result = rd.compressai_result(
            name=f"sr_codec-bench {c.method.label}",
            description=f"{c.method.note}; mean over {len(images)} images ({data_label}) "
            f"at each {c.method.setting_name}",
            bpp=c.bpp,
            psnr=c.psnr,
            ms_ssim_values=c.ms_ssim,
            **{c.method.setting_name: c.settings, "bytes": c.bytes},
        )
        files[f"CompressAI curve {key}"] = rd.write_compressai_json(out / "compressai" / f"{key}.json", result)
    plot_rd(curves, files["RD curves (PNG)"], f"{data_label}: {len(images)} images, mean of each setting")
    first_name, first_image = images[0]
    chosen = choose_grid_points(points, methods, first_name)
    if chosen:
        plot_grid(first_image, chosen, pictures, files["visual grid (PNG)"], first_name)
    else:
        del files["visual grid (PNG)"]
    shown = {k: str(v) for k, v in files.items() if not k.startswith("CompressAI")}
    shown["CompressAI-shaped curves"] = str(out / "compressai" / "*.json")
    wall_s = time.perf_counter() - started
    files["summary (Markdown)"].write_text(summary_markdown(curves, images, command, wall_s, data_label, shown))
    return files


# --------------------------------------------------------------------------------------- CLI


def parse_qualities(tokens: Sequence[str] | None) -> dict[str, tuple[float, ...]]:
    """``["10,50,90"]`` sets every grid; ``["avif=0,20,40", "sr=30,60"]`` sets named ones."""
    grids = dict(DEFAULT_GRIDS)
    for token in tokens or ():
        name, _, values = token.rpartition("=")
        parsed = tuple(float(v) for v in values.split(",") if v.strip())
        if not parsed:
            raise SystemExit(f"--qualities: no values in {token!r}")
        if name:
            if name not in grids:
                raise SystemExit(f"--qualities: unknown grid {name!r}; use one of {sorted(grids)}")
            grids[name] = parsed
        else:
            grids.update({k: parsed for k in grids if k != "auto"})
    return grids


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bandwidth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder of images (default: scikit-image's sample photos, no download)")
    parser.add_argument("--scales", type=int, nargs="+", default=list(DEFAULT_SCALES),
                        help="sr_codec scales; 1 = inner codec at full resolution in the payload (default 1 2 4 10)")
    parser.add_argument("--codecs", default=",".join(DEFAULT_CODECS), help="classical codecs (default jpeg,webp,avif)")
    parser.add_argument("--qualities", nargs="+", metavar="[GRID=]Q,Q,...",
                        help="override quality grids: a bare list sets all; GRID is one of jpeg, webp, avif, sr, auto"
                        " (auto: target bits per pixel)")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument("--limit", type=int, help="use only the first N images")
    parser.add_argument("--no-auto", action="store_true", help="skip rate control even when available")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    codecs = [c.strip().lower() for c in args.codecs.split(",") if c.strip()]
    unknown = set(codecs) - set(DEFAULT_CODECS)
    if unknown:
        parser.error(f"unknown codecs {sorted(unknown)}; choose from {','.join(DEFAULT_CODECS)}")
    grids = parse_qualities(args.qualities)
    paths = image_paths(args.data)[: args.limit]
    if not paths:
        parser.error(f"no images found in {args.data}")
    images = [(p.stem, load_rgb(p)) for p in paths]
    methods = build_methods(args.scales, codecs, grids, include_auto=False if args.no_auto else None)
    points, pictures = sweep(images, methods, progress=not args.quiet)
    command = "python -m benchmarks.bandwidth" + (" " + " ".join(sys.argv[1:] if argv is None else argv)).rstrip()
    data_label = f"folder {args.data}" if args.data else "scikit-image sample photos"
    files = write_outputs(Path(args.out), points, methods, images, pictures, command, started, data_label)
    print(Path(files["summary (Markdown)"]).read_text().split("## BD-rate")[0])
    print(f"wrote {len(files)} files to {args.out}/ in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
