"""The learned sender route: a shipped downscaler D makes the thumbnail instead of bicubic.

A *pair* is a downscaler D and the upscaler U trained with it through the real inner codec
(``python -m sr_codec.train.pair``). The manifest's ``pairs`` table maps a scale to the pair's
ids; a payload made with D names U by its tag, so receivers need nothing new. D runs here
from its ``.tflite`` with the LiteRT interpreter: encoding never imports TensorFlow.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..imaging.resample import downsample, pad_to_multiple
from ..nn.interpreter import allocate, make_interpreter, read_verified
from ..zoo import manifest as zoo

#: Smallest thumbnail side the learned sender is used for: the pairs are trained on 32-pixel
#: thumbnails, and on a few pixels the downscaler sees mostly its own zero padding.
MIN_LEARNED_SIDE = 16

_runners: dict[tuple[str, str], DownscalerRunner] = {}
_runners_lock = threading.Lock()


#: The inner codec a learned pair is trained through (``python -m sr_codec.train.pair``): the only one it is used with.
PAIR_CODEC = "avif"


def learned_pair(scale: int, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> tuple[str, str] | None:
    """(downscaler id, upscaler id) of the pair shipped for ``scale``; None when there is none."""
    entry = zoo.read_manifest(weights_dir).get("pairs", {}).get(str(int(scale)))
    return None if entry is None else (entry["downscaler"], entry["upscaler"])


def learned_pair_for(scale: int, codec_name: str, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> tuple[str, str] | None:
    """The pair a payload at ``scale`` coded with the inner codec ``codec_name`` may use: the one rule.

    A pair is trained through :data:`PAIR_CODEC` (AVIF), so only with it, and only above scale 1; None otherwise
    or when ``weights_dir`` ships no pair for the scale (:func:`learned_pair`).
    """
    if codec_name != PAIR_CODEC or int(scale) <= 1:
        return None
    return learned_pair(scale, weights_dir)


def is_grey(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def learned_sender_suits(rgb: np.ndarray, scale: int, grey: bool | None = None) -> bool:
    """Whether the learned thumbnail is meant for this photo at ``scale``.

    Not for a thumbnail under :data:`MIN_LEARNED_SIDE` pixels a side, and not for a grey photo:
    the pair is trained on colour photos and its thumbnail carries a slight colour cast that its
    upscaler removes only up to a few levels, so a grey photo keeps the exact grey of bicubic.
    ``grey``: :func:`is_grey` of ``rgb`` when the caller already knows it (it reads every pixel).
    """
    h, w = rgb.shape[:2]
    if scale <= 1 or min(-(-h // scale), -(-w // scale)) < MIN_LEARNED_SIDE:
        return False
    return not (is_grey(rgb) if grey is None else grey)


class DownscalerRunner:
    """Runs a downscaler ``.tflite`` (contract: :func:`sr_codec.nn.downscaler.downscaler_tflite_bytes`)."""

    def __init__(self, content: bytes, num_threads: int | None = None):
        self.interpreter = make_interpreter(content, num_threads)  # quiet: no XNNPACK INFO line on stderr
        inputs = {d["name"]: d["index"] for d in self.interpreter.get_input_details()}
        self.hr_index = next(i for n, i in inputs.items() if "high_res" in n)
        self.base_index = next(i for n, i in inputs.items() if "bicubic" in n)
        self.out_index = self.interpreter.get_output_details()[0]["index"]
        self.shape: tuple | None = None
        self.lock = threading.Lock()

    def __call__(self, high_res: np.ndarray, bicubic_low_res: np.ndarray) -> np.ndarray:
        """uint8 HR (H, W, 3), H and W multiples of the scale, and its bicubic thumbnail -> uint8 thumbnail."""
        with self.lock:  # one interpreter, resized per shape: calls take turns
            shape = (high_res.shape, bicubic_low_res.shape)
            if shape != self.shape:
                self.interpreter.resize_tensor_input(self.hr_index, [1, *high_res.shape])
                self.interpreter.resize_tensor_input(self.base_index, [1, *bicubic_low_res.shape])
                allocate(self.interpreter, first=self.shape is None)
                self.shape = shape
            self.interpreter.set_tensor(self.hr_index, high_res[None].astype(np.float32) * np.float32(1 / 255))
            self.interpreter.set_tensor(self.base_index,
                                        bicubic_low_res[None].astype(np.float32) * np.float32(1 / 255))
            self.interpreter.invoke()
            out = self.interpreter.get_tensor(self.out_index)[0]
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def downscaler_runner(down_id: str, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> DownscalerRunner:
    """The runner of a shipped downscaler, its ``.tflite`` checked against the manifest, loaded once."""
    key = (str(Path(weights_dir)), down_id)
    with _runners_lock:
        if key not in _runners:
            info = zoo.model_info(down_id, weights_dir)
            content = read_verified(Path(weights_dir) / info["tflite"]["file"], info["tflite"]["sha256"])
            _runners[key] = DownscalerRunner(content)
        return _runners[key]


def learned_low_res(rgb: np.ndarray, scale: int, down_id: str, weights_dir: Path | str = zoo.WEIGHTS_DIR,
                    bicubic_low_res: np.ndarray | None = None) -> np.ndarray:
    """D's thumbnail of uint8 RGB ``rgb``: the size of :func:`downsample`'s (edge-padded the same way)."""
    base = downsample(rgb, scale) if bicubic_low_res is None else bicubic_low_res
    if scale == 1:
        return base
    return downscaler_runner(down_id, weights_dir)(pad_to_multiple(rgb, scale), base)
