"""Learned sender/receiver pairs: a downscaler D trained jointly with the upscaler U through the inner codec.

* :mod:`.proxy` — a differentiable stand-in for AVIF (block DCT, per-frequency attenuation and
  a rate estimate), calibrated against real AVIF round trips;
* :mod:`.models` — the downscaler architecture (a residual over the bicubic thumbnail);
* :mod:`.train` — ``python -m sr_codec.pair.train``: joint training with real AVIF in the
  forward pass and the proxy in the backward pass.
"""
