"""The two strategies over routes: the best decoded PSNR within a byte budget, the smallest payload reaching a target."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

from .session import Route, Session, lowest_reaching, top_quality

FAST_MAX_DECODES = 2
"""Network runs ``mode="fast"`` allows itself to verify its prediction."""


def finalists_within(session: Session, routes: Sequence[Route], budget: int | None, qrange: tuple[int, int]) -> list[tuple[Route, int]]:
    """Each route at the highest quality whose payload fits ``budget`` (None = any size)."""
    finalists = []
    for route in routes:
        q = top_quality(session, route, budget, qrange)
        if q is not None:
            finalists.append((route, q))
    return finalists


def best_of(session: Session, finalists: list[tuple[Route, int]], mode: str) -> tuple[Route, int]:
    """The finalist with the best real decoded PSNR (ties: fewer bytes); see the module doc for the modes."""
    if len(finalists) == 1:
        return finalists[0]
    if mode == "best":
        for route, q in finalists:
            session.real(route, q)
    else:
        best_real = max((session.real(r, q) for r, q in finalists if r.exact), default=-math.inf)
        networks = sorted((f for f in finalists if not f[0].exact), key=lambda f: -session.estimate(*f))
        for route, q in networks[:FAST_MAX_DECODES]:
            if session.estimate(route, q) + session.margin(route) < best_real:
                break
            best_real = max(best_real, session.real(route, q))
    measured = [(r, q) for r, q in finalists if session.known_real(r, q) is not None]
    return max(measured, key=lambda f: (session.known_real(*f), -session.size(*f)))


def reaching(
    session: Session, routes: Sequence[Route], target: float, budget: int | None, qrange: tuple[int, int], mode: str
) -> list[tuple[Route, int]]:
    """Routes at the lowest quality whose decoded PSNR reaches ``target`` (verified for real), within ``budget``.

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

    # fast: search every route on the prediction, verify the smallest network candidate(s) for real
    pending: list[tuple[Route, int, float]] = []  # (route, quality, offset subtracted from the prediction)
    for route in routes:
        q = search(route, cap_below([(r, q) for r, q, _ in pending] + verified), lambda q, r=route: session.estimate(r, q))
        if q is None:
            continue
        if route.exact:
            verified.append((route, q))
        else:
            pending.append((route, q, 0.0))
    decodes = 0
    while pending:
        best_verified = min((session.size(*f) for f in verified), default=math.inf)
        pending.sort(key=lambda p: session.size(p[0], p[1]))
        route, q, offset = pending.pop(0)
        if session.size(route, q) >= best_verified or decodes >= FAST_MAX_DECODES:
            continue
        real = session.real(route, q)
        decodes += 1
        if real >= target:
            verified.append((route, q))
            continue
        # the prediction was optimistic by this much at this route: search again with it subtracted
        offset += session.estimate(route, q, offset) - real
        cap = cap_below(verified)
        retry = search(route, cap, lambda q2, r=route, o=offset: session.estimate(r, q2, o))
        if retry is not None and retry > q:
            pending.append((route, retry, offset))
    if not verified:  # every prediction failed: the routes without a network, no longer capped by them
        for route in routes:
            if route.exact:
                q = search(route, budget, lambda q, r=route: session.real(r, q))
                if q is not None:
                    verified.append((route, q))
    return verified
