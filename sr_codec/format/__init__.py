"""The wire format: payload bytes and the AVIF container, nothing else (docs/format.md).

Inner codecs appear here only as the integer ids the format allocates; this layer imports no codec.
"""
