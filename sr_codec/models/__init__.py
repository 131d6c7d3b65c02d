"""Network architectures (Keras 3 functional). Pretrained weights live in sr_codec/weights, indexed by zoo.py."""
