"""What every benchmark shares: the codecs under test (codecs.py), image sets (data.py), result files (report.py).

Metrics, BD-rate and curve interpolation come from :mod:`sr_codec.imaging.metrics` and
:mod:`sr_codec.imaging.curves`; codec settings from :mod:`sr_codec.codecs`; image loading from
:mod:`sr_codec.imaging.io`. Nothing here re-implements them.
"""
