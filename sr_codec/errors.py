"""The exception hierarchy of sr_codec.

Every error raised through the public API is an :class:`SrCodecError`; callers that
only want "did it work?" catch that one class. Foreign exceptions (Pillow, msgpack,
TensorFlow, OSError) are wrapped, with the original kept as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class SrCodecError(Exception):
    """Base class of every error sr_codec raises."""


class PayloadError(SrCodecError, ValueError):
    """The payload is not a valid sr_codec payload (truncated, corrupted, unknown version...)."""


class InputImageError(SrCodecError, ValueError):
    """The image handed to ``encode``/``upscale`` cannot be read or has an unsupported shape/type."""


class LimitExceededError(SrCodecError):
    """A configured limit (payload bytes, decoded pixels, byte budget...) would be exceeded."""


class ModelError(SrCodecError):
    """The super-resolution model cannot be loaded, or does not match what the payload expects."""


class DeviceError(SrCodecError):
    """The requested compute device (e.g. ``device="gpu"``) is not available."""


class AnimatedImageWarning(UserWarning):
    """``encode`` was given an animated (or multi-page) image and coded only its first frame."""


class TargetNotReachedWarning(UserWarning):
    """``encode(..., target_psnr=)`` found no setting reaching the target: the payload is the best there was."""


class LookUnavailableWarning(UserWarning):
    """``decode(..., look=)`` asked for a look the payload's model has no twin for: it shows the faithful one."""


@contextmanager
def wrap_foreign(error: type[SrCodecError], action: str) -> Iterator[None]:
    """Let SrCodecErrors through; turn anything else raised inside into ``error`` (cause kept).

    A ``MemoryError`` becomes :class:`LimitExceededError`: the input was too big for this machine.
    """
    try:
        yield
    except SrCodecError:
        raise
    except MemoryError as exc:
        raise LimitExceededError(f"{action}: out of memory") from exc
    except Exception as exc:
        raise error(f"{action} failed: {type(exc).__name__}: {exc}") from exc
