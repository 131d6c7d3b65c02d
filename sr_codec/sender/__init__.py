"""The sender: payload building (builder.py), ``encode`` (encoder.py) and rate control (rate/)."""
