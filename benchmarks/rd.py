"""Rate-distortion measurement: metrics, Bjøntegaard deltas and CompressAI-shaped result files.

Conventions, so numbers compare with compression papers:

* **bpp** (bits per pixel) = 8 x the *whole* transmitted bytes / pixels of the original image.
  For sr_codec that is the full payload (container, header and inner bitstream); for a classical
  codec it is the whole file Pillow writes (AVIF's HEIF boxes included).
* **PSNR** is RGB PSNR over all pixels and channels (``psnr-rgb`` in CompressAI's files).
* **MS-SSIM** is Wang, Simoncelli & Bovik (2003), 5 scales, Gaussian window 11 / sigma 1.5,
  computed per RGB channel and averaged (as CompressAI's ``ms-ssim-rgb`` via pytorch_msssim).
* **BD-rate** follows VCEG-M33 (Bjøntegaard 2001): log-rate fitted by a cubic polynomial of
  PSNR, integrated over the PSNR range both curves cover. Negative means the test curve needs
  fewer bytes than the reference for the same PSNR.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.ndimage import correlate1d

try:  # optional accelerator for the Gaussian filtering of MS-SSIM
    import cv2 as _cv2
except ImportError:  # pragma: no cover - opencv is optional
    _cv2 = None

from sr_codec.metrics import psnr as _psnr

__all__ = [
    "psnr_rgb",
    "ms_ssim",
    "bits_per_pixel",
    "bd_rate",
    "bd_psnr",
    "bytes_saved_at_equal_psnr",
    "compressai_result",
    "write_compressai_json",
]

# --------------------------------------------------------------------------------------- metrics

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = 11
MS_SSIM_MIN_SIDE = _WINDOW
_SIGMA = 1.5


def psnr_rgb(reference: np.ndarray, test: np.ndarray) -> float:
    """RGB PSNR in dB (uint8 peak 255) over all pixels and channels; ``inf`` when identical."""
    return _psnr(reference, test)


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """8 x bytes / (height x width): the rate unit of compression papers."""
    return 8.0 * num_bytes / float(height * width)


def _gaussian_window(size: int = _WINDOW, sigma: float = _SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian filter over axes 0 and 1 keeping only the 'valid' region (as MATLAB filter2).

    OpenCV's float64 separable filter is used when installed (about 6x faster than scipy on
    these CPUs, identical to 1e-15); the cropped 'valid' region never sees the border rule.
    """
    half = len(window) // 2
    if _cv2 is not None and image.ndim == 3 and image.shape[2] <= 4:
        out = _cv2.sepFilter2D(image, -1, window, window, borderType=_cv2.BORDER_CONSTANT)
        out = out.reshape(image.shape)
    else:
        out = correlate1d(image, window, axis=0, mode="constant")
        out = correlate1d(out, window, axis=1, mode="constant")
    return out[half : image.shape[0] - half, half : image.shape[1] - half]


def _ssim_terms(
    x: np.ndarray, y: np.ndarray, peak: float, with_luminance: bool
) -> tuple[np.ndarray | None, np.ndarray]:
    """Per-channel means of the luminance term l (only if asked) and the contrast-structure term cs."""
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    w = _gaussian_window()
    mu_x, mu_y = _filter_valid(x, w), _filter_valid(y, w)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    variance_sum = _filter_valid(x * x + y * y, w) - mu_xx - mu_yy
    covariance = _filter_valid(x * y, w) - mu_xy
    cs = ((2.0 * covariance + c2) / (variance_sum + c2)).mean(axis=(0, 1))
    if not with_luminance:
        return None, cs
    lum = ((2.0 * mu_xy + c1) / (mu_xx + mu_yy + c1)).mean(axis=(0, 1))
    return lum, cs


def _halve(image: np.ndarray) -> np.ndarray:
    """2 x 2 average pooling (odd trailing row/column dropped), the MS-SSIM low-pass + decimation."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    im = image[:h, :w]
    return 0.25 * (im[0::2, 0::2] + im[1::2, 0::2] + im[0::2, 1::2] + im[1::2, 1::2])


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit: the coarsest scale must still hold one 11 x 11 window.

    The standard 5 scales need a side of at least 11 x 2**4 = 176 px. Smaller images use fewer
    scales (at least 1, i.e. plain SSIM for sides of 11..21 px) and the weights of the scales
    kept are renormalised to sum to 1, so the value stays in [0, 1] and comparable in spirit.
    """
    side = min(height, width)
    if side < _WINDOW:
        raise ValueError(f"MS-SSIM needs images of at least {_WINDOW} x {_WINDOW} px, got {height} x {width}")
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side // (2**scales) >= _WINDOW:
        scales += 1
    return scales


def ms_ssim(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Multi-scale SSIM (Wang et al. 2003) of two H x W x C (or H x W) images, averaged over channels.

    Gaussian window 11 / sigma 1.5, K1 = 0.01, K2 = 0.03, weights (0.0448, 0.2856, 0.3001,
    0.2363, 0.1333), 2 x 2 average pooling between scales. Negative contrast-structure values
    (possible for anti-correlated images) are clipped to 0 before the fractional powers, as
    TensorFlow's ``ssim_multiscale`` does. See :func:`ms_ssim_scales` for small images.
    """
    x = np.asarray(reference, np.float64)
    y = np.asarray(test, np.float64)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch {x.shape} vs {y.shape}")
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    scales = ms_ssim_scales(x.shape[0], x.shape[1])
    weights = np.asarray(MS_SSIM_WEIGHTS[:scales])
    weights = weights / weights.sum()
    per_channel = np.ones(x.shape[2])
    for level in range(scales):
        last = level == scales - 1
        lum, cs = _ssim_terms(x, y, peak, with_luminance=last)
        cs = np.maximum(cs, 0.0)
        if last:
            per_channel *= (np.maximum(lum, 0.0) * cs) ** weights[level]
        else:
            per_channel *= cs ** weights[level]
            x, y = _halve(x), _halve(y)
    return float(per_channel.mean())


# ---------------------------------------------------------------------------------- Bjøntegaard


def _clean_curve(rate: Sequence[float], quality: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, np.float64)
    q = np.asarray(quality, np.float64)
    if r.shape != q.shape or r.ndim != 1:
        raise ValueError("rate and quality must be 1-D sequences of the same length")
    keep = np.isfinite(r) & np.isfinite(q) & (r > 0)
    r, q = r[keep], q[keep]
    if len(r) < 2:
        raise ValueError("a Bjøntegaard curve needs at least 2 finite points with positive rate")
    return r, q


def _integral_of_fit(x: np.ndarray, y: np.ndarray, lo: float, hi: float, method: str) -> float:
    """Integral over [lo, hi] of y(x) fitted to the points (cubic polynomial or PCHIP)."""
    if method == "cubic":
        # VCEG-M33 uses 4 points and a cubic; with fewer points fall back to the highest exact degree.
        coeffs = np.polyfit(x, y, min(3, len(x) - 1))
        antiderivative = np.polyint(coeffs)
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    if method == "pchip":
        from scipy.interpolate import PchipInterpolator

        order = np.argsort(x)
        xs, ys = x[order], y[order]
        # PCHIP needs strictly increasing x: merge duplicates by averaging their y.
        ux, inverse = np.unique(xs, return_inverse=True)
        uy = np.bincount(inverse, weights=ys) / np.bincount(inverse)
        if len(ux) < 2:
            raise ValueError("a PCHIP Bjøntegaard curve needs at least 2 distinct points")
        return float(PchipInterpolator(ux, uy).integrate(lo, hi))
    raise ValueError(f"unknown Bjøntegaard fit {method!r}; use 'cubic' or 'pchip'")


def _overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float] | None:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    return (float(lo), float(hi)) if hi > lo else None


def bd_rate(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
    method: str = "cubic",
) -> float | None:
    """Bjøntegaard delta rate of curve B against reference curve A, in percent.

    ``-20.0`` means B needs 20 % fewer bits than A for the same PSNR, averaged over the PSNR
    range both curves cover. Rates can be bytes or bpp (only ratios matter). ``method="cubic"``
    is VCEG-M33 (log-rate as a cubic polynomial of PSNR, integrated); ``"pchip"`` replaces the
    polynomial by piecewise-cubic Hermite interpolation (the variant later adopted by JVET/AOM
    tools, robust to curves with many points). Returns ``None`` when the PSNR ranges do not overlap.
    """
    ra, qa = _clean_curve(rate_a, psnr_a)
    rb, qb = _clean_curve(rate_b, psnr_b)
    span = _overlap(qa, qb)
    if span is None:
        return None
    lo, hi = span
    int_a = _integral_of_fit(qa, np.log(ra), lo, hi, method)
    int_b = _integral_of_fit(qb, np.log(rb), lo, hi, method)
    return float((math.exp((int_b - int_a) / (hi - lo)) - 1.0) * 100.0)


def bd_psnr(
    rate_a: Sequence[float],
    psnr_a: Sequence[float],
    rate_b: Sequence[float],
    psnr_b: Sequence[float],
    method: str = "cubic",
) -> float | None:
    """Bjøntegaard delta PSNR of B against A in dB over the overlapping log-rate range (``None``: no overlap).

    Positive means B gives a higher PSNR than A at the same rate.
    """
    ra, qa = _clean_curve(rate_a, psnr_a)
    rb, qb = _clean_curve(rate_b, psnr_b)
    la, lb = np.log(ra), np.log(rb)
    span = _overlap(la, lb)
    if span is None:
        return None
    lo, hi = span
    int_a = _integral_of_fit(la, qa, lo, hi, method)
    int_b = _integral_of_fit(lb, qb, lo, hi, method)
    return float((int_b - int_a) / (hi - lo))


def interpolate_bytes_at_psnr(bytes_ref: Sequence[float], psnr_ref: Sequence[float], psnr: float) -> float | None:
    """Bytes the reference curve needs for ``psnr``: linear interpolation of log-bytes in PSNR.

    The curve's points are sorted by PSNR and made monotone (running maximum of bytes), so a
    noisy sweep never reports that more PSNR costs fewer bytes. ``None`` outside the curve's range:
    we never extrapolate.
    """
    r, q = _clean_curve(bytes_ref, psnr_ref)
    order = np.argsort(q)
    q, log_r = q[order], np.maximum.accumulate(np.log(r[order]))
    if not q[0] <= psnr <= q[-1]:
        return None
    return float(np.exp(np.interp(psnr, q, log_r)))


def bytes_saved_at_equal_psnr(
    bytes_ref: Sequence[float],
    psnr_ref: Sequence[float],
    bytes_test: Sequence[float],
    psnr_test: Sequence[float],
) -> list[dict]:
    """For each point of the test curve: what the reference needs for the same PSNR, and the saving.

    Returns one dict per test point with ``psnr``, ``bytes`` (test), ``reference_bytes``
    (interpolated, ``None`` when the test PSNR is outside the reference's range) and ``saved``
    (fraction of the reference's bytes saved, e.g. 0.25 = 25 % fewer bytes; ``None`` likewise).
    """
    out = []
    for b, q in zip(bytes_test, psnr_test):
        ref = interpolate_bytes_at_psnr(bytes_ref, psnr_ref, float(q)) if math.isfinite(q) else None
        out.append(
            {
                "psnr": float(q),
                "bytes": float(b),
                "reference_bytes": ref,
                "saved": None if ref is None else 1.0 - float(b) / ref,
            }
        )
    return out


# ------------------------------------------------------------------------- CompressAI-shaped output


def compressai_result(
    name: str,
    description: str,
    bpp: Iterable[float],
    psnr: Iterable[float],
    ms_ssim_values: Iterable[float],
    **extra: Iterable[float],
) -> dict:
    """One RD curve in the layout of CompressAI's ``results/*.json`` files."""
    results = {
        "bpp": [float(v) for v in bpp],
        "psnr-rgb": [float(v) for v in psnr],
        "ms-ssim-rgb": [float(v) for v in ms_ssim_values],
    }
    for key, values in extra.items():
        results[key.replace("_", "-")] = [float(v) for v in values]
    return {"name": name, "description": description, "results": results}


def write_compressai_json(path: str | Path, result: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
