"""The final encode of fast rate control: the chosen route coded once at full size, at its final speed.

The analysis (on the photo, or on its mosaic for a large one) probed every route at libavif's
:data:`~sr_codec.codecs.avif.PROBE_SPEED` and predicted, through the gain table's speed map, what
the final speed gives. Here only the chosen route is coded at full size:

1. the *shape* of its size curve, ln(bytes) against quality, is the analysis's own probes (on the
   mosaic: the same bits per pixel, so the same shape up to an offset);
2. on a mosaic, one full-size probe at the probe speed fixes the offset (a photo analysed on itself
   needs none);
3. the speed map's size ratio moves the curve to the final speed, and the final search runs on it:
   code at the highest quality predicted to fit, re-fit the offset to the real size, and step (a
   secant on log-bytes, never a blind bisection) only while the prediction says a higher quality
   fits or the last one did not. Usually one or two final encodes.

The final speed is :meth:`~sr_codec.codecs.InnerCodec.for_final` of the low-res size (the slowest
that fits the time target); scale 1 is always a plain file (:meth:`~sr_codec.codecs.InnerCodec.as_plain_file`,
Pillow's speed 6): the guarantee's anchor.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ...codecs import InnerCodec
from ...imaging.resample import low_res_size
from .search import LOG_SIZE_PER_QUALITY
from .session import Route, Session

FINAL_AIM = 0.985
"""The final search aims at this share of the budget: a quality predicted to land in the last 1.5 % is not tried
(a speed-6 encode of a 2 MP photo is the whole time budget; one quality step is ~0.1 dB)."""
FINAL_MAX_ENCODES = 6
"""Final-speed encodes at most (a safeguard: two are the rule). Beyond it the highest quality known to fit is kept."""


def final_codec_for(codec: InnerCodec, height: int, width: int) -> Callable[[int], InnerCodec]:
    """``scale -> configuration`` of the final encode of a ``height`` x ``width`` photo."""

    def codec_for(scale: int) -> InnerCodec:
        if scale == 1:
            return codec.as_plain_file()
        return codec.for_final(*low_res_size(height, width, scale))

    return codec_for


class LogSizeCurve:
    """ln(bytes) against quality through known points: linear between them, along the end slopes beyond."""

    def __init__(self, points: dict[int, float]) -> None:
        self.qs = sorted(points)
        self.values = [points[q] for q in self.qs]

    def _slope(self, i: int, j: int) -> float:
        slope = (self.values[j] - self.values[i]) / (self.qs[j] - self.qs[i])
        return slope if slope > LOG_SIZE_PER_QUALITY / 8 else LOG_SIZE_PER_QUALITY

    def at(self, q: float) -> float:
        qs, vs = self.qs, self.values
        if len(qs) == 1:
            return vs[0] + (q - qs[0]) * LOG_SIZE_PER_QUALITY
        if q <= qs[0]:
            return vs[0] + (q - qs[0]) * self._slope(0, 1)
        if q >= qs[-1]:
            return vs[-1] + (q - qs[-1]) * self._slope(-2, -1)
        for i in range(len(qs) - 1):
            if qs[i] <= q <= qs[i + 1]:
                t = (q - qs[i]) / (qs[i + 1] - qs[i])
                return vs[i] + t * (vs[i + 1] - vs[i])
        raise AssertionError("unreachable")


def size_curve(session: Session, route: Route, scale_bytes: float = 1.0) -> LogSizeCurve:
    """The probes ``session`` made of ``route`` as a log-size curve (sizes times ``scale_bytes``)."""
    points = {q: math.log(max(session.size(route, q) * scale_bytes, 1)) for r, q in session.probed() if r == route}
    return LogSizeCurve(points)


def fit_final(
    final: Session,
    route: Route,
    budget: int,
    curve: LogSizeCurve,
    offset: float,
    qrange: tuple[int, int],
) -> int | None:
    """The highest quality whose final payload fits ``budget`` as far as the search goes; None when the lowest does not.

    ``curve(q) + offset`` predicts ln(final bytes); each final encode re-fits ``offset`` at its quality.
    A quality predicted not to fit within :data:`FINAL_AIM` of the budget is not tried once a lower one is known to fit.
    """
    lo, hi = qrange
    ln_budget = math.log(budget) + math.log(FINAL_AIM)

    def highest_predicted(lower: int, upper: int, off: float) -> int:
        """The highest q in [lower, upper] predicted to fit (``lower`` when none is)."""
        best = lower
        for q in range(lower, upper + 1):
            if curve.at(q) + off <= ln_budget:
                best = q
        return best

    fits: int | None = None
    over: int | None = None
    q = highest_predicted(lo, hi, offset)
    for _ in range(FINAL_MAX_ENCODES):
        size = final.size(route, q)
        offset = math.log(size) - curve.at(q)
        if size <= budget:  # the budget itself is hard; only the predictions aim below it
            fits = q
            top = hi if over is None else over - 1
            if q >= top or curve.at(q + 1) + offset > ln_budget:
                return fits
            q = highest_predicted(q + 1, top, offset)
        else:
            over = q
            if q <= lo:
                return None
            bottom = lo if fits is None else fits
            if bottom >= q - 1 and fits is not None:
                return fits
            q = min(highest_predicted(bottom, q - 1, offset), q - 1)
    if fits is None:  # the safeguard ran out: walk down until something fits
        q = over - 1 if over is not None else lo
        while q >= lo:
            if final.size(route, q) <= budget:
                return q
            q -= 1
        return None
    return fits
