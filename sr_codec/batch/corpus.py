"""What a batch job works on: list the inputs, name their outputs, read and write bytes.

Inputs are folders (searched recursively), glob patterns, list files (``.txt``/``.lst``/``.list``,
one path or URI a line, ``#`` comments; relative paths are relative to the list file), single
files, or URIs (``s3://``, ``gs://``, ``hdfs://``... anything ``pyarrow.fs`` opens, a file or a
prefix). Each input is named by its path relative to its root (the folder, the glob's fixed
part, or the common folder of a list), so outputs mirror the input tree under the output folder.

Listing holds one short record per file in the driver (paths, not pixels); the bytes are read
by the workers.
"""

from __future__ import annotations

import glob
import os
import posixpath
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import SrCodecError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif")
PAYLOAD_SUFFIX = ".src"
DECODED_SUFFIX = ".png"
LIST_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class Item:
    """One file of the corpus: where it is read from and where its result is written."""

    source: str
    output: str


def is_uri(path: str) -> bool:
    return "://" in path and not path.startswith("file://")


def _local(path: str) -> str:
    return path[len("file://"):] if path.startswith("file://") else path


def _suffixes(mode: str) -> tuple[str, ...]:
    return IMAGE_SUFFIXES if mode == "encode" else (PAYLOAD_SUFFIX,)


def _remote_listing(uri: str, suffixes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(uri, relative name) for a remote file, or for every matching file under a remote prefix."""
    from pyarrow import fs as pafs

    filesystem, root = pafs.FileSystem.from_uri(uri)
    info = filesystem.get_file_info(root)
    scheme = uri.split("://", 1)[0]
    if info.type == pafs.FileType.File:
        return [(uri, posixpath.basename(root))]
    if info.type != pafs.FileType.Directory:
        raise SrCodecError(f"input {uri} does not exist")
    found = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    return sorted(
        (f"{scheme}://{entry.path}", posixpath.relpath(entry.path, root))
        for entry in found
        if entry.type == pafs.FileType.File and entry.path.lower().endswith(suffixes)
    )


def _list_file(path: Path) -> list[tuple[str, str]]:
    """Entries of a list file, named relative to their common folder."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if is_uri(line):
            entries.append(line)
        else:
            entry = Path(_local(line))
            entries.append(str(entry if entry.is_absolute() else path.parent / entry))
    if not entries:
        return []
    keyed = [entry.split("://", 1)[1] if is_uri(entry) else entry for entry in entries]
    root = posixpath.commonpath([posixpath.dirname(k) for k in keyed]) if len(keyed) > 1 else posixpath.dirname(keyed[0])
    return [(entry, posixpath.relpath(key, root) if root else key.lstrip("/")) for entry, key in zip(entries, keyed)]


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = [p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]]
    return str(Path(*fixed)) if fixed else "."


def list_sources(inputs: list[str], mode: str) -> list[tuple[str, str]]:
    """(source, relative name) for every input file, in a stable order. Raises SrCodecError for a missing input."""
    suffixes = _suffixes(mode)
    found: list[tuple[str, str]] = []
    for spec in inputs:
        spec = str(spec)
        if is_uri(spec):
            found += _remote_listing(spec, suffixes)
            continue
        spec = _local(spec)
        path = Path(spec)
        if glob.has_magic(spec):
            root = _glob_root(spec)
            matches = sorted(m for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            found += [(str(Path(m).resolve()), os.path.relpath(m, root)) for m in matches]
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
            found += [(str(p.resolve()), str(p.relative_to(path))) for p in files]
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            found += _list_file(path)
        elif path.is_file():
            found.append((str(path.resolve()), path.name))
        else:
            raise SrCodecError(f"input {spec} does not exist (a folder, a glob, a list file or a file)")
    return found


def plan_outputs(sources: list[tuple[str, str]], out_dir: str, mode: str) -> list[Item]:
    """Pair each source with its output path under ``out_dir``.

    Encode: ``a/photo.jpg`` -> ``a/photo.src``; decode: ``a/photo.src`` -> ``a/photo.png``. When two
    sources would share an output (``photo.jpg`` and ``photo.png``), both keep their full name
    (``photo.jpg.src``, ``photo.png.src``), which depends only on the set of inputs, so re-runs agree.
    """
    suffix = PAYLOAD_SUFFIX if mode == "encode" else DECODED_SUFFIX
    short = [str(Path(rel).with_suffix(suffix)) for _, rel in sources]
    counts: dict[str, int] = {}
    for name in short:
        counts[name] = counts.get(name, 0) + 1
    items, taken = [], set()
    for (source, rel), name in zip(sources, short):
        if counts[name] > 1:
            name = rel + suffix
        if name in taken:
            raise SrCodecError(f"two inputs map to the output {name}; run them into separate output folders")
        taken.add(name)
        items.append(Item(source, str(Path(out_dir) / name)))
    return items


def read_bytes(source: str) -> bytes:
    """The file's bytes, from a local path or any URI ``pyarrow.fs`` understands."""
    if not is_uri(source):
        return Path(_local(source)).read_bytes()
    from pyarrow import fs as pafs

    filesystem, path = pafs.FileSystem.from_uri(source)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


def write_bytes_atomic(path: str, data: bytes) -> None:
    """Write via a temporary file and rename, so an output either exists whole or not at all."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
