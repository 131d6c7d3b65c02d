"""The learned sender: codec proxy, downscaler, joint training loop, portable runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr_codec.codecs import by_name
from sr_codec.imaging.metrics import psnr
from sr_codec.imaging.resample import downsample
from sr_codec.train.codec_proxy import CodecProxy, block_dct, calibrate, dct_basis, rate_bits
from sr_codec.train.pair import PROXY_PATH, mosaic, real_round_trip, unmosaic


def photo_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth gradients plus some texture: compresses like a photo, not like noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + seed), np.cos(5 * y), np.sin(4 * (x + y))], -1) * 90 + 128
    return np.clip(base + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def test_dct_basis_is_orthonormal():
    b = dct_basis().reshape(64, 64)
    np.testing.assert_allclose(b @ b.T, np.eye(64), atol=1e-12)


def test_block_dct_energy_is_preserved_per_channel():
    img = photo_like(16, 24) / 255.0
    coef = block_dct(img)
    assert coef.shape == (6, 3, 64)
    from sr_codec.train.codec_proxy import RGB_TO_YCBCR

    ycc = img @ RGB_TO_YCBCR.T
    np.testing.assert_allclose(np.sum(coef ** 2, axis=(0, 2)), np.sum(ycc ** 2, axis=(0, 1)), rtol=1e-9)


def test_rate_bits_nearly_free_below_the_step_and_log_above():
    step = np.array([0.1, 0.1, 0.1])
    small = rate_bits(np.full((1, 3, 64), 0.01), step)
    big = rate_bits(np.full((1, 3, 64), 1.6), step)
    assert small.max() < 0.01
    np.testing.assert_allclose(big, np.log2(16.0), atol=0.01)


def test_calibration_against_real_avif_orders_qualities():
    images = [photo_like(48, 64, s) for s in range(4)]
    proxy = calibrate(images, [10, 90], by_name("avif"))
    assert proxy.attenuation.shape == (2, 3, 64) and proxy.step.shape == (2, 3)
    assert np.all((proxy.attenuation >= 0) & (proxy.attenuation <= 1))
    # A higher quality keeps more and quantises finer.
    assert proxy.attenuation[1, 0].mean() > proxy.attenuation[0, 0].mean()
    assert np.all(proxy.step[1] < proxy.step[0])
    assert proxy.attenuation[1, 0, 0] > 0.95  # luma DC survives at q90
    again = CodecProxy.from_json(json.loads(json.dumps(proxy.to_json())))
    np.testing.assert_allclose(again.tables(50)[1], proxy.tables(50)[1], rtol=1e-4)


def test_committed_proxy_rate_tracks_real_sizes():
    proxy = CodecProxy.load(PROXY_PATH)
    fit = proxy.meta["size_fit"]
    assert all(v["log_corr"] > 0.85 for v in fit.values())
    att, step = proxy.tables(35)  # interpolated between calibrated qualities
    lo, hi = proxy.tables(30), proxy.tables(40)
    assert np.all(step <= lo[1] + 1e-12) and np.all(step >= hi[1] - 1e-12)


def test_proxy_tf_matches_numpy_and_identity_attenuation_is_identity():
    tf = pytest.importorskip("tensorflow")
    from sr_codec.train.codec_proxy import tf_ops

    proxy = CodecProxy.load(PROXY_PATH)
    _, step = proxy.tables(50)
    x = (photo_like(32, 40) / 255.0).astype(np.float32)[None]
    for mode in ("linear", "deadzone", "identity"):
        through, rate = tf_ops(proxy, mode)
        np.testing.assert_allclose(through(tf.constant(x), np.ones((3, 64)), step).numpy(), x, atol=1e-5)
    # The deadzone proxy keeps large coefficients whole and scales small ones by the attenuation.
    through, _ = tf_ops(proxy, "deadzone")
    half = np.full((3, 64), 0.5)
    kept = through(tf.constant(x), half, step).numpy()
    linear = tf_ops(proxy, "linear")[0](tf.constant(x), half, step).numpy()
    assert np.mean((kept - x) ** 2) < np.mean((linear - x) ** 2)
    assert float(rate(tf.constant(x), step)[0]) == pytest.approx(proxy.rate(x[0], 50), rel=1e-4)


def test_mosaic_round_trip_and_real_codec_batch():
    batch = np.stack([photo_like(16, 16, s) for s in range(6)]).astype(np.float32) / 255.0
    assert mosaic(batch).shape == (32, 48, 3)
    np.testing.assert_array_equal(unmosaic(mosaic(batch), 6, 16, 16), batch)
    coded, nbytes = real_round_trip(batch, 60, by_name("avif"))
    assert coded.shape == batch.shape and nbytes > 0
    assert 20 < psnr(batch, coded, peak=1.0) < 60


def test_untrained_downscaler_is_bicubic_and_tflite_matches_keras():
    pytest.importorskip("tensorflow")
    from sr_codec.nn.downscaler import downscaler, downscaler_tflite_bytes
    from sr_codec.sender.learned import DownscalerRunner

    hr = photo_like(40, 56)
    base = downsample(hr, 4)
    down = downscaler(4)
    runner = DownscalerRunner(downscaler_tflite_bytes(down))
    np.testing.assert_array_equal(runner(hr, base), base)
    layer = down.get_layer("correction")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.random.default_rng(0).normal(0, 0.02, kernel.shape), bias])
    keras_out = np.asarray(down([hr[None] / 255.0, base[None] / 255.0]))[0]
    keras_u8 = np.clip(np.round(keras_out * 255), 0, 255)
    runner = DownscalerRunner(downscaler_tflite_bytes(down))  # weights are frozen at conversion
    assert np.abs(keras_u8 - runner(hr, base)).max() <= 1
    assert np.abs(keras_u8 - base).max() > 0


def test_training_runs_checkpoints_refuses_overwrite_and_resumes(tmp_path):
    pytest.importorskip("tensorflow")
    from PIL import Image

    from sr_codec.train.pair import main

    data = tmp_path / "photos"
    data.mkdir()
    for s in range(3):
        Image.fromarray(photo_like(160, 200, s)).save(data / f"p{s}.png")
    ckpt = tmp_path / "ckpt"
    args = ["--scale", "4", "--data", str(data), "--val", str(data), "--batch", "4", "--checkpoint-dir", str(ckpt),
            "--minutes", "0.05"]
    assert main(args) == 0
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] > 0 and state["history"]
    assert {"bd_rate_pct", "thumb_psnr_db"} <= set(state["validation"])
    with pytest.raises(SystemExit, match="--resume"):
        main(args)
    more = str(state["elapsed"] / 60 + 0.05)  # the budget is total time, across resumes
    assert main([*args[:-1], more, "--resume"]) == 0
    assert json.loads((ckpt / "state.json").read_text())["step"] > state["step"]


def test_published_pair_runs_without_tensorflow_and_names_its_upscaler(tmp_path):
    pytest.importorskip("tensorflow")
    from sr_codec.nn.downscaler import downscaler
    from sr_codec.nn.loading import build_architecture
    from sr_codec.sender.learned import learned_low_res, learned_pair
    from sr_codec.train.pair import PairConfig, publish_pair
    from sr_codec.zoo import manifest as zoo

    weights = tmp_path / "weights"
    weights.mkdir()
    manifest = json.loads((zoo.WEIGHTS_DIR / "manifest.json").read_text())
    manifest.pop("pairs", None)  # no shipped pair in this folder yet
    (weights / "manifest.json").write_text(json.dumps(manifest))
    cfg = PairConfig(scale=4, init_upscaler=zoo.default_model_id(4))
    down = downscaler(4)
    up = build_architecture(zoo.model_info(cfg.init_upscaler))
    down_id, up_id = publish_pair(down, up, cfg, {"step": 3, "elapsed": 1.0}, weights)
    assert learned_pair(4, weights) == (down_id, up_id)
    assert learned_pair(2, weights) is None
    info = zoo.model_info(up_id, weights)
    assert info["role"] == "pair" and info["pair_downscaler"] == down_id
    assert zoo.model_info(down_id, weights)["tflite"]["file"] == f"{down_id}.tflite"
    rgb = photo_like(37, 50)  # not a multiple of the scale: padded like downsample
    # An untrained downscaler is exactly bicubic.
    np.testing.assert_array_equal(learned_low_res(rgb, 4, down_id, weights), downsample(rgb, 4))
    (weights / f"{down_id}.tflite").write_bytes(b"forged")
    from sr_codec.errors import ModelError
    from sr_codec.sender import learned

    learned._runners.clear()
    with pytest.raises(ModelError, match="sha256"):
        learned_low_res(rgb, 4, down_id, weights)
