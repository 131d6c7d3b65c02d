"""Shared fixtures: sample photos shipped by scikit-image (nothing fetched), the optional ../shared data,
and models with random weights written as training writes them."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Prepended to a child interpreter's code: `import tensorflow` (and keras) fails there, as in a base install.
NO_TENSORFLOW = (
    "import sys\n"
    "class _Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):\n"
    "            raise ImportError(f'{name} is blocked in this test')\n"
    "sys.meta_path.insert(0, _Block())\n"
)


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


@pytest.fixture()
def tiny_data(tmp_path, photo) -> Path:
    """A folder of three 96 x 128 PNG crops of the photo: a training set for runs of a few steps."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(photo[i * 100 : i * 100 + 96, i * 90 : i * 90 + 128]).save(folder / f"p{i}.png")
    return folder


# ------------------------------------------------------------------------------------- random weights

RANDOM_WEIGHTS_SCALES = (2, 4, 10)
RANDOM_WEIGHTS_WIDTH, RANDOM_WEIGHTS_BLOCKS = 16, 3


def _randomise_weights(model, seed: int = 0):
    """Give ``model`` random weights (LeCun-normal kernels, small biases) in place; returns it.

    The last kernel is shrunk 10x so a residual network's outputs stay mostly inside 0..255
    (no saturation hiding a wrong pixel).
    """
    rng = np.random.default_rng(seed)
    weights = []
    for w in model.get_weights():
        fan_in = int(np.prod(w.shape[:-1])) if w.ndim > 1 else 0
        std = 1 / np.sqrt(fan_in) if fan_in else 0.01
        weights.append(rng.normal(0, std, w.shape).astype(np.float32))
    weights[-2] *= 0.1
    model.set_weights(weights)
    return model


def _export_weights(model, weights_dir: Path, *, scale: int, arch: str = "fast", width: int = 32,
                    blocks: int = 3, role: str = "codec") -> str:
    """Write ``model`` and its manifest entry exactly as ``python -m sr_codec.train --export`` does; its model id."""
    from sr_codec.train import TrainConfig, publish_weights

    arch_config = {"width": width, "blocks": blocks} if arch == "fast" else {}
    cfg = TrainConfig(scale=scale, arch=arch, arch_config=arch_config, role=role)
    return publish_weights(model, cfg, {"step": 0, "elapsed": 0.0}, Path(weights_dir))


@pytest.fixture(scope="session")
def randomise_weights():
    """``randomise_weights(model, seed=0) -> model``: random weights in place (imports nothing itself)."""
    return _randomise_weights


@pytest.fixture(scope="session")
def export_weights():
    """``export_weights(model, weights_dir, *, scale, arch="fast", width=32, blocks=3, role="codec") -> model id``,
    as training exports."""
    return _export_weights


@pytest.fixture(scope="session")
def random_weights_dir(tmp_path_factory) -> Path:
    """A weights dir (``manifest.json`` + ``.weights.h5``) whose default x2, x4 and x10 models are
    ``fast_sr(scale, 16, 3)`` with random weights (seed = scale). Treat it as read-only: it is shared
    by the whole session."""
    from sr_codec.nn.architectures.fast import fast_sr

    weights_dir = tmp_path_factory.mktemp("random_weights")
    for scale in RANDOM_WEIGHTS_SCALES:
        model = _randomise_weights(fast_sr(scale, RANDOM_WEIGHTS_WIDTH, RANDOM_WEIGHTS_BLOCKS), seed=scale)
        _export_weights(model, weights_dir, scale=scale, width=RANDOM_WEIGHTS_WIDTH, blocks=RANDOM_WEIGHTS_BLOCKS)
    return weights_dir


@contextlib.contextmanager
def browser_page(harness: str, before_goto=None):
    """A headless Chromium tab on ``web/test/<harness>`` served from the repository, once ``window.ready``;
    skips as :func:`require_browser` does. ``before_goto(tab)`` runs first (e.g. to route a request)."""
    executable, playwright_api = require_browser()
    from sr_codec.demo import browser

    server = browser.serve_directory(browser.REPO_ROOT)
    try:
        with playwright_api.sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=executable, args=list(browser.CHROMIUM_FLAGS))
            tab = chromium.new_page()
            if before_goto is not None:
                before_goto(tab)
            tab.goto(f"http://127.0.0.1:{server.server_address[1]}/web/test/{harness}")
            tab.wait_for_function("window.ready === true", timeout=30_000)
            yield tab
            chromium.close()
    finally:
        server.shutdown()


def require_browser():
    """(chromium executable, playwright.sync_api) for the browser tests, or a skip that says what is missing."""
    from sr_codec.demo import browser

    executable = browser.chromium_path()
    if executable is None:
        pytest.skip("no chromium binary: run `sudo apt-get install -y chromium` (or set SR_CODEC_CHROMIUM to one); "
                    "`.ci/run` installs it")
    playwright_api = pytest.importorskip("playwright.sync_api",
                                         reason="no Playwright: run `pip install -e \".[demo]\"` in the checkout")
    if not (browser.WEB_DIR / "node_modules" / "@litertjs" / "core").is_dir():
        pytest.skip(f"the JS decoder's npm packages are missing: run `(cd {browser.WEB_DIR} && npm ci)`; "
                    "`.ci/run` runs it")
    return executable, playwright_api
