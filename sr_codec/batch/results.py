"""The results table of a batch job: one row per input file, as Parquet or JSON lines.

Parquet: a folder of part files (``part-<run>-<n>.parquet``), each written whole (temporary
name, then rename) every ``flush_rows`` rows, so an interrupted run keeps what it finished;
read the folder with ``pyarrow.dataset``/``pandas.read_parquet``. JSON lines: one file, appended
and flushed per batch (a torn last line is ignored on reading). Both accumulate across runs:
the table is also the manifest that makes re-runs skip finished files.
"""

from __future__ import annotations

import functools
import importlib
import io
import json
import math
import os
import threading
import time
import uuid
from pathlib import Path

#: The table's columns and their Arrow types (pyarrow type names).
COLUMN_TYPES: tuple[tuple[str, str], ...] = (
    ("path", "string"), ("output", "string"), ("mode", "string"), ("bytes_in", "int64"), ("bytes_out", "int64"),
    ("width", "int32"), ("height", "int32"), ("scale", "int32"), ("quality", "int32"), ("inner", "string"),
    ("psnr", "float64"), ("seconds", "float64"), ("error", "string"), ("run", "string"),
)
COLUMNS = tuple(name for name, _ in COLUMN_TYPES)
ARROW_MODULES = ("pyarrow", "pyarrow.parquet", "pyarrow.json")
"""What writing Parquet imports: about 0.2 s, which a job run in this process would pay on top of a plain loop
unless it happens while the first files are coded (:func:`preload_arrow`)."""


@functools.cache
def schema(without: tuple[str, ...] = ()):
    """The Arrow schema of the table (less the columns named in ``without``); imports pyarrow on first use."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMN_TYPES if name not in without])


def preload_arrow() -> threading.Thread:
    """Import :data:`ARROW_MODULES` on a background thread, so the import overlaps work (coding releases the GIL);
    a later ``import`` of the same module simply waits for it (Python's per-module import lock)."""
    thread = threading.Thread(target=lambda: [importlib.import_module(m) for m in ARROW_MODULES],
                              name="sr_codec-preload-arrow", daemon=True)
    thread.start()
    return thread


def default_location(out_dir: str, fmt: str) -> str:
    return str(Path(out_dir) / ("_results.jsonl" if fmt == "jsonl" else "_results"))


def _format_of(location: str) -> str:
    return "jsonl" if location.endswith((".jsonl", ".json")) else "parquet"


def read_rows(location: str, columns: tuple[str, ...] = ("path", "output", "error")) -> list[dict]:
    """Rows written so far (every run), only ``columns``; [] when there is no table yet."""
    path = Path(location)
    if not path.exists():
        return []
    if _format_of(location) == "jsonl":
        rows = []
        with path.open() as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:  # the torn tail of an interrupted run
                    continue
                rows.append({c: row.get(c) for c in columns})
        return rows
    import pyarrow.parquet as pq

    rows = []
    for part in sorted(path.glob("part-*.parquet")):
        rows += pq.read_table(part, columns=list(columns)).to_pylist()
    return rows


def finished(location: str, retry_errors: bool) -> tuple[set[str], set[str]]:
    """What a re-run skips, as (done, failed): ``done``, sources whose last row is a success whose output still
    exists; ``failed``, sources whose last row is an error (skipped too, and reported, unless ``retry_errors``:
    then they are processed again and ``failed`` is empty)."""
    last: dict[str, dict] = {}
    for row in read_rows(location):
        last[row["path"]] = row
    done, failed = set(), set()
    for source, row in last.items():
        if row["error"] is None:
            if row["output"] and Path(row["output"]).exists():
                done.add(source)
        elif not retry_errors:
            failed.add(source)
    return done, failed


def _table(rows: list[dict]):
    """The rows as an Arrow table of :func:`schema`, built by pyarrow's JSON reader: building it from Python
    objects (``Table.from_pylist``) makes pyarrow import pandas, most of a second, which a job that runs in
    this process would pay on top of a plain loop. JSON has no infinity (a lossless decode's PSNR): such
    rows take the Python path."""
    import pyarrow as pa
    import pyarrow.json as pa_json

    if any(isinstance(v, float) and not math.isfinite(v) for row in rows for v in row.values()):
        return pa.Table.from_pylist(rows, schema=schema())

    text = "".join(json.dumps({name: row.get(name) for name in COLUMNS}) + "\n" for row in rows)
    return pa_json.read_json(io.BytesIO(text.encode()), parse_options=pa_json.ParseOptions(explicit_schema=schema()))


class ResultsWriter:
    """Appends result rows to the table as they stream in from the workers."""

    def __init__(self, location: str, flush_rows: int = 1000):
        self.location = location
        self.format = _format_of(location)
        self.flush_rows = flush_rows
        now = time.time()  # sortable to the microsecond: part files and JSON lines order runs by it
        self.run = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1e6) % 1_000_000:06d}-{uuid.uuid4().hex[:6]}"
        self._pending: list[dict] = []
        self._parts = 0
        if self.format == "jsonl":
            Path(location).parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(location, "a", encoding="utf-8")
        else:
            Path(location).mkdir(parents=True, exist_ok=True)
            preload_arrow()  # written at the end: import it while the files are coded

    def add(self, rows: list[dict]) -> None:
        for row in rows:
            row["run"] = self.run
        if self.format == "jsonl":
            self._handle.writelines(json.dumps(row) + "\n" for row in rows)
            self._handle.flush()
            return
        self._pending += rows
        if len(self._pending) >= self.flush_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        import pyarrow.parquet as pq

        table = _table(self._pending)
        final = Path(self.location) / f"part-{self.run}-{self._parts:05d}.parquet"
        tmp = final.with_name("." + final.name + ".tmp")
        pq.write_table(table, tmp)
        os.replace(tmp, final)
        self._parts += 1
        self._pending = []

    def close(self) -> None:
        if self.format == "jsonl":
            self._handle.close()
        else:
            self._flush()

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
