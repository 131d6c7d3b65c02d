"""Rate control: pick the scale and the inner-codec quality per image, for a byte budget or a quality target.

Downsampling pays only where the plain codec is weak: at very low rates a small image plus
super-resolution wins, at higher rates the inner codec at full resolution wins, and where the
cross-over lies depends on the image. So the encoder tries every scale (1, 2, 4, 10) and judges
each by what the receiver will *show*: the decoded RGB PSNR against the (normalised) input.

A *route* is a scale and the model the payload names for it; scale 1 always has the route
"inner codec alone" (model ``bicubic``, i.e. no network), the anchor of the guarantee below.

* **Byte budget** (``max_bytes``): for each route, the highest quality whose whole payload
  fits (a monotone search: encodes only, cheap at low resolution); then the finalist whose
  decoded PSNR is best. ``mode="best"`` decodes every finalist with the network;
  ``mode="fast"`` predicts each network finalist's PSNR (bicubic-decode PSNR plus the
  network's measured gain at that many low-res bits per pixel, :class:`GainTable`) and runs
  the network on at most :data:`FAST_MAX_DECODES` of them.
* **Quality target** (``target_psnr``): for each route, the lowest quality whose decoded PSNR
  reaches the target; the smallest payload wins. Best mode searches on real decodes; fast mode
  on the prediction, then verifies the winner with the network (at most two decodes). When no
  setting reaches the target, the payload with the best decoded PSNR (within ``max_bytes``).

**Guarantee.** Routes without a network (scale 1 "inner codec alone" among them) are always
measured exactly, and the final choice is made on real PSNRs only, so on any image at any
budget the chosen payload decodes at least as well as a plain Pillow .avif file at full
resolution within the same bytes. Scale 1 is coded at Pillow's default AVIF speed for this
(:func:`_hull_codec`): its bitstream is then the file's own, ~250 container bytes smaller.
The searches assume sizes grow with quality (true of AVIF but for rare one-step wobbles,
which those spare bytes absorb). See docs/rate_control.md for measurements.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import inner as inner_module
from .codec import PayloadBuilder, _check_scale, _wrap_foreign, effective_scale
from .downsample import downsample, low_res_size, upsample_bicubic
from .errors import InputImageError, LimitExceededError, ModelError
from .inner import AvifCodec, InnerCodec, get_codec
from .limits import Limits, resolve
from .metrics import psnr
from .models import zoo

AUTO_SCALES = (1, 2, 4, 10)
"""The scales ``scale="auto"`` chooses among (each lowered for images smaller than it)."""
MODES = ("fast", "best")
DEFAULT_MAX_BYTES = 4000
"""The budget of ``encode(img, scale="auto")`` with neither ``max_bytes`` nor ``target_psnr``:
soft (when nothing fits, the smallest payload there is rather than an error)."""
FAST_MAX_DECODES = 2
"""Network runs ``mode="fast"`` allows itself to verify its prediction."""
UNCALIBRATED_MARGIN_DB = 3.0
"""How far below the best measured PSNR a network finalist without a calibrated gain may be
predicted and still get decoded (its prediction is then plain bicubic, a lower bound in practice)."""
PROXY_FILE = "rate_proxy.json"
"""The gain table's file name, next to the weights it was measured for."""
PILLOW_AVIF_SPEED = 6
"""Pillow's default libavif speed: what a plain .avif file is coded with, and scale 1 here (:func:`_hull_codec`)."""

Q_MIN, Q_MAX = 0, 100
_LOG_SIZE_PER_QUALITY = 0.038  # d ln(bytes) / d quality of AVIF, a prior for the first search steps
_PSNR_PER_QUALITY = 0.12  # dB per quality step, likewise


# ----------------------------------------------------------------------------- the predictor


@dataclass(frozen=True)
class GainCurve:
    """A network's mean PSNR gain over bicubic, as a function of the low-res bits per pixel."""

    scale: int
    log2_bpp: tuple[float, ...]
    gain_db: tuple[float, ...]
    residual_db: float
    """Standard deviation of the measured gains around the curve (the predictor's error)."""
    samples: int = 0

    def at(self, low_res_bpp: float) -> float:
        """The gain at ``low_res_bpp`` (piecewise linear in log2 bpp, constant beyond the ends)."""
        return float(np.interp(math.log2(max(low_res_bpp, 1e-6)), self.log2_bpp, self.gain_db))


@dataclass(frozen=True)
class GainTable:
    """Gain curves by model id, measured offline on training photos (:func:`calibrate`)."""

    curves: Mapping[str, GainCurve] = field(default_factory=dict)
    command: str = ""
    """The command that measured the table."""

    def curve(self, model_id: str) -> GainCurve | None:
        return self.curves.get(model_id)

    def to_json(self) -> dict:
        return {
            "command": self.command,
            "models": {
                model_id: {
                    "scale": c.scale,
                    "log2_bpp": [round(v, 4) for v in c.log2_bpp],
                    "gain_db": [round(v, 4) for v in c.gain_db],
                    "residual_db": round(c.residual_db, 4),
                    "samples": c.samples,
                }
                for model_id, c in sorted(self.curves.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> GainTable:
        curves = {
            model_id: GainCurve(
                scale=int(c["scale"]),
                log2_bpp=tuple(float(v) for v in c["log2_bpp"]),
                gain_db=tuple(float(v) for v in c["gain_db"]),
                residual_db=float(c["residual_db"]),
                samples=int(c.get("samples", 0)),
            )
            for model_id, c in data.get("models", {}).items()
        }
        return cls(curves, str(data.get("command", "")))

    @classmethod
    def load(cls, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> GainTable:
        """The table in ``weights_dir`` (empty when there is none: every network is then uncalibrated)."""
        path = Path(weights_dir) / PROXY_FILE
        if not path.is_file():
            return cls()
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read the rate-control gain table {path}: {exc}") from exc


# ------------------------------------------------------------------------------ the receiver

Upscaler = Callable[[np.ndarray, int, str], np.ndarray]
"""(decoded low-res RGB, scale, model id) -> uint8 (h*scale) x (w*scale) x 3."""


@dataclass(frozen=True)
class Receiver:
    """What the receiver will run, as the encoder models it: injectable, so tests need no TensorFlow.

    ``model_for(scale)`` is the model id a payload at that scale names (``"bicubic"`` = no
    network); ``upscale`` runs a network model; ``tag_for`` gives a model id's wire tag;
    ``gains`` predicts each network's gain for ``mode="fast"``.
    """

    model_for: Callable[[int], str]
    upscale: Upscaler
    tag_for: Callable[[str], int]
    gains: GainTable = field(default_factory=GainTable)

    @classmethod
    def shipped(cls, weights_dir: Path | str | None = None, device: str | None = None) -> Receiver:
        """The shipped models (``sr_codec/weights`` or ``weights_dir``), run as ``decode`` runs them."""
        folder = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR

        def run(low: np.ndarray, scale: int, model_id: str) -> np.ndarray:
            from .upscale import upscale

            return upscale(low, scale, device=device, model_id=model_id, weights_dir=folder)

        return cls(
            model_for=lambda scale: zoo.default_model_id(scale, folder),
            upscale=run,
            tag_for=lambda model_id: zoo.tag_for(model_id, folder),
            gains=GainTable.load(folder),
        )


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Route:
    scale: int
    model_id: str

    @property
    def exact(self) -> bool:
        """True when no network runs: the bicubic decode *is* the decode, so its PSNR is exact and cheap."""
        return self.model_id == zoo.BICUBIC


@dataclass(frozen=True)
class Trial:
    """One finalist: a route at a quality, with its payload size and decoded quality."""

    scale: int
    model_id: str
    quality: int
    payload_bytes: int
    estimate_db: float
    """Predicted decoded PSNR (exact for routes without a network)."""
    psnr_db: float | None
    """Real decoded RGB PSNR; None when it was not decoded."""


@dataclass(frozen=True)
class RateChoice:
    """The payload rate control chose, and how it got there."""

    payload: bytes
    scale: int
    quality: int
    model_id: str
    psnr_db: float | None
    """Real decoded RGB PSNR of the payload (None only when one setting was possible and not decoded)."""
    mode: str
    max_bytes: int | None
    target_psnr: float | None
    reached_target: bool | None
    """Whether ``psnr_db`` reaches ``target_psnr`` (None without a target)."""
    finalists: tuple[Trial, ...]
    encodes: int
    network_decodes: int
    seconds: float

    @property
    def payload_bytes(self) -> int:
        return len(self.payload)


# --------------------------------------------------------------------------------- searching


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
        slope=_LOG_SIZE_PER_QUALITY,
        transform=lambda v: math.log(max(v, 1)),
    )
    if first_over is None:
        return hi
    return None if first_over == lo else first_over - 1


# ---------------------------------------------------------------------------------- session


class _Session:
    """Every encode, inner decode and network run for one image, each done at most once.

    ``codec_for(scale)`` is the inner-codec configuration each scale is coded with (all of one
    wire id). ``twin``: a session on the same image with a faster configuration, whose searches
    only provide starting guesses (see :func:`_hull_codec`).
    """

    def __init__(
        self,
        builder: PayloadBuilder,
        receiver: Receiver,
        codec_for: Callable[[int], InnerCodec] | None = None,
        twin: _Session | None = None,
    ) -> None:
        self.builder = builder
        self.receiver = receiver
        self.codec_for = codec_for or (lambda scale: builder.codec)
        self.twin = twin
        self.rgb = builder.image.rgb
        self.height, self.width = self.rgb.shape[:2]
        self._bitstreams: dict[tuple[int, int], bytes] = {}
        self._payloads: dict[tuple[Route, int], bytes] = {}
        self._bicubic: dict[tuple[int, int], float] = {}
        self._real: dict[tuple[Route, int], float] = {}
        self._tags: dict[str, int] = {}
        self.network_decodes = 0

    @property
    def encodes(self) -> int:
        return len(self._bitstreams) + (self.twin.encodes if self.twin is not None else 0)

    def bitstream(self, scale: int, quality: int) -> bytes:
        key = (scale, quality)
        if key not in self._bitstreams:
            self._bitstreams[key] = self.builder.bitstream(scale, quality, self.codec_for(scale))
        return self._bitstreams[key]

    def payload(self, route: Route, quality: int) -> bytes:
        key = (route, quality)
        if key not in self._payloads:
            if route.model_id not in self._tags:
                self._tags[route.model_id] = self.receiver.tag_for(route.model_id)
            bitstream = self.bitstream(route.scale, quality)
            self._payloads[key] = self.builder.pack(route.scale, bitstream, self._tags[route.model_id])
        return self._payloads[key]

    def size(self, route: Route, quality: int) -> int:
        return len(self.payload(route, quality))

    def low_res(self, scale: int, quality: int) -> np.ndarray:
        """The low-res image as the receiver decodes it."""
        return self.builder.codec.decode(self.bitstream(scale, quality))

    def bicubic_psnr(self, scale: int, quality: int) -> float:
        key = (scale, quality)
        if key not in self._bicubic:
            up = upsample_bicubic(self.low_res(scale, quality), scale, (self.height, self.width))
            self._bicubic[key] = psnr(self.rgb, up)
        return self._bicubic[key]

    def low_res_bpp(self, scale: int, quality: int) -> float:
        h, w = low_res_size(self.height, self.width, scale)
        return 8.0 * len(self.bitstream(scale, quality)) / (h * w)

    def curve(self, route: Route) -> GainCurve | None:
        return None if route.exact else self.receiver.gains.curve(route.model_id)

    def estimate(self, route: Route, quality: int, offset: float = 0.0) -> float:
        """Predicted decoded PSNR: exact without a network, else bicubic + the network's gain - ``offset``."""
        base = self.bicubic_psnr(route.scale, quality)
        if route.exact:
            return base
        curve = self.curve(route)
        gain = curve.at(self.low_res_bpp(route.scale, quality)) if curve is not None else 0.0
        return base + gain - offset

    def margin(self, route: Route) -> float:
        curve = self.curve(route)
        return UNCALIBRATED_MARGIN_DB if curve is None else 2.0 * curve.residual_db

    def real(self, route: Route, quality: int) -> float:
        """The decoded RGB PSNR, exactly as ``decode`` would show it (runs the network if the route has one)."""
        if route.exact:
            return self.bicubic_psnr(route.scale, quality)
        key = (route, quality)
        if key not in self._real:
            low = self.low_res(route.scale, quality)
            up = np.asarray(self.receiver.upscale(low, route.scale, route.model_id))
            expected = (low.shape[0] * route.scale, low.shape[1] * route.scale, 3)
            if up.shape != expected or up.dtype != np.uint8:
                raise InputImageError(f"upscaler returned {up.dtype} {up.shape}, expected uint8 {expected}")
            self._real[key] = psnr(self.rgb, up[: self.height, : self.width])
            self.network_decodes += 1
        return self._real[key]

    def known_real(self, route: Route, quality: int) -> float | None:
        return self.bicubic_psnr(route.scale, quality) if route.exact else self._real.get((route, quality))

    def trial(self, route: Route, quality: int) -> Trial:
        return Trial(
            scale=route.scale,
            model_id=route.model_id,
            quality=quality,
            payload_bytes=self.size(route, quality),
            estimate_db=self.estimate(route, quality),
            psnr_db=self.known_real(route, quality),
        )


def _quality_guess(session: _Session, scale: int, budget: int) -> int:
    """A first quality to try for ``budget`` bytes at ``scale`` (AVIF-ish: q ~ 30 + 30 log2(bpp / 0.25))."""
    h, w = low_res_size(session.height, session.width, scale)
    bpp = 8.0 * budget / (h * w)
    return int(min(max(30 + 30 * math.log2(max(bpp, 1e-6) / 0.25), Q_MIN), Q_MAX))


def _top_quality(session: _Session, route: Route, budget: int | None, qrange: tuple[int, int]) -> int | None:
    """The highest quality of ``route`` whose payload fits ``budget`` (None = any size: the top of the range)."""
    lo, hi = qrange
    if budget is None:
        return hi
    guess = _quality_guess(session, route.scale, budget)
    twin = session.twin
    if twin is not None and route.scale == 1:
        # The fast configuration's sizes, corrected by their ratio to the slow one's at one quality,
        # predict the answer: the slow (reference) encodes then only confirm it, usually 2-3 of them.
        twin_q = highest_fitting(lambda q: twin.size(route, q), budget, lo, hi, guess)
        if twin_q is None:
            return highest_fitting(lambda q: session.size(route, q), budget, lo, hi, lo)
        ratio = session.size(route, twin_q) / twin.size(route, twin_q)
        predicted = highest_fitting(lambda q: ratio * twin.size(route, q), budget, lo, hi, twin_q)
        return highest_fitting(
            lambda q: session.size(route, q), budget, lo, hi, lo if predicted is None else predicted, known=[twin_q]
        )
    return highest_fitting(lambda q: session.size(route, q), budget, lo, hi, guess)


def _lowest_reaching(
    session: _Session, route: Route, target: float, score: Callable[[int], float], lo: int, top: int
) -> int:
    """The lowest quality in [lo, top] whose ``score`` reaches ``target`` (``score(top)`` does)."""
    # start where the cheap prediction crosses the target: a search on real decodes then needs few probes
    guide = session.twin if session.twin is not None and route.scale == 1 else session
    guess = first_at_least(lambda q: guide.estimate(route, q), target, lo, top, guess=top, slope=_PSNR_PER_QUALITY)
    return first_at_least(score, target, lo, top, guess=top if guess is None else guess, slope=_PSNR_PER_QUALITY)


def _hull_codec(codec: InnerCodec) -> InnerCodec:
    """The configuration scale 1 is coded with: exactly what a plain Pillow file of the codec holds.

    The guarantee is stated against Pillow's AVIF at its default speed (6); sr_codec's AVIF
    picks faster speeds for large images, which buy slightly less PSNR per byte. Scale 1 is
    the route that competes with that file head-on, so it is coded at Pillow's speed: the
    payload then holds the very bitstream of the file, ~250 container bytes smaller.
    """
    if isinstance(codec, AvifCodec) and codec.speed is None:
        return dataclasses.replace(codec, speed=PILLOW_AVIF_SPEED)
    return codec


def _codec_speed(codec: InnerCodec, height: int, width: int) -> object:
    """The AVIF speed ``codec`` would use for an image of this size (None for other codecs)."""
    if not isinstance(codec, AvifCodec):
        return None
    if codec.speed is not None:
        return codec.speed
    speed_for = getattr(inner_module, "avif_speed_for", None)
    return speed_for(height, width) if speed_for is not None else PILLOW_AVIF_SPEED


# ------------------------------------------------------------------------------- strategies


def _finalists_within(session: _Session, routes: Sequence[Route], budget: int | None, qrange: tuple[int, int]) -> list[tuple[Route, int]]:
    """Each route at the highest quality whose payload fits ``budget`` (None = any size)."""
    finalists = []
    for route in routes:
        q = _top_quality(session, route, budget, qrange)
        if q is not None:
            finalists.append((route, q))
    return finalists


def _best_of(session: _Session, finalists: list[tuple[Route, int]], mode: str) -> tuple[Route, int]:
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


def _reaching(
    session: _Session, routes: Sequence[Route], target: float, budget: int | None, qrange: tuple[int, int], mode: str
) -> list[tuple[Route, int]]:
    """Routes at the lowest quality whose decoded PSNR reaches ``target`` (verified for real), within ``budget``.

    A route is left out when it cannot reach the target in fewer bytes than a candidate
    already found (or in ``budget``); the smallest candidate is the answer. Empty when none reaches it.
    """
    lo, hi = qrange

    def search(route: Route, cap: int | None, score: Callable[[int], float]) -> int | None:
        """The lowest quality (payload within ``cap``) whose ``score`` reaches the target."""
        top = _top_quality(session, route, cap, qrange)
        if top is None or score(top) < target:
            return None
        return _lowest_reaching(session, route, target, score, lo, top)

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


# -------------------------------------------------------------------------------- public API


def routes_for(height: int, width: int, scales: Iterable[int], receiver: Receiver) -> list[Route]:
    """The routes to try, largest scale first; scale 1 always includes the inner codec alone."""
    routes: list[Route] = []
    for scale in sorted({effective_scale(height, width, int(s)) for s in scales}, reverse=True):
        model_id = receiver.model_for(scale)
        routes.append(Route(scale, model_id))
        if scale == 1 and model_id != zoo.BICUBIC:
            routes.append(Route(1, zoo.BICUBIC))
    return routes


def _check_arguments(scale, quality, max_bytes, target_psnr, mode) -> tuple[Sequence[int], int | None, float | None]:
    if mode not in MODES:
        raise InputImageError(f"mode must be one of {MODES}, got {mode!r}")
    if quality is not None:
        raise InputImageError(
            "quality is chosen by rate control: pass quality only with a fixed scale and neither max_bytes nor target_psnr"
        )
    if isinstance(scale, str):
        if scale != "auto":
            raise InputImageError(f"scale must be an integer in 1..16 or 'auto', got {scale!r}")
        scales: Sequence[int] = AUTO_SCALES
    else:
        scales = (_check_scale(scale),)
    if max_bytes is not None and (
        type(max_bytes) is bool or not isinstance(max_bytes, (int, np.integer)) or max_bytes < 1
    ):
        raise InputImageError(f"max_bytes must be None or a positive integer, got {max_bytes!r}")
    if target_psnr is not None:
        if type(target_psnr) is bool or not isinstance(target_psnr, (int, float, np.integer, np.floating)) or not (
            math.isfinite(float(target_psnr)) and float(target_psnr) > 0
        ):
            raise InputImageError(f"target_psnr must be None or a positive finite number of dB, got {target_psnr!r}")
        target_psnr = float(target_psnr)
    return scales, None if max_bytes is None else int(max_bytes), target_psnr


def choose(
    image: object,
    *,
    scale: int | str = "auto",
    quality: int | None = None,
    inner: str | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    mode: str = "fast",
    limits: Limits | None = None,
    receiver: Receiver | None = None,
) -> RateChoice:
    """Rate control: what ``encode(image, scale=..., max_bytes=..., target_psnr=..., mode=...)`` does, with its report.

    ``scale``: ``"auto"`` (1, 2, 4 and 10) or one fixed scale (then only the quality is chosen).
    ``max_bytes``: the payload is at most this many bytes; :class:`LimitExceededError` when even
    the smallest setting is bigger. ``target_psnr``: the smallest payload whose decoded RGB PSNR
    reaches it (within ``max_bytes`` if given); when none does, the best decoded PSNR there is
    (``reached_target`` is then False). Neither: ``max_bytes=DEFAULT_MAX_BYTES``, soft.
    ``receiver``: the decoder to judge by (default: the shipped models, :meth:`Receiver.shipped`).
    """
    started = time.perf_counter()
    limits = resolve(limits)
    scales, max_bytes, target_psnr = _check_arguments(scale, quality, max_bytes, target_psnr, mode)
    codec = get_codec(inner)
    soft = max_bytes is None and target_psnr is None
    if soft:
        max_bytes = DEFAULT_MAX_BYTES
    budget = None if max_bytes is None else min(max_bytes, limits.max_payload_bytes)
    from .normalise import load_image

    with _wrap_foreign(InputImageError, "encode"):
        img = load_image(image, max_pixels=limits.max_pixels)
        receiver = receiver if receiver is not None else Receiver.shipped()
        builder = PayloadBuilder(img, codec, limits)
        hull = _hull_codec(codec)
        twin = None
        if _codec_speed(hull, img.height, img.width) != _codec_speed(codec, img.height, img.width):
            twin = _Session(builder, receiver)  # the faster default configuration guides scale 1's searches
        session = _Session(builder, receiver, lambda scale: hull if scale == 1 else codec, twin)
        routes = routes_for(img.height, img.width, scales, receiver)
        qrange = (codec.default_quality,) * 2 if codec.lossless else (Q_MIN, Q_MAX)

        chosen = None
        finalists: list[tuple[Route, int]] = []
        if target_psnr is not None:
            finalists = _reaching(session, routes, target_psnr, budget, qrange, mode)
            if finalists:
                chosen = min(finalists, key=lambda f: session.size(*f))
        if chosen is None:
            finalists = _finalists_within(session, routes, budget, qrange)
            if finalists:
                chosen = _best_of(session, finalists, mode)
            elif soft:
                finalists = [(r, qrange[0]) for r in routes]
                chosen = min(finalists, key=lambda f: session.size(*f))
            else:
                smallest = min(((session.size(r, qrange[0]), r) for r in routes), key=lambda s: s[0])
                raise LimitExceededError(
                    f"no setting fits in {max_bytes} bytes: the smallest payload for this "
                    f"{img.width} x {img.height} image is {smallest[0]} bytes "
                    f"(scale {smallest[1].scale}, {codec.name} quality {qrange[0]})"
                )
        route, q = chosen
        payload = session.payload(route, q)
        limits.check_payload_bytes(len(payload))
        real = session.known_real(route, q)
        return RateChoice(
            payload=payload,
            scale=route.scale,
            quality=q,
            model_id=route.model_id,
            psnr_db=real,
            mode=mode,
            max_bytes=None if soft else max_bytes,
            target_psnr=target_psnr,
            reached_target=None if target_psnr is None or real is None else real >= target_psnr,
            finalists=tuple(session.trial(r, qq) for r, qq in finalists),
            encodes=session.encodes,
            network_decodes=session.network_decodes,
            seconds=time.perf_counter() - started,
        )


# ------------------------------------------------------------------------------ calibration


def calibrate(
    images: Iterable[np.ndarray],
    receiver: Receiver,
    *,
    scales: Sequence[int] = (2, 4, 10),
    qualities: Sequence[int] = tuple(range(0, 100, 10)),
    inner: str | None = None,
    bins: int = 8,
    command: str = "",
) -> GainTable:
    """Measure each shipped network's PSNR gain over bicubic against low-res bits per pixel.

    For every image, scale with a network and quality: the gain = PSNR(network decode) -
    PSNR(bicubic decode) of the same low-res bitstream. The curve is the mean gain in ``bins``
    equal-count bins of log2 bpp; ``residual_db`` is the spread of single gains around it.
    """
    codec = get_codec(inner)
    points: dict[str, list[tuple[float, float]]] = {}
    model_scale: dict[str, int] = {}
    for rgb in images:
        h, w = rgb.shape[:2]
        for scale in scales:
            model_id = receiver.model_for(scale)
            if model_id == zoo.BICUBIC or effective_scale(h, w, scale) != scale:
                continue
            model_scale[model_id] = scale
            low = downsample(rgb, scale)
            for q in qualities:
                bitstream = codec.encode(low, q)
                decoded = codec.decode(bitstream)
                bicubic = psnr(rgb, upsample_bicubic(decoded, scale, (h, w)))
                network = psnr(rgb, np.asarray(receiver.upscale(decoded, scale, model_id))[:h, :w])
                bpp = 8.0 * len(bitstream) / (low.shape[0] * low.shape[1])
                points.setdefault(model_id, []).append((math.log2(bpp), network - bicubic))
    curves = {}
    for model_id, pts in points.items():
        pts.sort()
        x = np.array([p[0] for p in pts])
        g = np.array([p[1] for p in pts])
        groups = [grp for grp in np.array_split(np.arange(len(pts)), min(bins, len(pts))) if len(grp)]
        knots_x = [float(np.median(x[grp])) for grp in groups]
        knots_g = [float(np.mean(g[grp])) for grp in groups]
        residual = float(np.std(g - np.interp(x, knots_x, knots_g)))
        curves[model_id] = GainCurve(model_scale[model_id], tuple(knots_x), tuple(knots_g), residual, len(pts))
    return GainTable(curves, command)


def _calibration_images(folders: Sequence[str], limit: int, crop: int, seed: int) -> list[np.ndarray]:
    """``limit`` photos drawn at random from ``folders``, each cut to a random ``crop`` x ``crop`` patch."""
    from PIL import Image

    suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
    paths = sorted(p for folder in folders for p in Path(folder).rglob("*") if p.suffix.lower() in suffixes)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(paths), size=min(limit, len(paths)), replace=False)
    images = []
    for index in sorted(chosen):
        with Image.open(paths[index]) as im:
            rgb = np.asarray(im.convert("RGB"))
        h, w = rgb.shape[:2]
        top, left = rng.integers(0, max(h - crop, 0) + 1), rng.integers(0, max(w - crop, 0) + 1)
        images.append(np.ascontiguousarray(rgb[top : top + crop, left : left + crop]))
    return images


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sr_codec.rate --data ../shared/data/train --weights-dir DIR``: write DIR/rate_proxy.json."""
    import shlex
    import sys

    p = argparse.ArgumentParser(prog="python -m sr_codec.rate", description=main.__doc__)
    p.add_argument("--data", nargs="+", default=["../shared/data/train"], help="training photos (never the validation set)")
    p.add_argument("--weights-dir", default=str(zoo.WEIGHTS_DIR))
    p.add_argument("--limit", type=int, default=40, help="photos to measure on")
    p.add_argument("--crop", type=int, default=384, help="side of the random crop taken from each photo")
    p.add_argument("--qualities", type=int, nargs="+", default=list(range(0, 100, 10)))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help=f"default: WEIGHTS_DIR/{PROXY_FILE}")
    args = p.parse_args(argv)
    command = "python -m sr_codec.rate " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    receiver = Receiver.shipped(args.weights_dir)
    images = _calibration_images(args.data, args.limit, args.crop, args.seed)
    table = calibrate(images, receiver, qualities=args.qualities, command=command)
    out = Path(args.out) if args.out else Path(args.weights_dir) / PROXY_FILE
    out.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    for model_id, c in sorted(table.curves.items()):
        gains = ", ".join(f"{2 ** x:.2f} bpp: {g:+.2f}" for x, g in zip(c.log2_bpp, c.gain_db))
        print(f"{model_id} (x{c.scale}, {c.samples} samples, residual {c.residual_db:.2f} dB): {gains}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
