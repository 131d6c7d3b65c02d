"""Shipped ``.tflite`` files under the TFLite interpreter, without TensorFlow: the one verified loader.

Both ends run shipped networks through this module: the receiver's upscalers
(:mod:`sr_codec.receiver.runtime.litert`) and the sender's learned downscaler
(:mod:`sr_codec.sender.learned`). It sits in the ``nn`` layer, below both, and imports neither
Keras nor TensorFlow (unless TensorFlow's interpreter is the only one installed).

* :func:`read_verified`: a file's bytes, refused unless they match the manifest's sha256.
* :func:`interpreter_class`: ``ai_edge_litert`` (the base install), else ``tflite_runtime``, else
  TensorFlow's ``tf.lite.Interpreter`` (the ``tf-interpreter`` extra, where no LiteRT wheel exists).
* :func:`make_interpreter`: an interpreter for verified bytes, ``num_threads`` from :func:`default_threads`
  (``$SR_CODEC_THREADS``, else every core this process may use), a damaged flatbuffer as :class:`ModelError`.
* Quiet: the interpreter's one-time ``INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`` line is
  written from C++ straight to file descriptor 2 (past ``sys.stderr``) when the delegate is made and
  when tensors are first allocated; :func:`quiet_stderr` keeps it off stderr around both unless
  ``$SR_CODEC_VERBOSE`` is set (the CLI's ``--verbose``). Use :func:`allocate` for every ``allocate_tensors``.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ModelError

THREADS_ENV = "SR_CODEC_THREADS"
VERBOSE_ENV = "SR_CODEC_VERBOSE"

_stderr_lock = threading.RLock()  # nested quiet_stderr blocks (CLI around a decode) are fine


def read_verified(path: Path | str, sha256: str) -> bytes:
    """The bytes of ``path``, refused with :class:`ModelError` when missing or unlike the manifest's ``sha256``."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if hashlib.sha256(content).hexdigest() != sha256:
        raise ModelError(f"{Path(path).name} does not match its sha256 in the manifest")
    return content


def interpreter_class():
    """The TFLite ``Interpreter`` class: ai_edge_litert, else tflite_runtime, else TensorFlow's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter  # the `tf-interpreter` extra
            except ImportError:
                raise ModelError("no TFLite interpreter is installed: pip install ai-edge-litert "
                                 "(or, where it has no wheel, pip install 'sr-codec[tf-interpreter]')") from None
    return Interpreter


def default_threads() -> int:
    """Interpreter threads: ``$SR_CODEC_THREADS`` when set, else the cores this process may run on."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        try:
            threads = int(value)
        except ValueError:
            raise ModelError(f"{THREADS_ENV} must be a positive integer, got {value!r}") from None
        if threads < 1:
            raise ModelError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null meanwhile: the interpreter logs from C++, past ``sys.stderr``."""
    if not enabled:
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters): nothing to hide
            yield
            return
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def make_interpreter(content: bytes, num_threads: int | None = None):
    """An interpreter for the (verified) flatbuffer ``content``, quietly; :class:`ModelError` if it is refused."""
    cls = interpreter_class()
    try:
        with quiet_stderr(not verbose()):
            return cls(model_content=content, num_threads=num_threads or default_threads())
    except Exception as exc:  # a damaged flatbuffer
        raise ModelError(f"the TFLite interpreter rejects the model: {exc}") from exc


def allocate(interpreter, first: bool = True) -> None:
    """``interpreter.allocate_tensors()``; the first allocation (which makes the XNNPACK delegate) quietly."""
    with quiet_stderr(first and not verbose()):
        interpreter.allocate_tensors()
