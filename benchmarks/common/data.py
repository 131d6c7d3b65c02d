"""Image sets for benchmarks, read through :func:`sr_codec.imaging.io.load_rgb` (the encoder's own normaliser)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sr_codec.imaging.io import list_images, load_rgb

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
DEFAULT_IMAGES = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")
"""Colour photos inside the scikit-image wheel (read from its package folder: nothing is fetched)."""

__all__ = ["DEFAULT_IMAGES", "REPO", "SHARED", "default_image_paths", "image_paths", "list_images", "load_images",
           "load_rgb"]


def default_image_paths() -> list[Path]:
    """The built-in set: colour photos inside scikit-image's package folder (no download)."""
    import skimage.data

    folder = Path(skimage.data.__file__).resolve().parent
    return [folder / name for name in DEFAULT_IMAGES if (folder / name).is_file()]


def image_paths(data: str | Path | None, limit: int | None = None) -> list[Path]:
    """The images of a folder (not recursive), or the file itself, or :func:`default_image_paths` for None."""
    paths = default_image_paths() if data is None else list_images([data], recursive=False)
    return paths[:limit] if limit else paths


def load_images(paths: list[Path]) -> list[tuple[str, np.ndarray]]:
    """(file stem, uint8 RGB) for each path."""
    return [(p.stem, load_rgb(p)) for p in paths]
