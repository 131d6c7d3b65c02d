"""One image under rate control: every encode, inner decode and network run done at most once, and the searches over them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...codecs import InnerCodec
from ...errors import InputImageError
from ...imaging.metrics import psnr
from ...imaging.resample import low_res_size, upsample_bicubic
from ...zoo import manifest as zoo
from ..builder import PayloadBuilder
from .predictor import GainCurve
from .receiver_model import Receiver
from .search import PSNR_PER_QUALITY, Q_MAX, Q_MIN, first_at_least, highest_fitting

UNCALIBRATED_MARGIN_DB = 3.0
"""How far below the best measured PSNR a network finalist without a calibrated gain may be
predicted and still get decoded (its prediction is then plain bicubic, a lower bound in practice)."""


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


class Session:
    """Every encode, inner decode and network run for one image, each done at most once.

    ``codec_for(scale)`` is the inner-codec configuration each scale is coded with (all of one
    wire id). ``twin``: a session on the same image with a faster configuration, whose searches
    only provide starting guesses (see :meth:`~sr_codec.codecs.InnerCodec.as_plain_file`).
    """

    def __init__(
        self,
        builder: PayloadBuilder,
        receiver: Receiver,
        codec_for: Callable[[int], InnerCodec] | None = None,
        twin: Session | None = None,
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


def quality_guess(session: Session, scale: int, budget: int) -> int:
    """A first quality to try for ``budget`` bytes at ``scale`` (AVIF-ish: q ~ 30 + 30 log2(bpp / 0.25))."""
    h, w = low_res_size(session.height, session.width, scale)
    bpp = 8.0 * budget / (h * w)
    return int(min(max(30 + 30 * math.log2(max(bpp, 1e-6) / 0.25), Q_MIN), Q_MAX))


def top_quality(session: Session, route: Route, budget: int | None, qrange: tuple[int, int]) -> int | None:
    """The highest quality of ``route`` whose payload fits ``budget`` (None = any size: the top of the range)."""
    lo, hi = qrange
    if budget is None:
        return hi
    guess = quality_guess(session, route.scale, budget)
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


def lowest_reaching(
    session: Session, route: Route, target: float, score: Callable[[int], float], lo: int, top: int
) -> int:
    """The lowest quality in [lo, top] whose ``score`` reaches ``target`` (``score(top)`` does)."""
    # start where the cheap prediction crosses the target: a search on real decodes then needs few probes
    guide = session.twin if session.twin is not None and route.scale == 1 else session
    guess = first_at_least(lambda q: guide.estimate(route, q), target, lo, top, guess=top, slope=PSNR_PER_QUALITY)
    return first_at_least(score, target, lo, top, guess=top if guess is None else guess, slope=PSNR_PER_QUALITY)
