"""The workers: each encodes or decodes batches of files, as a Ray Data actor or in the driver's own process.

An actor is built once per worker process, so whatever it loads (the ``.tflite`` networks, which
``sr_codec``'s model cache keeps per process; TensorFlow only for GPU workers) is loaded once and reused
for every batch. A file that fails becomes a row with ``error`` set; the batch, and the job, carry on.
On the CPU nothing here imports TensorFlow: encoding (rate control included) and CPU decodes run LiteRT.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass

import numpy as np

import sr_codec

from .. import codecs
from ..imaging.metrics import psnr
from ..imaging.normalise import load_image
from .corpus import read_bytes, write_bytes_atomic
from .results import schema


@dataclass(frozen=True)
class Options:
    """What every worker needs to know; the same options as ``sr_codec.encode``/``decode``."""

    mode: str = "encode"
    scale: int | str | None = None
    quality: int | None = None
    inner: str | None = None
    max_bytes: int | None = None
    target_psnr: float | None = None
    rate_mode: str = "fast"
    sender: str = "auto"
    psnr: bool = False
    model: str | None = None
    device: str | None = None
    threads: int | None = None
    """LiteRT threads of each worker (``$SR_CODEC_THREADS``): a Ray actor's CPUs; None: every core (in-process)."""
    warm_up: bool = False
    """Load the job's networks in the constructor (Ray actors, which start side by side) instead of on first use."""

    @property
    def uses_tensorflow(self) -> bool:
        """Only GPU workers run TensorFlow (Keras); on the CPU encode, rate control and decode run LiteRT."""
        return self.device == "gpu"


def _limit_threads(options: Options) -> None:
    """One worker per ``threads`` CPUs: keep its LiteRT (and TensorFlow) to its share, not one thread per core."""
    if options.threads is None:
        return
    from ..receiver.runtime.litert import THREADS_ENV

    os.environ[THREADS_ENV] = str(options.threads)  # read when each interpreter is built, i.e. later
    if options.uses_tensorflow:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(options.threads)
            tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, options.threads)))
        except RuntimeError:  # TensorFlow already initialised in this process: keep its settings
            pass


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text}"[:500]


def _empty_row(source: str, output: str, mode: str) -> dict:
    return {"path": source, "output": None, "mode": mode, "bytes_in": None, "bytes_out": None, "width": None,
            "height": None, "scale": None, "quality": None, "inner": None, "psnr": None, "seconds": None,
            "error": None, "_target": output}


class _Worker:
    def __init__(self, options: Options):
        self.options = options
        _limit_threads(options)
        if options.warm_up:
            self._warm_up()

    def _warm_up(self) -> None:
        """Load the network this job will use now, once, instead of inside the first batch."""

    def __call__(self, batch: dict):
        """Ray Data's call: a batch of ``path`` and ``output`` columns -> its result rows as an Arrow table
        (every column but ``run``, which the driver adds)."""
        import pyarrow as pa

        return pa.Table.from_pylist(self.rows(batch), schema=schema(without=("run",)))

    def rows(self, batch: dict) -> list[dict]:
        """The result rows of a batch (``path``, ``output``: sequences of the same length), one per file."""
        raise NotImplementedError

    @staticmethod
    def _done(rows: list[dict]) -> list[dict]:
        for row in rows:
            del row["_target"]
        return rows


class EncodeWorker(_Worker):
    """Image file -> payload file (``sr_codec.encode``), optionally with the decoded PSNR."""

    def _warm_up(self) -> None:
        """The thumbnail's downscaler, and the upscaler where this job decodes (``psnr``)."""
        o = self.options
        scale = o.scale if isinstance(o.scale, int) else 4
        tiny = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        try:
            payload = sr_codec.encode(tiny, scale=scale, inner=o.inner, sender=o.sender)
            if o.psnr:
                sr_codec.decode(payload, device=o.device)
        except sr_codec.SrCodecError:
            pass  # no shipped model for this scale: the rows will say so

    def rows(self, batch: dict) -> list[dict]:
        return self._done([self._one(str(source), str(output)) for source, output in zip(batch["path"], batch["output"])])

    def _one(self, source: str, output: str) -> dict:
        row = _empty_row(source, output, "encode")
        start = time.perf_counter()
        try:
            data = read_bytes(source)
            row["bytes_in"] = len(data)
            if not data:
                raise sr_codec.InputImageError("empty file (0 bytes)")
            self._process(data, row)
            row["output"] = output
        except Exception as exc:  # one bad file is a row, never a failed job
            row["error"] = _error_text(exc)
        row["seconds"] = time.perf_counter() - start
        return row

    def _process(self, data: bytes, row: dict) -> None:
        o = self.options
        payload, quality = _encode(data, o)
        info = sr_codec.inspect(payload)
        if o.psnr:
            original = load_image(data).rgb
            row["psnr"] = psnr(original[..., :3], sr_codec.decode(payload, device=o.device)[..., :3])
        write_bytes_atomic(row["_target"], payload)
        row.update(bytes_out=len(payload), width=info.width, height=info.height, scale=info.scale,
                   quality=quality, inner=info.inner)


def _encode(data: bytes, o: Options) -> tuple[bytes, int]:
    """``sr_codec.encode``'s payload and the inner-codec quality it used (the codec's default, the one asked
    for, or rate control's choice: a payload does not record it, so rate control's report is read)."""
    kwargs = dict(scale=o.scale, quality=o.quality, inner=o.inner, max_bytes=o.max_bytes,
                  target_psnr=o.target_psnr, mode=o.rate_mode, sender=o.sender)
    if isinstance(o.scale, str) or o.max_bytes is not None or o.target_psnr is not None:  # encode's rule
        from ..sender.rate.choose import choose

        kwargs["scale"] = "auto" if o.scale is None else o.scale
        choice = choose(data, **kwargs)
        return choice.payload, choice.quality
    payload = sr_codec.encode(data, **kwargs)
    return payload, o.quality if o.quality is not None else codecs.by_name(o.inner).default_quality


class DecodeWorker(_Worker):
    """Payload files -> PNGs. A batch's payloads go through ``sr_codec.decode_many`` together (same-size images
    share network calls, what a GPU worker needs); when that fails, each payload is decoded alone, so one bad
    payload is one error row. ``seconds`` of a row: its read and checks plus its share of the batch's decode."""

    def rows(self, batch: dict) -> list[dict]:
        rows, ready = [], []
        for source, output in zip(batch["path"], batch["output"]):
            row = _empty_row(str(source), str(output), "decode")
            start = time.perf_counter()
            try:
                data = read_bytes(row["path"])
                row["bytes_in"] = len(data)
                if not data:
                    raise sr_codec.PayloadError("empty file (0 bytes)")
                ready.append((row, data, sr_codec.inspect(data)))
            except Exception as exc:  # one bad file is a row, never a failed job
                row["error"] = _error_text(exc)
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
        start = time.perf_counter()
        try:
            images = sr_codec.decode_many([data for _, data, _ in ready], device=self.options.device,
                                          model=self.options.model) if ready else []
        except Exception:
            images = [None] * len(ready)  # find the payload that failed: decode one at a time below
        shared = (time.perf_counter() - start) / max(1, len(ready))
        for (row, data, info), image in zip(ready, images):
            start = time.perf_counter()
            try:
                if image is None:
                    image = sr_codec.decode(data, device=self.options.device, model=self.options.model)
                self._write_png(image, info, row)
            except Exception as exc:
                row["error"] = _error_text(exc)
            row["seconds"] += shared + time.perf_counter() - start
        return self._done(rows)

    @staticmethod
    def _write_png(image: np.ndarray, info, row: dict) -> None:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        png = buffer.getvalue()
        write_bytes_atomic(row["_target"], png)
        row.update(output=row["_target"], bytes_out=len(png), width=info.width, height=info.height,
                   scale=info.scale, inner=info.inner)
