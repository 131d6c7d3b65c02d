"""The fast mode's predictor, the *gain table*: each network's PSNR gain over bicubic as a function of
low-res bits per pixel, and the map from the probes' libavif speed to the final encode's.

Measured offline (:mod:`sr_codec.sender.rate.calibrate`) and stored as ``gain_table.json`` next to the weights
(read under its old name ``rate_proxy.json`` too).
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

GAIN_TABLE_FILE = "gain_table.json"
"""The gain table's file name, next to the weights it was measured for."""
LEGACY_GAIN_TABLE_FILE = "rate_proxy.json"
"""The gain table's name before issue 23 (a weights folder written then still loads)."""
OPTIMISE = ("psnr",)
"""What rate control optimises: decoded RGB PSNR. ``"perceptual"`` (the sharp-look decoder's metric) is to
come; it reads its own curves from the gain table (:meth:`GainTable.curve`)."""


def check_optimise(optimise: object) -> str:
    from ...errors import InputImageError

    if optimise not in OPTIMISE:
        raise InputImageError(f"optimise must be one of {OPTIMISE}, got {optimise!r}")
    return str(optimise)


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
class SpeedMap:
    """What coding a (low-res) image at libavif speed ``final`` instead of ``probe`` changes, measured offline:
    its size at equal quality and its decoded PSNR at equal bytes (the bicubic decode at ``scale``)."""

    probe: int
    final: int
    scale: int
    log_size_ratio: float
    """Mean ln(bytes at ``final`` / bytes at ``probe``) at the same quality."""
    gain: GainCurve
    """PSNR at ``final`` minus at ``probe`` at the same bytes, by the probe bitstream's bits per (low-res) pixel."""

    @property
    def key(self) -> str:
        return speed_key(self.probe, self.final, self.scale)


def speed_key(probe: int, final: int, scale: int) -> str:
    return f"{probe}>{final}@x{scale}"


@dataclass(frozen=True)
class GainTable:
    """Gain curves by model id, measured offline on training photos (:func:`calibrate`)."""

    curves: Mapping[str, GainCurve] = field(default_factory=dict)
    command: str = ""
    """The command that measured the table."""
    speeds: Mapping[str, SpeedMap] = field(default_factory=dict)
    """Speed maps by :func:`speed_key` (probe speed, final speed, scale)."""

    def curve(self, model_id: str, optimise: str = "psnr") -> GainCurve | None:
        """The gain curve of ``model_id`` for the quantity rate control optimises (:data:`OPTIMISE`)."""
        if optimise != "psnr":  # the hook for optimise="perceptual": its curves are not measured yet
            return None
        return self.curves.get(model_id)

    def speed_map(self, probe: int | None, final: int | None, scale: int) -> SpeedMap | None:
        """The map from ``probe`` to ``final`` speed for routes at ``scale``; None when the speeds are equal,
        unknown (a codec without speeds) or not calibrated."""
        if probe is None or final is None or probe == final:
            return None
        return self.speeds.get(speed_key(probe, final, scale))

    def to_json(self) -> dict:
        return {
            "command": self.command,
            "speeds": {
                key: {
                    "probe": m.probe, "final": m.final, "scale": m.scale,
                    "log_size_ratio": round(m.log_size_ratio, 4),
                    "log2_bpp": [round(v, 4) for v in m.gain.log2_bpp],
                    "gain_db": [round(v, 4) for v in m.gain.gain_db],
                    "residual_db": round(m.gain.residual_db, 4),
                    "samples": m.gain.samples,
                }
                for key, m in sorted(self.speeds.items())
            },
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
        speeds = {}
        for m in data.get("speeds", {}).values():
            curve = GainCurve(int(m["scale"]), tuple(float(v) for v in m["log2_bpp"]),
                              tuple(float(v) for v in m["gain_db"]), float(m["residual_db"]), int(m.get("samples", 0)))
            speed_map = SpeedMap(int(m["probe"]), int(m["final"]), int(m["scale"]), float(m["log_size_ratio"]), curve)
            speeds[speed_map.key] = speed_map
        return cls(curves, str(data.get("command", "")), speeds)

    @classmethod
    def load(cls, weights_dir: Path | str = zoo.WEIGHTS_DIR) -> GainTable:
        """The table in ``weights_dir`` (:data:`GAIN_TABLE_FILE`, else :data:`LEGACY_GAIN_TABLE_FILE`; empty when
        there is none: every network is then uncalibrated, and probe sizes and PSNRs stand for the final ones)."""
        path = Path(weights_dir) / GAIN_TABLE_FILE
        if not path.is_file():
            path = Path(weights_dir) / LEGACY_GAIN_TABLE_FILE
        if not path.is_file():
            return cls()
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read the rate-control gain table {path}: {exc}") from exc
