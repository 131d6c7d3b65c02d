"""sr_codec: photos in a few kilobytes (downsample + classical codec + learned super-resolution).

    payload = sr_codec.encode("photo.jpg")          # bytes, a few KB
    image = sr_codec.decode(payload)                 # uint8 H x W x 3 RGB (x 4 with alpha)
    preview = sr_codec.decode_preview(payload)       # the low-res image, instantly
    info = sr_codec.inspect(payload)                 # sizes, scale, codec, model, no pixels
    payload = sr_codec.encode(img, max_bytes=4000)   # rate control: best decoded PSNR in 4000 bytes

Importing the package, ``encode``, ``decode_preview`` and ``inspect`` never import TensorFlow;
neither do ``decode``, ``decode_many``, ``upscale`` and ``upscale_many`` on the CPU, which run the
shipped ``.tflite`` under LiteRT (:mod:`sr_codec.receiver.runtime.litert`). TensorFlow runs the network
on a GPU, with ``runtime="keras"``, or for a model shipped without a ``.tflite``. Every error is an
:class:`SrCodecError`. The package's layers are described in docs/architecture.md.
"""

from __future__ import annotations

from .errors import (
    AnimatedImageWarning,
    TargetNotReachedWarning,
    LookUnavailableWarning,
    DeviceError,
    InputImageError,
    LimitExceededError,
    ModelError,
    PayloadError,
    SrCodecError,
)
from .limits import DEFAULT_LIMITS, Limits
from .receiver.decoder import PayloadInfo, decode, decode_many, decode_preview, inspect
from .receiver.upscale import upscale, upscale_many
from .sender.encoder import encode

__version__ = "0.1.0"

__all__ = [
    "encode",
    "decode",
    "decode_many",
    "decode_preview",
    "inspect",
    "upscale",
    "upscale_many",
    "PayloadInfo",
    "Limits",
    "DEFAULT_LIMITS",
    "SrCodecError",
    "PayloadError",
    "InputImageError",
    "LimitExceededError",
    "ModelError",
    "DeviceError",
    "AnimatedImageWarning",
    "TargetNotReachedWarning",
    "LookUnavailableWarning",
    "__version__",
]
