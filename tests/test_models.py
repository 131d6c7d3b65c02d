"""The network architectures and the weights registry (zoo) with a temporary manifest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr_codec.errors import ModelError
from sr_codec.nn.loading import load_model
from sr_codec.zoo import manifest as zoo


def test_seed_autoencoder_has_the_articles_parameter_count():
    from sr_codec.nn.architectures.autoencoder import seed_autoencoder

    assert seed_autoencoder(input_shape=(256, 256, 3)).count_params() == 1_110_403


def test_seed_sr_output_is_the_enlarged_input():
    from sr_codec.nn.architectures.autoencoder import seed_sr

    out = seed_sr(2)(np.zeros((1, 6, 10, 3), np.float32), training=False)
    assert tuple(out.shape) == (1, 12, 20, 3)


@pytest.mark.parametrize("scale, width, blocks", [(2, 32, 3), (4, 32, 3), (10, 48, 4)])
def test_fast_sr_shapes_on_odd_sizes(scale, width, blocks):
    from sr_codec.nn.architectures.fast import fast_sr

    model = fast_sr(scale, width, blocks)
    for h, w in ((7, 5), (13, 9)):
        out = model(np.random.default_rng(h).random((2, h, w, 3), dtype=np.float32), training=False)
        assert tuple(out.shape) == (2, h * scale, w * scale, 3)


@pytest.mark.parametrize("scale", [2, 4, 10])
def test_fast_sr_with_a_zero_last_conv_is_bicubic(scale):
    """Residual design: whatever the trunk computes, a zero ``to_subpixels`` leaves the bicubic base."""
    import tensorflow as tf

    from sr_codec.nn.architectures.fast import fast_sr

    model = fast_sr(scale, 16, 2)
    last = model.get_layer("to_subpixels")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    lr = np.random.default_rng(scale).random((1, 9, 11, 3), dtype=np.float32)
    out = np.asarray(model(lr, training=False))
    bicubic = tf.image.resize(lr, (9 * scale, 11 * scale), method="bicubic").numpy()
    np.testing.assert_allclose(out, bicubic, atol=1e-6)


# --------------------------------------------------------------------------------------------- zoo


@pytest.fixture()
def weights_dir(tmp_path, randomise_weights, export_weights):
    """A fresh folder holding one random-weight x4 model: the tests below damage it."""
    from sr_codec.nn.architectures.fast import fast_sr

    export_weights(randomise_weights(fast_sr(4, 16, 2)), tmp_path, scale=4, width=16, blocks=2)
    return tmp_path


def test_zoo_round_trip(weights_dir):
    from sr_codec.nn.architectures.fast import fast_sr

    [model_id] = zoo.available_model_ids(weights_dir)
    info = zoo.model_info(model_id, weights_dir)
    assert zoo.default_model_id(4, weights_dir) == model_id
    assert zoo.default_model_id(2, weights_dir) == zoo.BICUBIC
    tag = zoo.tag_for(model_id, weights_dir)
    assert 0 < tag < 2**32 and tag == int(info["sha256"][:8], 16)
    assert zoo.model_id_for_tag(tag, weights_dir) == model_id
    assert zoo.model_id_for_tag(tag ^ 1, weights_dir) is None
    assert zoo.tag_for(zoo.BICUBIC, weights_dir) == 0 and zoo.model_id_for_tag(0, weights_dir) == zoo.BICUBIC

    loaded = load_model(model_id, "cpu", weights_dir)
    assert load_model(model_id, "cpu", weights_dir) is loaded  # cached per process
    reference = fast_sr(4, 16, 2)
    reference.load_weights(weights_dir / info["file"])
    for a, b in zip(loaded.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert info["parameters"] == loaded.count_params()


def test_zoo_rejects_a_weights_file_that_does_not_match_its_hash(weights_dir):
    [model_id] = zoo.available_model_ids(weights_dir)
    path = weights_dir / zoo.model_info(model_id, weights_dir)["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        load_model(model_id, "cpu", weights_dir)


def test_zoo_errors(weights_dir, tmp_path_factory):
    with pytest.raises(ModelError):
        zoo.model_info("no-such-model", weights_dir)
    [model_id] = zoo.available_model_ids(weights_dir)
    (weights_dir / zoo.model_info(model_id, weights_dir)["file"]).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(model_id, "cpu", weights_dir)
    broken = tmp_path_factory.mktemp("broken")
    (broken / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError):
        zoo.read_manifest(broken)
    empty = tmp_path_factory.mktemp("empty")
    assert zoo.available_model_ids(empty) == [] and zoo.default_model_id(4, empty) == zoo.BICUBIC


def test_manifest_entry_has_the_training_export_fields(weights_dir):
    manifest = json.loads((weights_dir / "manifest.json").read_text())
    [entry] = manifest["models"].values()
    assert {"file", "sha256", "arch", "scale", "config", "parameters"} <= set(entry)
    assert entry["config"]["width"] == 16 and entry["config"]["blocks"] == 2


def test_clean_role_model_serves_upscale_and_leaves_the_codec_default(tmp_path, randomise_weights, export_weights,
                                                                     small_photo):
    """upscale() on clean low-res takes the clean-role model; payloads keep naming the codec-role default."""
    from sr_codec.nn.architectures.fast import fast_sr
    from sr_codec.receiver.upscale import upscale

    codec_id = export_weights(randomise_weights(fast_sr(4, 8, 1), seed=1), tmp_path, scale=4, width=8, blocks=1)
    assert zoo.upscale_model_id(4, tmp_path) == codec_id  # no clean model yet: fall back to the codec one
    clean_id = export_weights(randomise_weights(fast_sr(4, 8, 1), seed=2), tmp_path, scale=4, width=8, blocks=1,
                              role="clean")
    # no cache clearing: the manifest reader sees what training just wrote
    assert "-clean-" in clean_id and clean_id != codec_id
    assert zoo.default_model_id(4, tmp_path) == codec_id
    assert zoo.upscale_model_id(4, tmp_path) == clean_id
    assert zoo.upscale_model_id(2, tmp_path) == zoo.BICUBIC
    assert zoo.model_info(clean_id, tmp_path)["role"] == "clean"

    lr = small_photo[:24, :32]
    by_default = upscale(lr, 4, weights_dir=tmp_path)
    np.testing.assert_array_equal(by_default, upscale(lr, 4, model_id=clean_id, weights_dir=tmp_path))
    assert not np.array_equal(by_default, upscale(lr, 4, model_id=codec_id, weights_dir=tmp_path))
