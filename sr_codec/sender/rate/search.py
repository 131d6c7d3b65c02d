"""Monotone integer searches: the smallest quality reaching a target, the highest one fitting a budget."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

Q_MIN, Q_MAX = 0, 100
LOG_SIZE_PER_QUALITY = 0.038  # d ln(bytes) / d quality of AVIF, a prior for the first search steps
PSNR_PER_QUALITY = 0.12  # dB per quality step, likewise


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
            step = max(1, math.ceil(abs(t_target - side_t) / rise)) * (2 ** max(0, one_sided - 2))
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
