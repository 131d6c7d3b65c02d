"""Rate-distortion curves: interpolation along a curve and Bjøntegaard deltas (numpy; scipy only for PCHIP).

* :func:`interpolate` is the one rule for reading a curve between its measured points: linear
  in log-rate, never extrapolated unless asked (rate control's gain table clamps at its ends).
* **BD-rate** follows VCEG-M33 (Bjøntegaard 2001): log-rate fitted by a cubic polynomial of
  PSNR, integrated over the PSNR range both curves cover. Negative means the test curve needs
  fewer bytes than the reference for the same PSNR.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def interpolate(
    xs: Sequence[float], ys: Sequence[float], x: float, *, log_x: bool = True, monotone: bool = False,
    clamp: bool = False,
) -> float | None:
    """y of the curve through (``xs``, ``ys``) at ``x``, piecewise linear (in log x when ``log_x``).

    ``monotone``: ys are replaced by their running maximum along increasing x (a noisy sweep never
    says that more rate buys less). Outside the curve's x range: its end value when ``clamp``, else None.
    """
    order = np.argsort(np.asarray(xs, np.float64), kind="stable")
    x_knots = np.asarray(xs, np.float64)[order]
    y_knots = np.asarray(ys, np.float64)[order]
    if len(x_knots) == 0:
        return None
    if log_x:
        x_knots, x = np.log(x_knots), math.log(x)
    if monotone:
        y_knots = np.maximum.accumulate(y_knots)
    if not clamp and not x_knots[0] <= x <= x_knots[-1]:
        return None
    return float(np.interp(x, x_knots, y_knots))


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
    """Bytes the reference curve needs for ``psnr``: log-bytes linear in PSNR, made monotone, never extrapolated."""
    r, q = _clean_curve(bytes_ref, psnr_ref)
    log_bytes = interpolate(q, np.log(r), psnr, log_x=False, monotone=True)
    return None if log_bytes is None else float(np.exp(log_bytes))


def psnr_at_rate(rates: Sequence[float], psnrs: Sequence[float], rate: float) -> float | None:
    """PSNR the curve reaches at ``rate`` (bytes or bpp): linear in log-rate, monotone, never extrapolated."""
    return interpolate(rates, psnrs, rate, monotone=True)


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
