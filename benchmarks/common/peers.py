"""The OpenCV ``dnn_superres`` peers (ESPCN, FSRCNN, LapSRN ``.pb`` files): loaded once each, run on uint8 RGB.

Needs ``opencv-contrib-python-headless`` < 5 (the ``bench`` extra): OpenCV 5 cannot read these TensorFlow graphs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SrFunction = Callable[[np.ndarray, int], np.ndarray]
"""(uint8 LR RGB, scale) -> uint8 RGB of exactly scale x the LR size."""


def peer_upscaler(pb_path: Path, algorithm: str, scale: int) -> SrFunction:
    """OpenCV dnn_superres with the given .pb (loaded once, lazily)."""
    state: dict = {}

    def run(lr: np.ndarray, s: int) -> np.ndarray:
        if "sr" not in state:
            import cv2

            sr = cv2.dnn_superres.DnnSuperResImpl_create()
            sr.readModel(str(pb_path))
            sr.setModel(algorithm, scale)
            state["sr"] = sr
        bgr = np.ascontiguousarray(lr[..., ::-1])
        return np.ascontiguousarray(state["sr"].upsample(bgr)[..., ::-1])

    return run


def opencv_peers(peers: Path | None, scales: Sequence[int]) -> list[tuple[str, int, SrFunction]]:
    """(name, scale, upscaler) for every ``NAME_xS.pb`` in ``peers`` whose scale is asked for; [] without opencv-contrib."""
    if peers is None or not Path(peers).is_dir():
        return []
    try:
        import cv2

        cv2.dnn_superres.DnnSuperResImpl_create
    except (ImportError, AttributeError):
        print("opencv-contrib (cv2.dnn_superres) is not installed: peers skipped", file=sys.stderr)
        return []
    methods = []
    for pb in sorted(Path(peers).glob("*.pb")):
        match = re.fullmatch(r"([A-Za-z]+)_x(\d+)", pb.stem)
        if match and int(match.group(2)) in scales:
            name, scale = match.group(1), int(match.group(2))
            methods.append((name, scale, peer_upscaler(pb, name.lower(), scale)))
    return methods
