"""The Ray Data actors: each is one long-lived worker process that encodes or decodes batches of files.

An actor is built once per worker, so whatever it loads (TensorFlow, the networks, which
``sr_codec``'s model cache keeps per process) is loaded once and reused for every batch.
A file that fails becomes a row with ``error`` set; the batch, and the job, carry on.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

import sr_codec

from ..imaging.metrics import psnr
from ..imaging.normalise import load_image
from .corpus import read_bytes, write_bytes_atomic
from .results import SCHEMA

ROW_SCHEMA = pa.schema([f for f in SCHEMA if f.name != "run"])  # the driver adds the run id


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
    threads: int = 1

    @property
    def needs_network(self) -> bool:
        return self.mode == "decode" or self.psnr or self.max_bytes is not None or self.target_psnr is not None \
            or isinstance(self.scale, str)


def _limit_tensorflow_threads(threads: int) -> None:
    """One worker per CPU: keep each worker's TensorFlow to its share instead of one thread per core."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
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
        if options.needs_network:
            _limit_tensorflow_threads(options.threads)
            self._warm_up()

    def _warm_up(self) -> None:
        """Load the network this job will use now, once, instead of inside the first batch."""

    @staticmethod
    def _table(rows: list[dict]) -> pa.Table:
        for row in rows:
            del row["_target"]
        return pa.Table.from_pylist(rows, schema=ROW_SCHEMA)


class EncodeWorker(_Worker):
    """Image file -> payload file (``sr_codec.encode``), optionally with the decoded PSNR."""

    def _warm_up(self) -> None:
        scale = self.options.scale if isinstance(self.options.scale, int) else 4
        tiny = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        try:
            sr_codec.decode(sr_codec.encode(tiny, scale=scale, inner=self.options.inner), device=self.options.device)
        except sr_codec.SrCodecError:
            pass  # no shipped model for this scale: the rows will say so

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
        return self._table([self._one(str(source), str(output)) for source, output in zip(batch["path"], batch["output"])])

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
        payload = sr_codec.encode(data, scale=o.scale, quality=o.quality, inner=o.inner, max_bytes=o.max_bytes,
                                  target_psnr=o.target_psnr, mode=o.rate_mode, sender=o.sender)
        info = sr_codec.inspect(payload)
        if o.psnr:
            original = load_image(data).rgb
            row["psnr"] = psnr(original[..., :3], sr_codec.decode(payload, device=o.device)[..., :3])
        write_bytes_atomic(row["_target"], payload)
        row.update(bytes_out=len(payload), width=info.width, height=info.height, scale=info.scale,
                   quality=o.quality, inner=info.inner)


class DecodeWorker(_Worker):
    """Payload files -> PNGs. A batch's payloads go through ``sr_codec.decode_many`` together (same-size images
    share network calls, what a GPU worker needs); when that fails, each payload is decoded alone, so one bad
    payload is one error row. ``seconds`` of a row: its read and checks plus its share of the batch's decode."""

    def __call__(self, batch: dict[str, np.ndarray]) -> pa.Table:
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
        return self._table(rows)

    @staticmethod
    def _write_png(image: np.ndarray, info, row: dict) -> None:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        png = buffer.getvalue()
        write_bytes_atomic(row["_target"], png)
        row.update(output=row["_target"], bytes_out=len(png), width=info.width, height=info.height,
                   scale=info.scale, inner=info.inner)
