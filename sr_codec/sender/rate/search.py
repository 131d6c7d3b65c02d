"""Monotone integer searches: the smallest quality reaching a target, the highest one fitting a budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

Q_MIN, Q_MAX = 0, 100
LOG_SIZE_PER_QUALITY = 0.038  # d ln(bytes) / d quality of AVIF, a prior for the first search steps
PSNR_PER_QUALITY = 0.12  # dB per quality step, likewise
FINITE_LIMIT = 1e6  # searched values (and targets) are clamped to +-this: PSNR is infinite for an exact decode


def first_at_least(
    f: Callable[[int], float],
    target: float,
    lo: int,
    hi: int,
    *,
    guess: int | None = None,
    known: Iterable[int] = (),
    slope: float = 1.0,
    transform: Callable[[float], float] = float,
) -> int | None:
    """The smallest integer x in [lo, hi] with f(x) >= target, for nondecreasing f; None if f(hi) < target.

    Starts at ``guess`` (and from the points in ``known``, which ``f`` has cached), then
    interpolates on ``transform(f)``: inside the bracket by regula falsi with a bisection
    safeguard, outside it by the secant of the last two probes (``slope``, the expected rise
    per step, until there are two). A handful of probes, never far above the bisection count.
    """
    raw_transform = transform

    def transform(v: float) -> float:
        # an identical decode scores infinite PSNR (a flat image): keep the interpolation finite
        t = raw_transform(v)
        return max(-FINITE_LIMIT, min(FINITE_LIMIT, t)) if not math.isnan(t) else -FINITE_LIMIT

    below: tuple[int, float] | None = None  # largest x seen with f(x) < target
    above: tuple[int, float] | None = None  # smallest x seen with f(x) >= target
    probes: list[tuple[int, float]] = []  # (x, transform(f(x))) in probing order

    def probe(x: int) -> None:
        nonlocal below, above
        value = f(x)
        if value >= target:
            if above is None or x < above[0]:
                above = (x, value)
        elif below is None or x > below[0]:
            below = (x, value)
        probes.append((x, transform(value)))

    for x in known:
        if lo <= x <= hi:
            probe(int(x))
    if guess is not None or not probes:
        probe(min(max((lo + hi) // 2 if guess is None else int(guess), lo), hi))
    t_target = transform(target)
    width_before = math.inf
    one_sided = 0
    while True:
        left = lo if below is None else below[0] + 1
        right = hi if above is None else above[0] - 1  # still-unknown candidates: [left, right]
        if left > right:
            return None if above is None else above[0]
        width = right - left + 1
        if below is not None and above is not None:
            (xa, fa), (xb, fb) = below, above
            ta, tb = transform(fa), transform(fb)
            if width > width_before / 2 or not tb > ta:  # interpolation is not converging fast: bisect
                x = (xa + xb) // 2
            else:
                x = xa + round((t_target - ta) / (tb - ta) * (xb - xa))
            one_sided = 0
        else:
            one_sided += 1
            rise = slope
            if len(probes) >= 2:
                (x1, t1), (x2, t2) = probes[-2], probes[-1]
                if x1 != x2 and (t2 - t1) / (x2 - x1) > slope / 8:
                    rise = (t2 - t1) / (x2 - x1)
            side_x, side_t = (below[0], transform(below[1])) if below is not None else (above[0], transform(above[1]))
            step = min(max(1, math.ceil(abs(t_target - side_t) / rise)) * (2 ** max(0, one_sided - 2)), hi - lo + 1)
            x = side_x + step if below is not None else side_x - step
        width_before = width
        probe(min(max(x, left), right))


def highest_fitting(
    size_of: Callable[[int], float],
    budget: int,
    lo: int = Q_MIN,
    hi: int = Q_MAX,
    guess: int | None = None,
    known: Iterable[int] = (),
) -> int | None:
    """The highest quality in [lo, hi] whose ``size_of`` is at most ``budget`` bytes; None if none fits."""
    first_over = first_at_least(
        size_of,
        budget + 1,
        lo,
        hi,
        guess=guess,
        known=known,
        slope=LOG_SIZE_PER_QUALITY,
        transform=lambda v: math.log(max(v, 1)),
    )
    if first_over is None:
        return hi
    return None if first_over == lo else first_over - 1


def roughly_highest_fitting(
    size_of: Callable[[int], float], budget: int, lo: int, hi: int, guess: int, close: int = 2, max_probes: int = 3
) -> int | None:
    """A high quality in [lo, hi] whose ``size_of`` fits ``budget``: within ``close`` steps of the highest, or the
    best known after ``max_probes`` probes (more only while none fits). None when ``lo`` does not fit.

    A secant on log size (the prior slope :data:`LOG_SIZE_PER_QUALITY` until two probes), never a bisection:
    fast rate control's analysis, where the final search (:func:`~sr_codec.sender.rate.final.fit_final`) refines it.
    """
    fits: tuple[int, float] | None = None
    over: tuple[int, float] | None = None
    points: list[tuple[int, float]] = []
    target = math.log(budget)
    q = min(max(int(guess), lo), hi)
    while True:
        value = math.log(max(size_of(q), 1))
        points.append((q, value))
        if value <= target:
            if fits is None or q > fits[0]:
                fits = (q, value)
        elif over is None or q < over[0]:
            over = (q, value)
        if fits is not None and (fits[0] == hi or (over is not None and over[0] - fits[0] <= close)
                                 or len(points) >= max_probes):
            return fits[0]
        if fits is None and over is not None and over[0] == lo:
            return None
        left = lo if fits is None else fits[0] + 1
        right = hi if over is None else over[0] - 1
        if fits is not None and over is not None:
            (xa, ta), (xb, tb) = fits, over
            x = xa + (target - ta) / (tb - ta) * (xb - xa) if tb > ta else (xa + xb) / 2
            if x - xa < close:  # the secant puts the highest fitting quality within reach of a known one
                return xa
        else:
            slope = LOG_SIZE_PER_QUALITY
            if len(points) >= 2:
                (x1, t1), (x2, t2) = points[-2], points[-1]
                if x1 != x2 and (t2 - t1) / (x2 - x1) > LOG_SIZE_PER_QUALITY / 8:
                    slope = (t2 - t1) / (x2 - x1)
            x = q + (target - value) / slope
        # aim just under the budget: a fitting probe is worth more than an overshoot
        q = min(max(int(math.floor(x)), left), right)
