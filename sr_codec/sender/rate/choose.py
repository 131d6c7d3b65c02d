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
from ...zoo import manifest as zoo
from ..builder import PayloadBuilder, check_mode, check_scale, check_sender, effective_scale, load_for_encoding
from .receiver_model import Receiver
from .search import Q_MAX, Q_MIN
from .session import Route, Session, Trial
from .final import code_at_full_size, final_codec, recode_slower
from .proxy import mosaic_image, uses_proxy
from .strategies import best_of, finalists_within, reaching

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
DEFAULT_MAX_BYTES = DEFAULT_MIN_BYTES
"""Kept for compatibility: the smallest default budget (see :func:`default_budget`)."""


def default_budget(height: int, width: int) -> int:
    """The soft byte budget of ``encode(img)`` / ``scale="auto"`` alone: :data:`DEFAULT_BITS_PER_PIXEL`
    of the image, at least :data:`DEFAULT_MIN_BYTES` and at most :data:`DEFAULT_MAX_BYTES_CAP`."""
    return int(min(max(DEFAULT_BITS_PER_PIXEL * height * width / 8, DEFAULT_MIN_BYTES), DEFAULT_MAX_BYTES_CAP))


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
) -> RateChoice:
    """Rate control: what ``encode(image, scale=..., max_bytes=..., target_psnr=..., mode=...)`` does, with its report.

    ``scale``: ``"auto"`` (1, 2, 4 and 10) or one fixed scale (then only the quality is chosen).
    ``max_bytes``: the payload is at most this many bytes; :class:`LimitExceededError` when even
    the smallest setting is bigger. ``target_psnr``: the smallest payload whose decoded RGB PSNR
    reaches it (within ``max_bytes`` if given); when none does, the best decoded PSNR there is
    (``reached_target`` is then False). Neither: ``max_bytes=default_budget(height, width)``, soft.
    ``receiver``: the decoder to judge by (default: the shipped models, :meth:`Receiver.shipped`).
    ``sender``: the thumbnails to consider at scales above 1: ``"auto"`` (bicubic, and a shipped
    learned pair's beside it), ``"bicubic"`` or ``"learned"`` (only scales with a pair; scale 1 always stays).
    """
    started = time.perf_counter()
    check_sender(sender)
    limits = resolve(limits)
    scales, max_bytes, target_psnr = _check_arguments(scale, quality, max_bytes, target_psnr, mode)
    codec = codecs.by_name(inner)
    soft = max_bytes is None and target_psnr is None
    with wrap_foreign(InputImageError, "encode"):
        img = load_for_encoding(image, limits)
        if soft:
            max_bytes = default_budget(img.height, img.width)
        budget = None if max_bytes is None else min(max_bytes, limits.max_payload_bytes)
        receiver = receiver if receiver is not None else Receiver.shipped(codec=codec)
        builder = PayloadBuilder(img, codec, limits)
        from ..learned import is_grey, learned_sender_suits

        candidates = routes_for(img.height, img.width, scales, receiver)
        grey = is_grey(img.rgb) if any(r.sender == "learned" for r in candidates) else False
        routes = [r for r in candidates
                  if (sender == "auto" or r.scale == 1 or r.sender == sender)
                  and (r.sender != "learned" or learned_sender_suits(img.rgb, r.scale, grey))]
        if not routes:
            raise InputImageError(f"no {sender} route for scale {scale!r} with the {codec.name} inner codec")
        qrange = (codec.default_quality,) * 2 if codec.lossless else (Q_MIN, Q_MAX)
        if uses_proxy(img.height, img.width, mode):
            # decide on a mosaic of tiles at the same bits per pixel, then code the photo itself
            proxy = PayloadBuilder(mosaic_image(img), codec, limits)
            share = proxy.image.rgb.shape[0] * proxy.image.rgb.shape[1] / (img.height * img.width)
            proxy_session = Session(proxy, receiver)
            picked = _select(proxy_session, routes, None if budget is None else max(1, int(budget * share)),
                             target_psnr, qrange, mode)
            twin = Session(builder, receiver) if codec.as_plain_file() != codec else None  # scale 1's fast guide
            session = Session(builder, receiver, lambda scale: final_codec(codec, img.height, img.width, scale), twin)
            chosen, finalists = code_at_full_size(session, proxy_session, picked, routes, budget, qrange)
        else:
            # Scale 1 competes head-on with a plain file of the codec, so it is coded exactly as one: the
            # guarantee's anchor. Its faster default configuration, when different, guides scale 1's searches.
            hull = codec.as_plain_file()
            twin = None
            if hull.speed_for(img.height, img.width) != codec.speed_for(img.height, img.width):
                twin = Session(builder, receiver)
            session = Session(builder, receiver, lambda scale: hull if scale == 1 else codec, twin)
            proxy_session = None
            chosen, finalists = _select(session, routes, budget, target_psnr, qrange, mode)
        final_session = session
        if proxy_session is None and chosen is not None and mode == "fast":
            chosen, final_session = recode_slower(session, chosen, budget, qrange,
                                                  lambda scale: final_codec(codec, img.height, img.width, scale))
        if chosen is None:
            if soft:
                chosen = min(((r, qrange[0]) for r in routes), key=lambda f: session.size(*f))
            else:
                smallest = min(((session.size(r, qrange[0]), r) for r in routes), key=lambda s: s[0])
                raise LimitExceededError(
                    f"no setting fits in {max_bytes} bytes: the smallest payload for this "
                    f"{img.width} x {img.height} image is {smallest[0]} bytes "
                    f"(scale {smallest[1].scale}, {codec.name} quality {qrange[0]})"
                )
        route, q = chosen
        payload = final_session.payload(route, q)
        limits.check_payload_bytes(len(payload))
        real = final_session.known_real(route, q) if proxy_session is None else None
        judged = real if real is not None else (proxy_session or final_session).estimate(route, q)
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
            finalists=tuple((proxy_session or session).trial(r, qq) for r, qq in finalists),
            encodes=session.encodes + (final_session.encodes if final_session is not session else 0)
            + (proxy_session.encodes if proxy_session is not None else 0),
            network_decodes=session.network_decodes,
            seconds=time.perf_counter() - started,
            sender=route.sender,
        )
