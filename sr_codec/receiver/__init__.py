"""The receiver: ``decode``/``decode_preview``/``inspect`` (decoder.py), ``upscale`` (upscale.py), the network runtime (runtime/)."""
