"""The two strategies over routes: the best decoded PSNR within a byte budget, the smallest payload reaching a target."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from .search import roughly_highest_fitting
from ...imaging.resample import low_res_size
from .session import Route, Session, lowest_reaching, top_quality

def finalists_within(session: Session, routes: Sequence[Route], budget: int | None, qrange: tuple[int, int]) -> list[tuple[Route, int]]:
    """Each route at the highest quality whose payload fits ``budget`` (None = any size)."""
    finalists = []
    for route in routes:
        q = top_quality(session, route, budget, qrange)
        if q is not None:
            finalists.append((route, q))
    return finalists


PROBE_Q_AT_QUARTER_BPP = 31.0
PROBE_Q_PER_DOUBLING = 15.0
"""AVIF at the probe speed: quality ~ 31 + 15 log2(low-res bpp / 0.25) (BSD100-like photos, 0.25-4 bpp), a first guess."""


def finalists_roughly(session: Session, routes: Sequence[Route], budget: int, qrange: tuple[int, int]) -> list[tuple[Route, int]]:
    """Each route at a quality within a couple of steps of the highest that fits ``budget`` (fast mode's analysis:
    2-3 probes a route, :func:`~sr_codec.sender.rate.search.roughly_highest_fitting`). Each route's first guess
    is the size model above, shifted by what the routes already searched on this image found."""
    lo, hi = qrange
    finalists = []
    shifts: list[float] = []

    def model(scale: int) -> float:
        h, w = low_res_size(session.height, session.width, scale)
        bpp = 8.0 * budget / (h * w)
        return PROBE_Q_AT_QUARTER_BPP + PROBE_Q_PER_DOUBLING * math.log2(max(bpp, 1e-6) / 0.25)

    for route in routes:
        guess = round(model(route.scale) + (sum(shifts) / len(shifts) if shifts else 0.0))
        q = roughly_highest_fitting(lambda x, r=route: session.size(r, x), budget, lo, hi, guess)
        if q is not None:
            finalists.append((route, q))
            if lo < q < hi:
                shifts.append(q - model(route.scale))
    return finalists


def best_of(session: Session, finalists: list[tuple[Route, int]], mode: str) -> tuple[Route, int]:
    """The finalist with the best decoded PSNR (ties: fewer bytes).

    ``"best"``: every finalist decoded for real. ``"fast"``: routes without a network are exact (but for
    the final speed's map in an analysis session); a network route is predicted (:meth:`Session.estimate`) and may only beat the scale-1
    anchor (the inner codec alone) when its :meth:`Session.lower_bound` does too: the guarantee.
    """
    if len(finalists) == 1:
        return finalists[0]
    if mode == "best":
        return max(finalists, key=lambda f: (session.real(*f), -session.size(*f)))
    anchor = max((session.estimate(r, q) for r, q in finalists if r.exact and r.scale == 1), default=-math.inf)
    allowed = [f for f in finalists if f[0].exact or session.lower_bound(*f) >= anchor]
    return max(allowed, key=lambda f: (session.estimate(*f), -session.size(*f)))


def reaching(
    session: Session, routes: Sequence[Route], target: float, budget: int | None, qrange: tuple[int, int], mode: str
) -> list[tuple[Route, int]]:
    """Routes at the lowest quality whose decoded PSNR reaches ``target`` (``"best"``: real decodes;
    ``"fast"``: predicted for network routes), within ``budget``.

    A route is left out when it cannot reach the target in fewer bytes than a candidate
    already found (or in ``budget``); the smallest candidate is the answer. Empty when none reaches it.
    """
    lo, hi = qrange

    def search(route: Route, cap: int | None, score: Callable[[int], float]) -> int | None:
        """The lowest quality (payload within ``cap``) whose ``score`` reaches the target."""
        top = top_quality(session, route, cap, qrange)
        if top is None or score(top) < target:
            return None
        return lowest_reaching(session, route, target, score, lo, top)

    def cap_below(candidates: Iterable[tuple[Route, int]]) -> int | None:
        sizes = [session.size(r, q) - 1 for r, q in candidates]
        if budget is not None:
            sizes.append(budget)
        return min(sizes) if sizes else None

    verified: list[tuple[Route, int]] = []
    if mode == "best":
        for route in routes:  # largest scale first: its small payloads cap the searches of the others
            q = search(route, cap_below(verified), lambda q, r=route: session.real(r, q))
            if q is not None:
                verified.append((route, q))
        return verified

    # fast: search every route on the prediction; no network runs, so a network candidate stands on its estimate
    for route in routes:
        q = search(route, cap_below(verified), lambda q, r=route: session.estimate(r, q, session.safety(r)))
        if q is not None:
            verified.append((route, q))
    return verified
