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
from ..builder import PayloadBuilder, check_mode, check_scale, effective_scale, load_for_encoding
from .receiver_model import Receiver
from .search import Q_MAX, Q_MIN
from .session import Route, Session, Trial
from .strategies import best_of, finalists_within, reaching

AUTO_SCALES = (1, 2, 4, 10)
"""The scales ``scale="auto"`` chooses among (each lowered for images smaller than it)."""
DEFAULT_MAX_BYTES = 4000
"""The budget of ``encode(img, scale="auto")`` with neither ``max_bytes`` nor ``target_psnr``:
soft (when nothing fits, the smallest payload there is rather than an error)."""


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
    codec = codecs.by_name(inner)
    soft = max_bytes is None and target_psnr is None
    if soft:
        max_bytes = DEFAULT_MAX_BYTES
    budget = None if max_bytes is None else min(max_bytes, limits.max_payload_bytes)
    with wrap_foreign(InputImageError, "encode"):
        img = load_for_encoding(image, limits)
        receiver = receiver if receiver is not None else Receiver.shipped(codec=codec)
        builder = PayloadBuilder(img, codec, limits)
        # Scale 1 competes head-on with a plain file of the codec, so it is coded exactly as one: the
        # guarantee's anchor. Its faster default configuration, when different, guides scale 1's searches.
        hull = codec.as_plain_file()
        twin = None
        if hull.speed_for(img.height, img.width) != codec.speed_for(img.height, img.width):
            twin = Session(builder, receiver)
        session = Session(builder, receiver, lambda scale: hull if scale == 1 else codec, twin)
        routes = routes_for(img.height, img.width, scales, receiver)
        qrange = (codec.default_quality,) * 2 if codec.lossless else (Q_MIN, Q_MAX)

        chosen = None
        finalists: list[tuple[Route, int]] = []
        if target_psnr is not None:
            finalists = reaching(session, routes, target_psnr, budget, qrange, mode)
            if finalists:
                chosen = min(finalists, key=lambda f: session.size(*f))
        if chosen is None:
            finalists = finalists_within(session, routes, budget, qrange)
            if finalists:
                chosen = best_of(session, finalists, mode)
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
