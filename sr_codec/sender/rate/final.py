"""The final encode: probe at fast speeds, then code the chosen route at the slowest speed that fits the time bar.

Measured (issue 13, 12 held-out photos at x4, shipped decoder, BD-rate at equal decoded PSNR vs
speed 6): speed 9 costs +19 % bytes, speed 3 saves 8.9 % at ~10x the time. The searches probe
with the size table of :func:`~sr_codec.codecs.avif.avif_speed_for` (fast); the chosen low-res
image is then coded once more (plus a correction or two) at :data:`FINAL_SPEED_BY_PIXELS`,
and kept only if it is at least as good in no more bytes. Scale 1 is always coded as a plain
file (the guarantee's anchor), so only scales above 1 are re-coded.
"""

from __future__ import annotations

from collections.abc import Callable

from ...codecs import InnerCodec
from ...imaging.resample import low_res_size
from .search import highest_fitting
from .session import Route, Session, top_quality

FINAL_SPEED_BY_PIXELS: tuple[tuple[int, int], ...] = ((16_384, 5), (65_536, 6))
"""libavif speed of the final encode by low-res pixel count: (largest pixel count, speed); above the
last entry the probe's own speed is kept (a 2 MP photo's x4 low-res at speed 6 alone takes ~0.2 s)."""


def final_codec(codec: InnerCodec, height: int, width: int, scale: int) -> InnerCodec:
    """The configuration the chosen route is finally coded with (scale 1: a plain file, the anchor)."""
    if codec.name != "avif" or getattr(codec, "speed", None) is not None:
        return codec  # a caller-set speed is kept
    if scale == 1:
        return codec.as_plain_file()
    h, w = low_res_size(height, width, scale)
    for max_pixels, speed in FINAL_SPEED_BY_PIXELS:
        if h * w <= max_pixels:
            return type(codec)(speed=min(speed, codec.speed_for(h, w)), subsampling=codec.subsampling)
    return codec


def recode_slower(
    session: Session,
    chosen: tuple[Route, int],
    budget: int | None,
    qrange: tuple[int, int],
    codec_for: Callable[[int], InnerCodec],
) -> tuple[tuple[Route, int], Session]:
    """The chosen route coded at its final speed, in no more bytes and at no lower (predicted) PSNR.

    Returns the choice and the session holding its payload (``session`` itself when the slower
    encode does not pay or the configuration is the same).
    """
    route, q = chosen
    if route.scale == 1 or codec_for(route.scale) == session.codec_for(route.scale):
        return chosen, session
    slow = Session(session.builder, session.receiver, codec_for)
    cap = session.size(route, q) if budget is None else budget
    q_slow = highest_fitting(lambda x: slow.size(route, x), cap, qrange[0], qrange[1], guess=q)
    if q_slow is None or slow.size(route, q_slow) > cap or slow.estimate(route, q_slow) < session.estimate(route, q):
        return chosen, session
    return (route, q_slow), slow


def code_at_full_size(
    full: Session,
    proxy: Session,
    picked: tuple[tuple[Route, int] | None, list[tuple[Route, int]]],
    routes: list[Route],
    budget: int | None,
    qrange: tuple[int, int],
) -> tuple[tuple[Route, int] | None, list[tuple[Route, int]]]:
    """The mosaic's choice applied to the photo: the same route, the highest quality fitting ``budget``
    (starting at the mosaic's quality). None when not even the lowest quality fits."""
    chosen, finalists = picked
    lo, hi = qrange
    if chosen is None:  # nothing fitted the mosaic's share: the route with the smallest payload there
        chosen = (min(routes, key=lambda r: proxy.size(r, lo)), lo)
    route, q = chosen
    if budget is None:
        return chosen, finalists
    # scale 1 is a plain (slow) file: its fast twin's sizes, ratio-corrected, find the quality (top_quality)
    fitting = top_quality(full, route, budget, qrange, guess=q)
    return (None if fitting is None else (route, fitting)), finalists
