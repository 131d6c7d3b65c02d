"""Networks: the only layer that imports Keras (layers, architectures, loading, portable graphs).

``geometry`` (receptive fields for tiling) reads a model's layers without importing Keras itself.
"""
