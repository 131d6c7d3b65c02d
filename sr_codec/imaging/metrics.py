"""Image quality metrics used by rate control, training, tests and benchmarks (numpy only, no TensorFlow).

Conventions, so numbers compare with compression and super-resolution papers:

* **PSNR** is RGB PSNR over all pixels and channels (``psnr-rgb`` in CompressAI's files);
  :func:`psnr_y` is the super-resolution protocol's BT.601 luma PSNR.
* **MS-SSIM** is Wang, Simoncelli & Bovik (2003), 5 scales, Gaussian window 11 / sigma 1.5,
  computed per RGB channel and averaged (as CompressAI's ``ms-ssim-rgb`` via pytorch_msssim).
* **bpp** (bits per pixel) = 8 x the *whole* transmitted bytes / pixels of the original image.
"""

from __future__ import annotations

import numpy as np


def psnr_from_mse(mse: float, peak: float = 255.0) -> float:
    """The one PSNR formula: ``10 log10(peak^2 / mse)`` dB; ``inf`` for a zero error."""
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak * peak / mse))


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all pixels and channels; ``inf`` for identical images."""
    ref = np.asarray(reference, np.float64)
    tst = np.asarray(test, np.float64)
    if ref.shape != tst.shape:
        raise ValueError(f"shape mismatch {ref.shape} vs {tst.shape}")
    return psnr_from_mse(float(np.mean((ref - tst) ** 2)), peak)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luma in the 16..235 range (as MATLAB ``rgb2ycbcr``), float64."""
    rgb = np.asarray(rgb, np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]) / 255.0


def psnr_y(reference: np.ndarray, test: np.ndarray, shave: int = 0) -> float:
    """The super-resolution protocol: PSNR on BT.601 Y with ``shave`` pixels dropped at each border.

    Y is rounded to integers as MATLAB's ``rgb2ycbcr`` does on uint8 input; this is what makes
    bicubic x4 on Set5 read the published 28.42 dB.
    """
    ref, tst = np.round(rgb_to_y(reference)), np.round(rgb_to_y(test))
    if shave:
        ref, tst = ref[shave:-shave, shave:-shave], tst[shave:-shave, shave:-shave]
    return psnr(ref, tst)


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` (the protocol's HR preparation)."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def bits_per_pixel(num_bytes: int, height: int, width: int) -> float:
    """8 x bytes / (height x width): the rate unit of compression papers."""
    return 8.0 * num_bytes / float(height * width)


# ------------------------------------------------------------------------------------------ MS-SSIM

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WINDOW = 11
MS_SSIM_MIN_SIDE = _WINDOW
_SIGMA = 1.5


def _gaussian_window(size: int = _WINDOW, sigma: float = _SIGMA) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable filter over axes 0 and 1 keeping only the 'valid' region (as MATLAB filter2): shifted sums."""
    n = len(window)
    h, w = image.shape[0] - n + 1, image.shape[1] - n + 1
    rows = sum(window[k] * image[k : k + h] for k in range(n))
    return sum(window[k] * rows[:, k : k + w] for k in range(n))


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
