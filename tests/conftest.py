"""Shared fixtures: sample photos shipped by scikit-image (nothing fetched) and the optional ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A natural RGB photo, 512 x 512 (scikit-image's astronaut)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def small_photo(photo) -> np.ndarray:
    """A 120 x 160 crop of the photo: fast enough for many round-trips."""
    return np.ascontiguousarray(photo[40:160, 200:360])


@pytest.fixture(scope="session")
def shared_val() -> Path:
    """``../shared/data/val`` (Set5, Set14, BSD100); tests using it skip when it is absent."""
    path = Path(os.environ.get("SR_CODEC_SHARED", SHARED)) / "data" / "val"
    if not path.is_dir():
        pytest.skip("../shared/data/val not present")
    return path
