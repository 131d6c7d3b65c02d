"""Rate control, public face: ``sr_codec.rate.choose`` and what its report is made of.

The implementation lives in :mod:`sr_codec.sender.rate`; ``python -m sr_codec.rate`` measures the
predictor's gain table (:mod:`sr_codec.sender.rate.calibrate`).
"""

from __future__ import annotations

from .sender.rate.calibrate import calibrate, main
from .sender.rate.choose import AUTO_SCALES, DEFAULT_MAX_BYTES, RateChoice, choose, routes_for
from .sender.rate.predictor import PROXY_FILE, GainCurve, GainTable
from .sender.rate.receiver_model import Receiver, RunNetwork
from .sender.rate.search import first_at_least, highest_fitting
from .sender.rate.session import Route, Trial
from .sender.rate.strategies import FAST_MAX_DECODES

__all__ = [
    "AUTO_SCALES", "DEFAULT_MAX_BYTES", "FAST_MAX_DECODES", "PROXY_FILE", "GainCurve", "GainTable", "RateChoice",
    "Receiver", "Route", "RunNetwork", "Trial", "calibrate", "choose", "first_at_least", "highest_fitting",
    "routes_for",
]

if __name__ == "__main__":
    raise SystemExit(main())
