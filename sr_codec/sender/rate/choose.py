"""``choose``: rate control's entry point, what ``encode(..., max_bytes=, target_psnr=, scale="auto")`` runs."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ... import codecs
from ...errors import InputImageError, LimitExceededError, wrap_foreign
from ...limits import Limits, resolve
from ...imaging.resample import low_res_size
from ...zoo import manifest as zoo
from ..builder import PayloadBuilder, check_mode, check_scale, check_sender, effective_scale, load_for_encoding
from .receiver_model import Receiver
from .search import PSNR_PER_QUALITY, Q_MAX, Q_MIN, first_at_least
from .session import Route, Session, Trial
from .final import final_codec_for, fit_final, size_curve
from .mosaic import mosaic_image, uses_mosaic
from .predictor import check_optimise
from .strategies import best_of, finalists_roughly, finalists_within, reaching

AUTO_SCALES = (1, 2, 4, 10)
"""The scales ``scale="auto"`` chooses among (each lowered for images smaller than it)."""
DEFAULT_BITS_PER_PIXEL = 0.0625
"""The default budget in bits per input pixel. Today's fixed default (x4, AVIF q50) spends a median
0.063 bpp on the 480 training photos (10th-90th percentile 0.043-0.083), so the rate-controlled default
keeps the payload sizes users had and spends them on the best route for each photo (docs/rate_control.md)."""
DEFAULT_MIN_BYTES = 1000
"""The default budget's floor: the 10th percentile of today's default payloads on the training photos
(967 B); below it a thumbnail has too few bytes to be worth a super-resolution decode."""
DEFAULT_MAX_BYTES_CAP = 40_000
"""The default budget's cap: a 12 MP photo gets 40 kB (0.027 bpp), not 94 kB, in a chat message."""
LEARNED_MAX_PIXELS = 4_000_000
"""Above this many pixels ``sender="auto"`` leaves the learned routes out: the downscaler runs untiled on the whole
photo (LiteRT), 445 MB peak RSS for a 2 MP photo here, so a 12 MP one would pass the 600 MB a phone-sized photo
may take; ``sender="learned"`` still asks for it."""
TARGET_CAP_BITS_PER_PIXEL = 0.5
"""``target_psnr`` without ``max_bytes`` is capped (softly) at this many bits per input pixel (:func:`target_cap`):
8 x the default budget, where a plain AVIF file of a BSD100 photo decodes at 30.7 dB on average; a textured photo
asked for more than it can reach there gets the best payload within it and a :class:`TargetNotReachedWarning`."""


def default_budget(height: int, width: int) -> int:
    """The soft byte budget of ``encode(img)`` / ``scale="auto"`` alone: :data:`DEFAULT_BITS_PER_PIXEL`
    of the image, at least :data:`DEFAULT_MIN_BYTES` and at most :data:`DEFAULT_MAX_BYTES_CAP`."""
    return int(min(max(DEFAULT_BITS_PER_PIXEL * height * width / 8, DEFAULT_MIN_BYTES), DEFAULT_MAX_BYTES_CAP))


def target_cap(height: int, width: int) -> int:
    """The soft byte cap of ``target_psnr`` without ``max_bytes``: :data:`TARGET_CAP_BITS_PER_PIXEL` of the image,
    at least :data:`DEFAULT_MIN_BYTES`."""
    return int(max(TARGET_CAP_BITS_PER_PIXEL * height * width / 8, DEFAULT_MIN_BYTES))


@dataclass(frozen=True)
class RateChoice:
    """The payload rate control chose, and how it got there."""

    payload: bytes
    scale: int
    quality: int
    model_id: str
    psnr_db: float | None
    """Real decoded RGB PSNR of the payload; None when a network decodes it in ``mode="fast"`` (it runs
    none) or when one setting was possible and not decoded."""
    estimate_db: float | None
    """The decoded PSNR rate control judged by: real where known, else predicted (gain table)."""
    mode: str
    max_bytes: int | None
    target_psnr: float | None
    reached_target: bool | None
    """Whether the payload reaches ``target_psnr``: by ``psnr_db``, or by ``estimate_db`` when it was
    not decoded (None without a target). ``encode`` warns (:class:`TargetNotReachedWarning`) when False."""
    finalists: tuple[Trial, ...]
    encodes: int
    network_decodes: int
    seconds: float
    sender: str = "bicubic"
    """Who made the thumbnail: ``"bicubic"`` or ``"learned"``."""

    @property
    def payload_bytes(self) -> int:
        return len(self.payload)


def routes_for(height: int, width: int, scales: Iterable[int], receiver: Receiver) -> list[Route]:
    """The routes to try, largest scale first; scale 1 always includes the inner codec alone.

    A scale with a learned pair (:attr:`Receiver.learned_for`) has two routes: the bicubic
    thumbnail with the codec-role model and the learned thumbnail with the pair's upscaler.
    """
    routes: list[Route] = []
    for scale in sorted({effective_scale(height, width, int(s)) for s in scales}, reverse=True):
        model_id = receiver.model_for(scale)
        learned = receiver.learned_for(scale) if scale > 1 else None
        if learned is not None:
            routes.append(Route(scale, learned, "learned"))
        routes.append(Route(scale, model_id))
        if scale == 1 and model_id != zoo.BICUBIC:
            routes.append(Route(1, zoo.BICUBIC))
    return routes


def _check_arguments(scale, quality, max_bytes, target_psnr, mode) -> tuple[Sequence[int], int | None, float | None]:
    check_mode(mode)
    if quality is not None:
        raise InputImageError(
            "quality is chosen by rate control: pass quality only with a fixed scale and neither max_bytes nor target_psnr"
        )
    if isinstance(scale, str):
        if scale != "auto":
            raise InputImageError(f"scale must be an integer in 1..16 or 'auto', got {scale!r}")
        scales: Sequence[int] = AUTO_SCALES
    else:
        scales = (check_scale(scale),)
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


def _select(
    session: Session, routes: list[Route], budget: int | None, target_psnr: float | None,
    qrange: tuple[int, int], mode: str,
) -> tuple[tuple[Route, int] | None, list[tuple[Route, int]]]:
    """(the chosen route and quality or None when nothing fits ``budget``, the finalists)."""
    if target_psnr is not None:
        finalists = reaching(session, routes, target_psnr, budget, qrange, mode)
        if finalists:
            return min(finalists, key=lambda f: session.size(*f)), finalists
    finalists = finalists_within(session, routes, budget, qrange)
    return (best_of(session, finalists, mode) if finalists else None), finalists


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
    sender: str = "auto",
    optimise: str = "psnr",
) -> RateChoice:
    """Rate control: what ``encode(image, scale=..., max_bytes=..., target_psnr=..., mode=...)`` does, with its report.

    ``scale``: ``"auto"`` (1, 2, 4 and 10) or one fixed scale (then only the quality is chosen).
    ``max_bytes``: the payload is at most this many bytes; :class:`LimitExceededError` when even
    the smallest setting is bigger. ``target_psnr``: the smallest payload whose decoded RGB PSNR
    reaches it (within ``max_bytes``, or else the soft cap :func:`target_cap`); when none does, the best
    decoded PSNR there is (``reached_target`` is then False). Neither: ``max_bytes=default_budget(height,
    width)``, soft. ``mode``: ``"fast"`` (decide on a cheap analysis at a fast probe speed, code only the
    chosen route at full size; no network runs) or ``"best"`` (every route searched on the photo, every
    network finalist decoded: the exhaustive guarantee).
    ``receiver``: the decoder to judge by (default: the shipped models, :meth:`Receiver.shipped`).
    ``sender``: the thumbnails to consider at scales above 1: ``"auto"`` (bicubic, and a shipped
    learned pair's beside it), ``"bicubic"`` or ``"learned"`` (only scales with a pair; scale 1 always stays).
    ``optimise``: what the decoded picture is judged by, ``"psnr"`` (:data:`~sr_codec.sender.rate.predictor.OPTIMISE`;
    the hook the perceptual metric will use).
    """
    started = time.perf_counter()
    check_sender(sender)
    check_optimise(optimise)
    limits = resolve(limits)
    scales, max_bytes, target_psnr = _check_arguments(scale, quality, max_bytes, target_psnr, mode)
    codec = codecs.by_name(inner)
    soft = max_bytes is None
    with wrap_foreign(InputImageError, "encode"):
        img = load_for_encoding(image, limits)
        if soft:
            max_bytes = default_budget(img.height, img.width) if target_psnr is None else target_cap(img.height, img.width)
        budget = min(max_bytes, limits.max_payload_bytes)
        receiver = receiver if receiver is not None else Receiver.shipped(codec=codec)
        from ..learned import is_grey, learned_sender_suits

        candidates = routes_for(img.height, img.width, scales, receiver)
        if img.height * img.width > LEARNED_MAX_PIXELS and sender != "learned":
            candidates = [r for r in candidates if r.sender != "learned"]
        grey = is_grey(img.rgb) if any(r.sender == "learned" for r in candidates) else False
        routes = [r for r in candidates
                  if (sender == "auto" or r.scale == 1 or r.sender == sender)
                  and (r.sender != "learned" or learned_sender_suits(img.rgb, r.scale, grey))]
        if not routes:
            raise InputImageError(f"no {sender} route for scale {scale!r} with the {codec.name} inner codec")
        qrange = (codec.default_quality,) * 2 if codec.lossless else (Q_MIN, Q_MAX)
        if mode == "fast":
            return _fast(img, codec, limits, receiver, routes, budget, soft, max_bytes, target_psnr, qrange,
                         optimise, started)
        # best: every route searched on the photo itself, every network finalist decoded. Scale 1 competes
        # head-on with a plain file of the codec, so it is coded exactly as one: the guarantee's anchor. Its
        # faster default configuration, when different, guides scale 1's searches.
        builder = PayloadBuilder(img, codec, limits, receiver.weights_dir or zoo.WEIGHTS_DIR)
        hull = codec.as_plain_file()
        twin = None
        if hull.speed_for(img.height, img.width) != codec.speed_for(img.height, img.width):
            twin = Session(builder, receiver)
        session = Session(builder, receiver, lambda scale: hull if scale == 1 else codec, twin, optimise=optimise)
        chosen, finalists = _select(session, routes, budget, target_psnr, qrange, mode)
        if chosen is None:
            if soft:
                chosen = min(((r, qrange[0]) for r in routes), key=lambda f: session.size(*f))
            else:
                _no_fit(session, routes, qrange, max_bytes, img, codec)
        route, q = chosen
        payload = session.payload(route, q)
        limits.check_payload_bytes(len(payload))
        real = session.known_real(route, q)
        judged = real if real is not None else session.estimate(route, q)
        return RateChoice(
            payload=payload,
            scale=route.scale,
            quality=q,
            model_id=route.model_id,
            psnr_db=real,
            estimate_db=judged,
            mode=mode,
            max_bytes=None if soft else max_bytes,
            target_psnr=target_psnr,
            reached_target=None if target_psnr is None else judged >= target_psnr,
            finalists=tuple(session.trial(r, qq) for r, qq in finalists),
            encodes=session.encodes,
            network_decodes=session.network_decodes,
            seconds=time.perf_counter() - started,
            sender=route.sender,
        )


def _no_fit(session: Session, routes, qrange, max_bytes, img, codec) -> None:
    smallest = min(((session.size(r, qrange[0]), r) for r in routes), key=lambda s: s[0])
    raise LimitExceededError(
        f"no setting fits in {max_bytes} bytes: the smallest payload for this "
        f"{img.width} x {img.height} image is {smallest[0]} bytes "
        f"(scale {smallest[1].scale}, {codec.name} quality {qrange[0]})"
    )


def _fast(img, codec, limits, receiver, routes, budget, soft, max_bytes, target_psnr, qrange, optimise, started):
    """Fast mode (issue 22): decide on a cheap analysis, then code only the chosen route at full size.

    The analysis probes every route at the codec's probe speed on the photo (or on its mosaic, above
    :data:`~sr_codec.sender.rate.mosaic.MOSAIC_MIN_PIXELS`), with sizes and PSNRs carried to each route's
    final speed by the gain table's speed map; the chosen route is then coded by :func:`final.fit_final`.
    """
    h, w = img.height, img.width
    folder = receiver.weights_dir or zoo.WEIGHTS_DIR
    builder = PayloadBuilder(img, codec, limits, folder)
    probe = codec.for_probes()
    final_for = final_codec_for(codec, h, w)

    def speed_map(scale: int):
        lh, lw = low_res_size(h, w, scale)
        return receiver.gains.speed_map(probe.speed_for(lh, lw), final_for(scale).speed_for(lh, lw), scale)

    on_mosaic = uses_mosaic(h, w, "fast")
    a_builder = PayloadBuilder(mosaic_image(img), codec, limits, folder) if on_mosaic else builder
    share = a_builder.image.rgb.shape[0] * a_builder.image.rgb.shape[1] / (h * w)
    analysis = Session(a_builder, receiver, lambda scale: probe, speed_map=speed_map, optimise=optimise)
    a_budget = None if budget is None else max(1, int(budget * share))
    chosen, finalists = None, []
    if target_psnr is not None:
        finalists = reaching(analysis, routes, target_psnr, a_budget, qrange, "fast")
        if finalists:
            chosen = min(finalists, key=lambda f: analysis.size(*f))
    if chosen is None:
        finalists = finalists_roughly(analysis, routes, a_budget, qrange)
        chosen = best_of(analysis, finalists, "fast") if finalists else None
    lo = qrange[0]
    reached = chosen is not None and target_psnr is not None and analysis.estimate(*chosen) >= target_psnr

    full_probe = Session(builder, receiver, lambda scale: probe) if on_mosaic else None
    final = Session(builder, receiver, final_for, optimise=optimise)
    def smallest() -> Route:  # the fallback when the analysis's choice does not fit after all (lowest quality)
        return min(routes, key=lambda r: analysis.size(r, lo))

    def order():
        if chosen is not None:
            yield chosen
        if chosen is None or chosen[0] != smallest():
            yield smallest(), lo

    picked = None
    for route, qa in order():
        target_bytes = budget
        if reached and (route, qa) == chosen:  # no more bytes than the analysis needed to reach the target
            target_bytes = min(budget, max(1, round(analysis.size(route, qa) / share)))
        curve = size_curve(analysis, route, 1 / share)
        offset = 0.0
        if full_probe is not None:  # the mosaic gives the curve's shape; one full-size probe its level
            speed = speed_map(route.scale)
            offset = (math.log(full_probe.size(route, qa)) + (speed.log_size_ratio if speed is not None else 0.0)
                      - curve.at(qa))
        q = fit_final(final, route, target_bytes, curve, offset, qrange)
        if q is None and target_bytes != budget:
            q = fit_final(final, route, budget, curve, offset, qrange)
        if q is not None and reached and (route, qa) == chosen and not on_mosaic:
            # the bytes were the analysis's guess; the final encode's own (cheap) prediction sets the quality:
            # the lowest reaching the target, up to the highest within the budget
            def reach(x: int, r: Route = route) -> float:
                return final.estimate(r, x, final.safety(r))

            top = q if reach(q) >= target_psnr else fit_final(final, route, budget, curve, offset, qrange)
            if top is not None:
                lowest = first_at_least(reach, target_psnr, lo, top, guess=top, slope=PSNR_PER_QUALITY)
                q = top if lowest is None else lowest
        if q is not None:
            picked = (route, q, qa)
            break
    if picked is None:
        if not soft:
            _no_fit(final, [smallest()], qrange, max_bytes, img, codec)
        picked = (smallest(), lo, lo)
    route, q, qa = picked
    payload = final.payload(route, q)
    limits.check_payload_bytes(len(payload))
    if on_mosaic:
        real, judged = None, analysis.estimate(route, qa)
    else:
        judged = final.estimate(route, q)
        real = judged if route.exact else None
    return RateChoice(
        payload=payload,
        scale=route.scale,
        quality=q,
        model_id=route.model_id,
        psnr_db=real,
        estimate_db=judged,
        mode="fast",
        max_bytes=None if soft else max_bytes,
        target_psnr=target_psnr,
        reached_target=None if target_psnr is None else judged >= target_psnr,
        finalists=tuple(analysis.trial(r, qq) for r, qq in finalists),
        encodes=analysis.encodes + final.encodes + (full_probe.encodes if full_probe is not None else 0),
        network_decodes=0,
        seconds=time.perf_counter() - started,
        sender=route.sender,
    )
