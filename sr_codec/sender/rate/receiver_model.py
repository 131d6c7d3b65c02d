"""The receiver as the encoder models it: which model a payload names, how it runs, what it gains (injectable)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...codecs import InnerCodec
from ...zoo import manifest as zoo
from ..builder import payload_model_id
from .predictor import GainTable

RunNetwork = Callable[[np.ndarray, int, str], np.ndarray]
"""(decoded low-res RGB, scale, model id) -> uint8 (h*scale) x (w*scale) x 3."""


@dataclass(frozen=True)
class Receiver:
    """What the receiver will run, as the encoder models it: injectable, so tests need no TensorFlow.

    ``model_for(scale)`` is the model id a payload at that scale names (``"bicubic"`` = no
    network); ``upscale`` runs a network model; ``tag_for`` gives a model id's wire tag;
    ``gains`` predicts each network's gain for ``mode="fast"``; ``learned_for(scale)`` names the
    upscaler of a learned sender route at that scale (None: bicubic thumbnails only).
    """

    model_for: Callable[[int], str]
    upscale: RunNetwork
    tag_for: Callable[[str], int]
    gains: GainTable = field(default_factory=GainTable)
    learned_for: Callable[[int], str | None] = lambda scale: None
    """The upscaler id of the learned pair shipped for a scale (its downscaler makes the thumbnail), or None."""
    weights_dir: Path | None = None
    """The folder the models come from (None: ``sr_codec/weights``); the learned thumbnails are made with its pair."""

    @classmethod
    def shipped(
        cls, weights_dir: Path | str | None = None, device: str | None = None, codec: InnerCodec | None = None
    ) -> Receiver:
        """The shipped models (``sr_codec/weights`` or ``weights_dir``), run as ``decode`` runs them.

        ``model_for`` follows :func:`~sr_codec.sender.builder.payload_model_id` for ``codec`` (default: AVIF),
        the rule ``encode`` names models by.
        """
        if codec is None:
            from ... import codecs

            codec = codecs.by_name(None)
        folder = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR

        def run(low: np.ndarray, scale: int, model_id: str) -> np.ndarray:
            from ...receiver.upscale import upscale

            return upscale(low, scale, device=device, model_id=model_id, weights_dir=folder)

        return cls(
            model_for=lambda scale: payload_model_id(scale, codec, folder),
            upscale=run,
            tag_for=lambda model_id: zoo.tag_for(model_id, folder),
            gains=GainTable.load(folder),
            learned_for=lambda scale: _learned_upscaler(scale, codec, folder),
            weights_dir=folder,
        )


def _learned_upscaler(scale: int, codec: InnerCodec, folder: Path) -> str | None:
    """The upscaler id of the learned pair ``codec`` may use at ``scale`` (:func:`~sr_codec.sender.learned.learned_pair_for`)."""
    from ..learned import learned_pair_for  # reads the manifest only; the downscaler runs when a thumbnail is made

    pair = learned_pair_for(scale, codec.name, folder)
    return None if pair is None else pair[1]
