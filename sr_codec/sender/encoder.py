"""``encode``: normalise the input -> shrink by ``scale`` -> inner codec -> pack the payload.

With ``max_bytes``, ``target_psnr`` or ``scale="auto"`` it hands over to rate control
(:mod:`sr_codec.sender.rate`). Without them nothing here imports TensorFlow.
"""

from __future__ import annotations

import warnings

from .. import codecs
from ..errors import InputImageError, TargetNotReachedWarning, wrap_foreign
from ..limits import Limits, resolve
from ..zoo import manifest as zoo
from .rate.predictor import check_optimise
from .builder import (
    PayloadBuilder,
    check_mode,
    check_quality,
    check_scale,
    check_sender,
    effective_scale,
    load_for_encoding,
    payload_model_id,
    resolve_sender,
)

#: The scale ``encode`` uses without ``scale``, ``max_bytes`` or ``target_psnr`` (an int, or "auto").
DEFAULT_SCALE: int | str = 4


def encode(
    image: object,
    *,
    scale: int | str | None = None,
    quality: int | None = None,
    inner: str | None = None,
    max_bytes: int | None = None,
    target_psnr: float | None = None,
    mode: str = "fast",
    limits: Limits | None = None,
    sender: str = "auto",
    optimise: str = "psnr",
) -> bytes:
    """Compress ``image`` into a payload.

    ``image``: a path, encoded file bytes, a ``PIL.Image`` or a uint8 array (H x W, H x W x 3
    RGB, H x W x 4 RGBA). Animated images (GIF, WebP, APNG) and multi-page TIFFs: the first frame
    only, with an :class:`~sr_codec.errors.AnimatedImageWarning`. ``scale``: the shrink factor, 1..16 (1, 2, 4 and 10 have trained
    networks; other scales decode with bicubic); lowered for images smaller than it (:func:`effective_scale`); or ``"auto"``:
    rate control picks it among 1, 2, 4 and 10. None (default): :data:`DEFAULT_SCALE`, or
    ``"auto"`` when ``max_bytes`` or ``target_psnr`` is given (an explicit integer scale with
    them keeps that scale and chooses only the quality). ``quality``: 0..100 for the inner codec (None =
    its default; rate control picks it when ``max_bytes`` or ``target_psnr`` is given).
    ``inner``: ``"avif"`` (default), ``"webp"``, ``"jpeg"`` or lossless ``"png"``.

    Rate control (docs/rate_control.md), by *decoded* RGB PSNR against the input:

    * ``max_bytes=N``: the best payload of at most N bytes (:class:`LimitExceededError` when
      even the smallest setting is bigger); never worse than the inner codec alone at full
      resolution within N bytes.
    * ``target_psnr=dB``: the smallest payload whose decoded PSNR reaches ``dB`` (within
      ``max_bytes`` when both are given, else within the soft cap ``sr_codec.rate.target_cap(height, width)``:
      0.5 bits per pixel, at least 1,000 bytes); when no setting reaches it, the best one there is, with a
      :class:`~sr_codec.errors.TargetNotReachedWarning`.
    * ``scale="auto"`` alone: ``max_bytes=sr_codec.rate.default_budget(height, width)`` (0.0625 bits
      per pixel, at least 1,000 and at most 40,000 bytes), as a soft limit (the smallest payload
      there is when nothing fits).

    ``sender``: who makes the thumbnail: ``"auto"`` (default: on the fixed path the shipped
    learned downscaler of the scale with AVIF, bicubic otherwise; under rate control both are
    routes), ``"learned"`` or ``"bicubic"`` (rate control then keeps to that kind above scale 1).

    ``mode``: ``"fast"`` (decide from a cheap analysis at a fast encoder speed and a calibrated gain table,
    then code only the chosen route at full size, in about the time of one plain AVIF encode; no network runs,
    TensorFlow is not imported; a ``target_psnr`` reached is then a prediction, and "never worse than plain AVIF"
    is a measured statistic, docs/rate_control.md) or ``"best"`` (every route searched, every finalist decoded
    with the network: the exhaustive guarantee). ``optimise``: what rate control judges the decoded picture by,
    ``"psnr"`` (the hook of a perceptual metric to come). See :func:`sr_codec.rate.choose` for the full report of
    a choice.
    """
    if scale is None:
        scale = "auto" if max_bytes is not None or target_psnr is not None else DEFAULT_SCALE
    if isinstance(scale, str) or max_bytes is not None or target_psnr is not None:
        from .rate.choose import choose

        choice = choose(
            image,
            scale=scale,
            quality=quality,
            inner=inner,
            max_bytes=max_bytes,
            target_psnr=target_psnr,
            mode=mode,
            limits=limits,
            sender=sender,
            optimise=optimise,
        )
        if choice.reached_target is False:
            warnings.warn(
                f"target_psnr {choice.target_psnr:g} dB not reached: the payload ({choice.payload_bytes} bytes, x{choice.scale}"
                f" q{choice.quality}) decodes at {choice.estimate_db:.2f} dB"
                f"{'' if choice.psnr_db is not None else ' (predicted)'}",
                TargetNotReachedWarning,
                stacklevel=2,
            )
        return choice.payload
    check_mode(mode)
    check_sender(sender)
    check_optimise(optimise)
    limits = resolve(limits)
    scale = check_scale(scale)
    quality = check_quality(quality)
    codec = codecs.by_name(inner)
    with wrap_foreign(InputImageError, "encode"):
        img = load_for_encoding(image, limits)
        scale = effective_scale(img.height, img.width, scale)
        builder = PayloadBuilder(img, codec, limits)
        route = resolve_sender(sender, scale, codec, rgb=img.rgb)
        model_id = payload_model_id(scale, codec, sender=route)
        packed = builder.pack(scale, builder.bitstream(scale, quality, sender=route), zoo.tag_for(model_id))
        limits.check_payload_bytes(len(packed))
        return packed
