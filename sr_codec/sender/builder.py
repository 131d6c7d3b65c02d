"""Building payloads: argument checks, the scale actually used, the model a payload names, and the bytes.

:class:`PayloadBuilder` keeps the low-res image and coded alpha plane per scale, so rate control
can try many qualities and models for the cost of the inner encodes alone.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..codecs import InnerCodec
from ..codecs.alpha import encode_alpha
from ..errors import AnimatedImageWarning, InputImageError, LimitExceededError, SrCodecError
from ..format import payload as wire
from ..format.payload import check_scale
from ..imaging.resample import downsample
from ..limits import Limits
from ..zoo import manifest as zoo

if TYPE_CHECKING:  # annotations only: a receiver never loads the input-image machinery
    from ..imaging.normalise import NormalisedImage

MODES = ("fast", "best")
SENDERS = ("auto", "learned", "bicubic")

__all__ = ["MODES", "SENDERS", "PayloadBuilder", "check_mode", "check_quality", "check_scale", "check_sender",
           "effective_scale", "load_for_encoding", "payload_model_id", "resolve_sender"]


def effective_scale(height: int, width: int, scale: int) -> int:
    """The scale ``encode`` really uses: ``scale``, lowered to the shorter side of a smaller image.

    A side shorter than the scale would be padded with more replicated pixels than it has
    real ones, biasing the low-res pixel towards the edge; so a 7 x 13 image asked for x10
    is coded at x7, a 3 x 2 one at x2 and a 1 x 1 one at x1. A side of one pixel does not
    count: replicating a single row (or column) is exact, so a 1 x 5000 strip at x4 is
    coded as 1 x 1250. Padding and the decoder's crop restore the exact size either way.
    """
    sides = [side for side in (height, width) if side > 1]
    return max(1, min(scale, *sides)) if sides else 1


def check_sender(sender: object) -> str:
    if sender not in SENDERS:
        raise InputImageError(f"sender must be one of {SENDERS}, got {sender!r}")
    return str(sender)


def resolve_sender(sender: str, scale: int, codec: InnerCodec, weights_dir: Path | str = zoo.WEIGHTS_DIR,
                   rgb: np.ndarray | None = None) -> str:
    """``"learned"`` or ``"bicubic"``: who makes the thumbnail at ``scale``.

    A learned pair is trained through AVIF, so ``"auto"`` uses it with AVIF when the scale has
    one and bicubic otherwise; ``"learned"`` where no pair applies is an :class:`InputImageError`.
    Either way a photo the pair is not meant for (``rgb`` grey, or a tiny thumbnail:
    :func:`~sr_codec.sender.learned.learned_sender_suits`) gets the bicubic thumbnail.
    """
    from .learned import learned_pair_for, learned_sender_suits

    usable = learned_pair_for(scale, codec.name, weights_dir) is not None
    if sender == "learned" and not usable:
        raise InputImageError(f"no learned sender for x{scale} with the {codec.name} inner codec")
    if rgb is not None and not learned_sender_suits(rgb, scale):
        return "bicubic"
    return "learned" if usable and sender != "bicubic" else "bicubic"


def payload_model_id(scale: int, codec: InnerCodec, weights_dir: Path | str = zoo.WEIGHTS_DIR,
                     sender: str = "bicubic") -> str:
    """The model a payload at ``scale`` coded with ``codec`` names: the one rule, for ``encode`` and rate control.

    A learned thumbnail: the upscaler trained with its downscaler. A lossy inner codec delivers
    coded low-res: the codec-role model, trained on it. A lossless one delivers clean low-res:
    the clean-role model (what ``upscale`` uses), when one is shipped. ``"bicubic"`` when the
    scale has no model.
    """
    if sender == "learned":
        from .learned import learned_pair

        pair = learned_pair(scale, weights_dir)
        if pair is None:
            raise InputImageError(f"no learned sender for x{scale}")
        return pair[1]
    if codec.lossless:
        return zoo.upscale_model_id(scale, weights_dir)
    return zoo.default_model_id(scale, weights_dir)


def load_for_encoding(image: object, limits: Limits) -> NormalisedImage:
    """The normalised input, warning when frames are dropped (an animated or multi-page source)."""
    from ..imaging.normalise import load_image  # senders only: a receiver never loads the input-image machinery

    img = load_image(image, max_pixels=limits.max_pixels)
    if img.frames > 1:
        warnings.warn(
            f"the image has {img.frames} frames; sr_codec codes the first frame only (a payload holds one still image)",
            AnimatedImageWarning,
            stacklevel=3,
        )
    return img


def check_quality(quality: object) -> int | None:
    if quality is None:
        return None
    if type(quality) is bool or not isinstance(quality, (int, np.integer)) or not 0 <= quality <= 100:
        raise InputImageError(f"quality must be None or an integer in 0..100, got {quality!r}")
    return int(quality)


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise InputImageError(f"mode must be one of {MODES}, got {mode!r}")
    return str(mode)


class PayloadBuilder:
    """Turns (scale, quality, model tag) into payload bytes for one normalised image."""

    def __init__(self, image: NormalisedImage, codec: InnerCodec, limits: Limits,
                 weights_dir: Path | str = zoo.WEIGHTS_DIR) -> None:
        self.image = image
        self.codec = codec
        self.limits = limits
        self.weights_dir = weights_dir
        """The folder whose learned pair makes ``sender="learned"`` thumbnails (the receiver's models' folder)."""
        self._low: dict[tuple[int, str], np.ndarray] = {}
        self._alpha: dict[int, int | bytes] = {}

    def low_res(self, scale: int, sender: str = "bicubic") -> np.ndarray:
        """The image shrunk by ``scale`` (what the inner codec compresses), by bicubic or the learned downscaler."""
        key = (scale, sender)
        if key not in self._low:
            if sender == "learned":
                from .learned import learned_low_res, learned_pair_for

                pair = learned_pair_for(scale, self.codec.name, self.weights_dir)
                if pair is None:
                    raise InputImageError(f"no learned sender for x{scale} with the {self.codec.name} inner codec")
                # D corrects the bicubic thumbnail, which stays cached for the bicubic route.
                self._low[key] = learned_low_res(self.image.rgb, scale, pair[0], self.weights_dir,
                                                 bicubic_low_res=self.low_res(scale))
            else:
                self._low[key] = downsample(self.image.rgb, scale)
        return self._low[key]

    def bitstream(self, scale: int, quality: int | None, codec: InnerCodec | None = None,
                  sender: str = "bicubic") -> bytes:
        """The inner codec's bitstream of the low-res image at ``quality`` (None = the codec's default).

        ``codec``: another configuration of the same codec (same wire id), e.g. a slower AVIF speed.
        ``sender``: ``"bicubic"`` or ``"learned"`` (see :meth:`low_res`).
        """
        codec = self.codec if codec is None else codec
        if codec.wire_id != self.codec.wire_id:
            raise InputImageError(f"a {codec.name} bitstream cannot go into a {self.codec.name} payload")
        low = self.low_res(scale, sender)
        try:
            bitstream = codec.encode(low, quality)
        except SrCodecError:
            raise
        except Exception as exc:  # e.g. a side beyond what WebP or JPEG can hold
            raise InputImageError(
                f"the {codec.name} codec cannot code a {low.shape[1]} x {low.shape[0]} image: {exc}"
            ) from exc
        if len(bitstream) > self.limits.max_inner_bytes:
            raise LimitExceededError(
                f"inner bitstream is {len(bitstream)} bytes; the limit is {self.limits.max_inner_bytes}"
            )
        return bitstream

    def pack(self, scale: int, bitstream: bytes, model_tag: int) -> bytes:
        """The payload carrying ``bitstream`` (from :meth:`bitstream` at ``scale``) for the model ``model_tag``."""
        img = self.image
        if img.alpha is not None and scale not in self._alpha:
            self._alpha[scale] = encode_alpha(img.alpha, scale)
        return wire.pack(
            wire.Payload(
                width=img.width,
                height=img.height,
                scale=scale,
                codec_id=self.codec.wire_id,
                model_tag=model_tag,
                bitstream=bitstream,
                alpha=None if img.alpha is None else self._alpha[scale],
            )
        )
