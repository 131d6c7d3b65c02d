"""Training the decoder networks: ``python -m sr_codec.train --scale 4 --data ../shared/data/train``.

config.py (settings and command line), data.py (degraded patches), losses.py, evaluate.py,
checkpoint.py (resume, publish weights into the manifest), loop.py (the run).
"""

from __future__ import annotations

from .checkpoint import publish_weights
from .config import TrainConfig, parse_args
from .data import PatchSampler
from .loop import main

__all__ = ["PatchSampler", "TrainConfig", "main", "parse_args", "publish_weights"]
