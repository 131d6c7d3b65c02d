"""Image files on disk: which suffixes count as images, and the one way to read one.

Every reader in the project (training, calibration, benchmarks) goes through :func:`load_rgb`,
which is the encoder's own normaliser (:func:`sr_codec.imaging.normalise.load_image`: EXIF
orientation, ICC to sRGB, first frame, alpha dropped), so a file gives the same pixels everywhere,
and the same pixels ``encode`` compresses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from .normalise import load_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".avif", ".bmp", ".gif", ".tif", ".tiff"})
"""The file suffixes the normaliser reads (case-insensitive); HEIC needs pillow-heif and is left out."""


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folders: Iterable[str | Path], *, recursive: bool = True, limit: int | None = None) -> list[Path]:
    """The image files under ``folders`` (a file is taken as itself), sorted per folder; the first ``limit``."""
    files: list[Path] = []
    for folder in map(Path, folders):
        if folder.is_file():
            files.append(folder)
            continue
        found = folder.rglob("*") if recursive else folder.iterdir()
        files += sorted(p for p in found if is_image_file(p))
    return files[:limit] if limit else files


def load_rgb(path: str | Path, *, max_pixels: int | None = None) -> np.ndarray:
    """uint8 H x W x 3 sRGB pixels of an image file, exactly as ``encode`` sees them (alpha dropped)."""
    image = load_image(path) if max_pixels is None else load_image(path, max_pixels=max_pixels)
    return image.rgb
