"""The fast mode's predictor: each network's PSNR gain over bicubic as a function of low-res bits per pixel.

Measured offline (:mod:`sr_codec.sender.rate.calibrate`) and stored as ``rate_proxy.json`` next to the weights.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ModelError
from ...imaging.curves import interpolate
from ...zoo import manifest as zoo

PROXY_FILE = "rate_proxy.json"
"""The gain table's file name, next to the weights it was measured for."""


@dataclass(frozen=True)
class GainCurve:
    """A network's mean PSNR gain over bicubic, as a function of the low-res bits per pixel."""

    scale: int
    log2_bpp: tuple[float, ...]
    gain_db: tuple[float, ...]
    residual_db: float
    """Standard deviation of the measured gains around the curve (the predictor's error)."""
    samples: int = 0

    def at(self, low_res_bpp: float) -> float:
        """The gain at ``low_res_bpp`` (piecewise linear in log2 bpp, constant beyond the ends)."""
        return interpolate(self.log2_bpp, self.gain_db, math.log2(max(low_res_bpp, 1e-6)), log_x=False, clamp=True)


@dataclass(frozen=True)
class GainTable:
    """Gain curves by model id, measured offline on training photos (:func:`calibrate`)."""

    curves: Mapping[str, GainCurve] = field(default_factory=dict)
    command: str = ""
    """The command that measured the table."""

    def curve(self, model_id: str) -> GainCurve | None:
        return self.curves.get(model_id)

    def to_json(self) -> dict:
        return {
            "command": self.command,
            "models": {
                model_id: {
                    "scale": c.scale,
                    "log2_bpp": [round(v, 4) for v in c.log2_bpp],
                    "gain_db": [round(v, 4) for v in c.gain_db],
                    "residual_db": round(c.residual_db, 4),
                    "samples": c.samples,
                }
                for model_id, c in sorted(self.curves.items())
            },
        }

    @classmethod
    def from_json(cls, data: dict) -> GainTable:
        curves = {
            model_id: GainCurve(
                scale=int(c["scale"]),
                log2_bpp=tuple(float(v) for v in c["log2_bpp"]),
                gain_db=tuple(float(v) for v in c["gain_db"]),
                residual_db=float(c["residual_db"]),
                samples=int(c.get("samples", 0)),
            )
            for model_id, c in data.get("models", {}).items()
        }
        return cls(curves, str(data.get("command", "")))

    @classmethod
    def load(cls, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> GainTable:
        """The table in ``weights_dir`` (empty when there is none: every network is then uncalibrated)."""
        path = Path(weights_dir) / PROXY_FILE
        if not path.is_file():
            return cls()
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read the rate-control gain table {path}: {exc}") from exc
