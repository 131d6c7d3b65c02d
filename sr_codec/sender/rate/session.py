"""One image under rate control: every encode, inner decode and network run done at most once, and the searches over them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...codecs import InnerCodec
from ...errors import InputImageError
from ...imaging.metrics import psnr_from_mse
from ...imaging.resample import low_res_size, upsample_bicubic
from ...zoo import manifest as zoo
from ..builder import PayloadBuilder
from .predictor import GainCurve, SpeedMap
from .receiver_model import Receiver
from .search import PSNR_PER_QUALITY, Q_MAX, Q_MIN, first_at_least, highest_fitting

UNCALIBRATED_MARGIN_DB = 3.0
"""A network route without a calibrated gain curve is taken to decode at least bicubic minus this
(:meth:`Session.lower_bound`): in ``mode="fast"`` it then beats the scale-1 anchor only by a wide margin."""


LOWER_BOUND_RESIDUALS = 2.0
"""A network route's decoded PSNR is taken to be at least bicubic + gain - this many residuals
(``mode="fast"`` beats the scale-1 anchor with a network only on that bound: the guarantee)."""


TARGET_SAFETY_RESIDUALS = 1.0
"""``mode="fast"`` aims a network route this many residuals above a PSNR target (it runs no network to check)."""


@dataclass(frozen=True)
class Route:
    """A way to code the image: the scale, the model the payload names, and who makes the thumbnail."""

    scale: int
    model_id: str
    sender: str = "bicubic"
    """``"bicubic"`` (the antialiased downsampler) or ``"learned"`` (the pair's downscaler; ``model_id`` is its upscaler)."""

    @property
    def exact(self) -> bool:
        """True when no network runs: the bicubic decode *is* the decode, so its PSNR is exact and cheap."""
        return self.model_id == zoo.BICUBIC and self.sender == "bicubic"


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
    sender: str = "bicubic"


class Session:
    """Every encode, inner decode and network run for one image, each done at most once.

    ``codec_for(scale)`` is the inner-codec configuration each scale is coded with (all of one
    wire id). ``twin``: a session on the same image with a faster configuration, whose searches
    only provide starting guesses (see :meth:`~sr_codec.codecs.InnerCodec.as_plain_file`).
    ``speed_map(scale)``: set on an *analysis* session (fast mode), which probes at a fast speed
    and stands for the final encode at another: :meth:`size` and :meth:`estimate` are then what the
    final speed is predicted to give (:class:`~sr_codec.sender.rate.predictor.SpeedMap`).
    ``optimise``: the quantity the gain curves predict (:data:`~sr_codec.sender.rate.predictor.OPTIMISE`).
    """

    def __init__(
        self,
        builder: PayloadBuilder,
        receiver: Receiver,
        codec_for: Callable[[int], InnerCodec] | None = None,
        twin: Session | None = None,
        speed_map: Callable[[int], SpeedMap | None] | None = None,
        optimise: str = "psnr",
    ) -> None:
        self.builder = builder
        self.receiver = receiver
        self.codec_for = codec_for or (lambda scale: builder.codec)
        self.twin = twin
        self.speed_map = speed_map or (lambda scale: None)
        self.optimise = optimise
        self.rgb = builder.image.rgb
        self.height, self.width = self.rgb.shape[:2]
        self._bitstreams: dict[tuple[int, str, int], bytes] = {}
        self._payloads: dict[tuple[Route, int], bytes] = {}
        self._bicubic: dict[tuple[int, str, int], float] = {}
        self._real: dict[tuple[Route, int], float] = {}
        self._tags: dict[str, int] = {}
        self.network_decodes = 0

    @property
    def encodes(self) -> int:
        return len(self._bitstreams) + (self.twin.encodes if self.twin is not None else 0)

    def bitstream(self, scale: int, quality: int, sender: str = "bicubic") -> bytes:
        key = (scale, sender, quality)
        if key not in self._bitstreams:
            self._bitstreams[key] = self.builder.bitstream(scale, quality, self.codec_for(scale), sender=sender)
        return self._bitstreams[key]

    def payload(self, route: Route, quality: int) -> bytes:
        key = (route, quality)
        if key not in self._payloads:
            if route.model_id not in self._tags:
                self._tags[route.model_id] = self.receiver.tag_for(route.model_id)
            bitstream = self.bitstream(route.scale, quality, route.sender)
            self._payloads[key] = self.builder.pack(route.scale, bitstream, self._tags[route.model_id])
        return self._payloads[key]

    def probed(self) -> list[tuple[Route, int]]:
        """Every (route, quality) whose payload this session has made."""
        return list(self._payloads)

    def size(self, route: Route, quality: int) -> int:
        """Payload bytes; in an analysis session, the bytes predicted at the final speed (``speed_map``)."""
        n = len(self.payload(route, quality))
        speed_map = self.speed_map(route.scale)
        return n if speed_map is None else max(1, round(n * math.exp(speed_map.log_size_ratio)))

    def low_res(self, scale: int, quality: int, sender: str = "bicubic") -> np.ndarray:
        """The low-res image as the receiver decodes it."""
        return self.builder.codec.decode(self.bitstream(scale, quality, sender))

    def bicubic_psnr(self, scale: int, quality: int, sender: str = "bicubic") -> float:
        """PSNR of the bicubic upsampling of the decoded low-res (the whole decode of a route without a network)."""
        key = (scale, sender, quality)
        if key not in self._bicubic:
            up = upsample_bicubic(self.low_res(scale, quality, sender), scale, (self.height, self.width))
            self._bicubic[key] = psnr_bounded(self.rgb, up)
        return self._bicubic[key]

    def low_res_bpp(self, scale: int, quality: int, sender: str = "bicubic") -> float:
        h, w = low_res_size(self.height, self.width, scale)
        return 8.0 * len(self.bitstream(scale, quality, sender)) / (h * w)

    def curve(self, route: Route) -> GainCurve | None:
        return None if route.exact else self.receiver.gains.curve(route.model_id, self.optimise)

    def speed_gain(self, route: Route, quality: int) -> float:
        """What the final speed adds to the decoded PSNR at the same bytes (0 outside an analysis session)."""
        speed_map = self.speed_map(route.scale)
        return 0.0 if speed_map is None else speed_map.gain.at(self.low_res_bpp(route.scale, quality, route.sender))

    def estimate(self, route: Route, quality: int, offset: float = 0.0) -> float:
        """Predicted decoded PSNR: exact without a network, else bicubic + the network's gain - ``offset``
        (in an analysis session, plus the final speed's gain at the same bytes: :meth:`speed_gain`)."""
        base = self.bicubic_psnr(route.scale, quality, route.sender) + self.speed_gain(route, quality)
        if route.exact:
            return base
        curve = self.curve(route)
        gain = curve.at(self.low_res_bpp(route.scale, quality, route.sender)) if curve is not None else 0.0
        return base + gain - offset

    def safety(self, route: Route) -> float:
        """What ``mode="fast"`` subtracts from a network route's prediction when aiming at a PSNR target:
        :data:`TARGET_SAFETY_RESIDUALS` residuals (0 without a calibrated gain: bicubic is then the prediction)."""
        curve = self.curve(route)
        return 0.0 if curve is None else TARGET_SAFETY_RESIDUALS * curve.residual_db

    def lower_bound(self, route: Route, quality: int) -> float:
        """A decoded PSNR the route reaches with high confidence (exact without a network).

        Bicubic + gain - :data:`LOWER_BOUND_RESIDUALS` residuals; without a calibrated gain,
        bicubic - :data:`UNCALIBRATED_MARGIN_DB`.
        """
        if route.exact:
            return self.estimate(route, quality)
        curve = self.curve(route)
        if curve is None:
            return self.estimate(route, quality) - UNCALIBRATED_MARGIN_DB
        return self.estimate(route, quality) - LOWER_BOUND_RESIDUALS * curve.residual_db

    def real(self, route: Route, quality: int) -> float:
        """The decoded RGB PSNR, exactly as ``decode`` would show it (runs the network if the route has one)."""
        if route.exact:
            return self.bicubic_psnr(route.scale, quality)
        key = (route, quality)
        if key not in self._real:
            low = self.low_res(route.scale, quality, route.sender)
            up = np.asarray(self.receiver.upscale(low, route.scale, route.model_id))
            expected = (low.shape[0] * route.scale, low.shape[1] * route.scale, 3)
            if up.shape != expected or up.dtype != np.uint8:
                raise InputImageError(f"upscaler returned {up.dtype} {up.shape}, expected uint8 {expected}")
            self._real[key] = psnr_bounded(self.rgb, up[: self.height, : self.width])
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
            sender=route.sender,
        )


def psnr_bounded(reference: np.ndarray, test: np.ndarray, rows: int = 256) -> float:
    """:func:`~sr_codec.imaging.metrics.psnr` computed in bands of ``rows`` rows: a 12 MP photo never needs float copies."""
    if reference.shape != test.shape:
        raise InputImageError(f"shape mismatch {reference.shape} vs {test.shape}")
    total = 0
    for top in range(0, reference.shape[0], rows):
        diff = reference[top : top + rows].astype(np.int32) - test[top : top + rows]
        flat = diff.ravel().astype(np.int64)
        total += int(flat @ flat)
    return psnr_from_mse(total / reference.size)


def quality_guess(session: Session, scale: int, budget: int) -> int:
    """A first quality to try for ``budget`` bytes at ``scale`` (AVIF-ish: q ~ 30 + 30 log2(bpp / 0.25))."""
    h, w = low_res_size(session.height, session.width, scale)
    bpp = 8.0 * budget / (h * w)
    return int(min(max(30 + 30 * math.log2(max(bpp, 1e-6) / 0.25), Q_MIN), Q_MAX))


def top_quality(
    session: Session, route: Route, budget: int | None, qrange: tuple[int, int], guess: int | None = None
) -> int | None:
    """The highest quality of ``route`` whose payload fits ``budget`` (None = any size: the top of the range).

    ``guess``: where to start (default: :func:`quality_guess`)."""
    lo, hi = qrange
    if budget is None:
        return hi
    guess = quality_guess(session, route.scale, budget) if guess is None else guess
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
