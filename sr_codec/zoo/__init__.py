"""The model zoo: the manifest of shipped weights (``sr_codec/weights``), read without TensorFlow."""
