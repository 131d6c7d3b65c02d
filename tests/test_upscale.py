"""The decode runtime: devices, the model cache, tiling (== untiled within 1 LSB), batching, determinism."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sr_codec.receiver import runtime as rt
from sr_codec.imaging.resample import upsample_bicubic
from sr_codec.errors import DeviceError, InputImageError, ModelError
from sr_codec.nn.geometry import TILE_SAFETY, Geometry, geometry
from sr_codec.receiver.runtime import tiling
from sr_codec.nn.loading import load_model
from sr_codec.zoo import manifest as zoo
from sr_codec.receiver.upscale import upscale, upscale_many

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def weights(tmp_path_factory, random_weights_dir, randomise_weights, export_weights) -> Path:
    """The shared random-weight models (x4 default: fast, 16 wide, 3 blocks) plus a random seed autoencoder x2."""
    from sr_codec.nn.architectures.autoencoder import seed_sr

    weights_dir = tmp_path_factory.mktemp("weights")
    shutil.copytree(random_weights_dir, weights_dir, dirs_exist_ok=True)
    export_weights(randomise_weights(seed_sr(2), seed=1), weights_dir, arch="autoencoder", scale=2)
    return weights_dir


def seed_id(weights_dir: Path) -> str:
    return next(m for m in zoo.available_model_ids(weights_dir) if m.startswith("autoencoder-x2"))


def noise_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient plus noise: every window differs, so a misplaced tile shows."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([yy * 255 / h, xx * 255 / w, (yy + xx) * 127 / (h + w)], axis=-1)
    return np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------ bicubic


def test_bicubic_without_weights_never_imports_tensorflow(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from sr_codec.receiver.upscale import upscale\n"
        f"out = upscale(np.zeros((5, 7, 3), np.uint8), 4, weights_dir={str(tmp_path)!r})\n"
        "assert out.shape == (20, 28, 3), out.shape\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_bicubic_model_id_is_plain_bicubic(small_photo, weights):
    out = upscale(small_photo, 4, model_id=zoo.BICUBIC, weights_dir=weights)
    np.testing.assert_array_equal(out, upsample_bicubic(small_photo, 4))


# ---------------------------------------------------------------------------------------- the model


def test_upscale_equals_the_keras_model(small_photo, weights):
    model_id = zoo.default_model_id(4, weights)
    model = load_model(model_id, "cpu", weights)
    expected = np.asarray(model(small_photo[None].astype(np.float32) / 255.0, training=False))[0]
    expected = np.clip(np.round(expected * 255.0), 0, 255).astype(np.uint8)
    out = upscale(small_photo, 4, weights_dir=weights, tile=0)
    assert out.shape == (120 * 4, 160 * 4, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert not np.array_equal(out, upsample_bicubic(small_photo, 4))  # the network did something


def test_same_input_twice_gives_identical_pixels(small_photo, weights):
    first = upscale(small_photo, 4, weights_dir=weights)
    second = upscale(small_photo.copy(), 4, weights_dir=weights)
    np.testing.assert_array_equal(first, second)
    tiled = [upscale(small_photo, 4, weights_dir=weights, tile=40) for _ in range(2)]
    np.testing.assert_array_equal(tiled[0], tiled[1])


def test_one_runner_per_model_and_device(weights):
    model_id = zoo.default_model_id(4, weights)
    runner = rt.get_runner(model_id, "cpu", weights_dir=weights)
    assert rt.get_runner(model_id, "cpu", weights_dir=weights) is runner
    assert runner.scale == 4 and runner.device == "cpu"


def test_threads_share_the_runner_and_agree(weights):
    image = noise_image(48, 40, seed=3)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work():
        try:
            results.append(upscale(image, 4, weights_dir=weights, tile=16))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 4
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_keras_runner_calls_from_threads_on_new_shapes_agree_with_one_call():
    """Concurrent first calls of one ``tf.function`` on a new shape crashed TensorFlow (segfault) or gave
    one thread garbage pixels (CI, stop 24) until KerasRunner serialised its calls."""
    from sr_codec.nn.architectures.fast import fast_sr

    model = fast_sr(4, 16, 3)
    rng = np.random.default_rng(7)
    for round_ in range(16):
        runner = rt.KerasRunner(model, 4, "cpu")
        runner(rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8))  # traced for one shape only
        batch = rng.integers(0, 256, (4 + round_ % 3, 40 + 8 * round_, 32, 3), dtype=np.uint8)
        results: list[np.ndarray] = []
        threads = [threading.Thread(target=lambda: results.append(runner(batch))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        alone = runner(batch)
        assert len(results) == 6
        for r in results:
            np.testing.assert_array_equal(r, alone)


# ------------------------------------------------------------------------------------------- tiling


def test_tiled_equals_untiled_within_one_lsb(weights):
    image = noise_image(150, 130)  # low-res; 600 x 520 output
    geo = rt.get_runner(zoo.default_model_id(4, weights), "cpu", weights_dir=weights).geometry
    assert len(rt.plan_tiles(150, 130, 32, geo)) >= 16
    whole = upscale(image, 4, weights_dir=weights, tile=0)
    tiled = upscale(image, 4, weights_dir=weights, tile=32)
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_tiled_seed_autoencoder_pads_to_its_pooling_grid(weights):
    model_id = seed_id(weights)
    geo = rt.get_runner(model_id, "cpu", weights_dir=weights).geometry
    assert geo.multiple == 2  # x2 then two 2x2 poolings: low-res offsets must be even
    image = noise_image(45, 37, seed=2)  # odd sides: edge-padded to 46 x 38, cropped back
    whole = upscale(image, 2, model_id=model_id, weights_dir=weights, tile=0)
    tiled = upscale(image, 2, model_id=model_id, weights_dir=weights, tile=12)
    assert whole.shape == tiled.shape == (90, 74, 3)
    assert len(rt.plan_tiles(46, 38, 12, geo)) >= 4
    assert np.abs(whole.astype(int) - tiled).max() <= 1


def test_small_memory_budget_tiles_automatically(weights):
    runner = rt.get_runner(zoo.default_model_id(4, weights), "cpu", weights_dir=weights)
    image = noise_image(96, 80, seed=5)
    budget = int(4 * runner.geometry.floats_per_pixel * 40 * 40)  # room for a 40 x 40 window
    assert rt.auto_tile(96, 80, runner.geometry, budget) > 0
    assert rt.auto_tile(96, 80, runner.geometry, budget * 100) == 0
    [small] = rt.run_tiled(runner, [image], budget=budget)
    [whole] = rt.run_tiled(runner, [image], tile=0)
    assert np.abs(whole.astype(int) - small).max() <= 1


def test_receptive_field_covers_what_the_network_sees(weights):
    """Change one low-res pixel: output pixels further than the computed radius must not move."""
    for model_id, scale in ((zoo.default_model_id(4, weights), 4), (seed_id(weights), 2)):
        model = load_model(model_id, "cpu", weights)
        geo = geometry(model)
        image = noise_image(48, 48, seed=7).astype(np.float32) / 255.0
        poked = image.copy()
        poked[24, 24] = 1.0 - poked[24, 24]
        out_a, out_b = np.asarray(model(np.stack([image, poked]), training=False))
        # batch elements differ by float noise (~1e-7) everywhere; real influence is far above it
        changed_y, changed_x = np.nonzero(np.abs(out_a - out_b).max(axis=-1) > 1e-5)
        reach = max(np.abs(changed_y // scale - 24).max(), np.abs(changed_x // scale - 24).max())
        assert reach <= geo.radius, (model_id, reach, geo)
        if scale == 4:  # the fast net's bound is tight: random weights reach all of it
            assert reach >= geo.radius - 1, (model_id, reach, geo)
        assert geo.margin > geo.radius


def test_geometry_of_the_shipped_architectures():
    import keras

    from sr_codec.nn.architectures.autoencoder import seed_sr
    from sr_codec.nn.architectures.fast import fast_sr

    # fast: head 1 + 2 per block + to_subpixels 1 + half a pixel for the sub-pixel phase; bicubic (2) runs beside
    for scale, width, blocks in ((2, 32, 3), (4, 32, 3), (10, 48, 4)):
        geo = geometry(fast_sr(scale, width, blocks))
        assert (geo.radius, geo.multiple) == (2 * blocks + 3, 1)
        assert geo.margin >= geo.radius + TILE_SAFETY
    assert [geometry(seed_sr(s)).multiple for s in (2, 4, 10)] == [2, 1, 2]
    inp = keras.Input((None, None, 3))
    with pytest.raises(ModelError, match="receptive field"):
        geometry(keras.Model(inp, keras.layers.Cropping2D(1)(inp)))


@settings(max_examples=200, deadline=None)
@given(h=st.integers(1, 300), w=st.integers(1, 300), core=st.integers(0, 80), radius=st.integers(0, 12),
       multiple=st.sampled_from([1, 2, 4]))
def test_tile_plan_covers_every_pixel_once_with_margin(h, w, core, radius, multiple):
    h, w = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    geo = Geometry(radius=radius, multiple=multiple, floats_per_pixel=100.0)
    tiles = rt.plan_tiles(h, w, core, geo)
    count = np.zeros((h, w), int)
    for t in tiles:
        (wy0, wy1, wx0, wx1), (cy0, cy1, cx0, cx1) = t.window, t.core
        assert 0 <= wy0 <= cy0 < cy1 <= wy1 <= h and 0 <= wx0 <= cx0 < cx1 <= wx1 <= w
        assert all(v % multiple == 0 for v in (wy0, wx0, wy1 - wy0, wx1 - wx0))
        for lo, hi, c_lo, c_hi, n in ((wy0, wy1, cy0, cy1, h), (wx0, wx1, cx0, cx1, w)):
            assert c_lo - lo >= geo.margin or lo == 0  # context on every side that is not the border
            assert hi - c_hi >= geo.margin or hi == n
        count[cy0:cy1, cx0:cx1] += 1
    assert (count == 1).all()
    assert len({t.shape for t in tiles}) == 1  # one window size per image: tiles batch together


def test_memory_figures_are_sane():
    assert rt.available_memory() > 100 << 20
    assert 0 < rt.memory_budget("cpu") <= tiling.CPU_BUDGET_CAP


# ----------------------------------------------------------------------------------------- batching


def test_upscale_many_matches_one_by_one(weights):
    images = [noise_image(30, 20, 1), noise_image(30, 20, 2), noise_image(17, 23, 3)]
    batched = upscale_many(images, 4, weights_dir=weights)
    assert [b.shape for b in batched] == [(120, 80, 3), (120, 80, 3), (68, 92, 3)]
    for image, out in zip(images, batched):
        assert np.abs(upscale(image, 4, weights_dir=weights).astype(int) - out).max() <= 1
    assert upscale_many([], 4, weights_dir=weights) == []
    runner = rt.get_runner(zoo.default_model_id(4, weights), "cpu", weights_dir=weights)
    assert runner.infer.experimental_get_tracing_count() == 1  # every size and batch ran through one trace


# ------------------------------------------------------------------------------------------ devices


def test_device_resolution(monkeypatch):
    monkeypatch.delenv(rt.DEVICE_ENV, raising=False)
    assert rt.resolve_device("cpu") == "cpu"
    assert rt.resolve_device("CPU") == "cpu"
    assert rt.resolve_device(None) == ("gpu" if rt.gpu_available() else "cpu")
    monkeypatch.setenv(rt.DEVICE_ENV, "cpu")
    assert rt.resolve_device(None) == "cpu"
    with pytest.raises(DeviceError):
        rt.resolve_device("tpu")
    monkeypatch.setenv(rt.DEVICE_ENV, "quantum")
    with pytest.raises(DeviceError, match=rt.DEVICE_ENV):
        rt.resolve_device(None)
    assert rt.resolve_device("cpu") == "cpu"  # the argument wins over the environment


def test_missing_gpu_is_a_device_error(monkeypatch, small_photo, weights):
    if rt.gpu_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(DeviceError):
        upscale(small_photo, 4, device="gpu", weights_dir=weights)
    with pytest.raises(DeviceError):  # even when plain bicubic would do: the caller asked for a GPU
        upscale(small_photo, 4, device="gpu", model_id=zoo.BICUBIC, weights_dir=weights)
    monkeypatch.setenv(rt.DEVICE_ENV, "gpu")
    with pytest.raises(DeviceError):
        upscale(small_photo, 4, weights_dir=weights)


# ------------------------------------------------------------------------------------------- errors


def test_bad_arguments(small_photo, weights):
    with pytest.raises(InputImageError):
        upscale(small_photo.astype(np.float32), 4, weights_dir=weights)
    with pytest.raises(InputImageError):
        upscale(small_photo[..., :2], 4, weights_dir=weights)
    with pytest.raises(InputImageError):
        upscale(small_photo, 4, tile=-1, weights_dir=weights)
    with pytest.raises(ModelError):
        upscale(small_photo, 2, model_id=zoo.default_model_id(4, weights), weights_dir=weights)
    with pytest.raises(ModelError):
        upscale(small_photo, 4, model_id="no-such-model", weights_dir=weights)
    with pytest.raises(ModelError):
        upscale(small_photo, 4, runtime="onnx", weights_dir=weights)
