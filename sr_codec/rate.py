"""Rate control, public face: ``sr_codec.rate.choose`` and what its report is made of.

The implementation lives in :mod:`sr_codec.sender.rate`; ``python -m sr_codec.rate`` measures the
predictor's gain table (:mod:`sr_codec.sender.rate.calibrate`).
"""

from __future__ import annotations

from .sender.rate.calibrate import calibrate, main
from .sender.rate.choose import (
    AUTO_SCALES, DEFAULT_BITS_PER_PIXEL, DEFAULT_MAX_BYTES_CAP, DEFAULT_MIN_BYTES, TARGET_CAP_BITS_PER_PIXEL, RateChoice,
    choose, default_budget, routes_for, target_cap,
)
from .sender.rate.predictor import GAIN_TABLE_FILE, OPTIMISE, GainCurve, GainTable, SpeedMap
from .sender.rate.receiver_model import Receiver, RunNetwork
from .sender.rate.search import first_at_least, highest_fitting
from .sender.rate.session import Route, Trial

__all__ = [
    "AUTO_SCALES", "DEFAULT_BITS_PER_PIXEL", "DEFAULT_MAX_BYTES_CAP", "DEFAULT_MIN_BYTES", "GAIN_TABLE_FILE", "OPTIMISE",
    "TARGET_CAP_BITS_PER_PIXEL", "GainCurve", "GainTable", "RateChoice", "Receiver", "Route", "RunNetwork", "SpeedMap",
    "Trial", "calibrate", "choose", "default_budget", "first_at_least", "highest_fitting", "routes_for", "target_cap",
]

if __name__ == "__main__":
    raise SystemExit(main())
