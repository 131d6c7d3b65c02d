"""The two registries (inner codecs, network architectures) and the manifest's one reader and writer."""

from __future__ import annotations

import json

import pytest

from sr_codec import codecs
from sr_codec.codecs.base import InnerCodec
from sr_codec.errors import InputImageError, ModelError, PayloadError
from sr_codec.format.payload import INNER_CODEC_IDS
from sr_codec.zoo import manifest as zoo


def test_every_wire_id_of_the_format_has_exactly_its_codec():
    assert {c: codecs.by_name(c).wire_id for c in codecs.names()} == {n: i for i, n in INNER_CODEC_IDS.items()}
    for wire_id, name in INNER_CODEC_IDS.items():
        assert codecs.by_wire_id(wire_id) is codecs.by_name(name)
    with pytest.raises(InputImageError, match="unknown inner codec"):
        codecs.by_name("heic")
    with pytest.raises(PayloadError, match="unknown inner codec id"):
        codecs.by_wire_id(9)


def test_a_codec_cannot_claim_an_id_the_format_gives_another():
    class Impostor(InnerCodec):
        name = "qoi"
        wire_id = 1  # WebP's

    with pytest.raises(ValueError, match="gives to 'webp'"):
        codecs.register(Impostor())
    assert "qoi" not in codecs.names() and codecs.by_wire_id(1).name == "webp"


def test_only_avif_has_a_speed_rule_and_a_plain_file_differs_only_there():
    avif = codecs.by_name("avif")
    assert avif.speed_for(64, 64) == 6 and avif.speed_for(2000, 2000) == 9
    assert avif.as_plain_file().speed_for(2000, 2000) == 6  # Pillow's default speed
    for name in ("webp", "jpeg", "png"):
        codec = codecs.by_name(name)
        assert codec.speed_for(2000, 2000) is None and codec.as_plain_file() is codec


def test_architectures_are_registered_with_their_config():
    pytest.importorskip("keras")
    from sr_codec.nn import architectures

    assert architectures.names() == ["autoencoder", "fast"]
    fast = architectures.from_manifest({"arch": "fast", "config": {"width": 48, "blocks": 4, "transpose": False}})
    assert fast.get_config() == {"width": 48, "blocks": 4} and fast.tag() == "w48b4"
    seed = architectures.from_manifest({"arch": "autoencoder", "config": {"width": 32, "blocks": 3}})
    assert seed.get_config() == {"transpose": False} and seed.tag() == "upsamp" and not seed.becomes_default
    with pytest.raises(ModelError, match="unknown architecture"):
        architectures.by_name("transformer")


def test_train_options_come_from_the_architectures_and_old_checkpoints_still_load():
    pytest.importorskip("keras")
    from sr_codec.train import TrainConfig, parse_args

    cfg, _ = parse_args(["--arch", "fast", "--width", "16"])
    assert cfg.arch_config == {"width": 16, "blocks": 3}
    cfg, _ = parse_args(["--arch", "autoencoder", "--transpose"])
    assert cfg.arch_config == {"transpose": True}
    with pytest.raises(SystemExit):
        parse_args(["--arch", "autoencoder", "--width", "16"])  # not an autoencoder setting
    legacy = {"scale": 10, "arch": "fast", "width": 48, "blocks": 4, "transpose": False, "minutes": 14.0}
    old = TrainConfig.from_saved(legacy)
    assert old.arch_config == {"width": 48, "blocks": 4, "transpose": False}
    assert old.architecture().get_config() == {"width": 48, "blocks": 4}


def test_the_manifest_reader_sees_what_the_writer_just_wrote(tmp_path):
    assert zoo.read_manifest(tmp_path)["models"] == {}
    entry = {"file": "m.weights.h5", "sha256": "ab" * 32, "arch": "fast", "scale": 4, "config": {}, "role": "codec"}
    zoo.add_model(tmp_path, "fast-x4-a", entry, make_default=True)
    assert zoo.default_model_id(4, tmp_path) == "fast-x4-a"  # no cache to clear
    zoo.add_model(tmp_path, "fast-x4-clean-b", {**entry, "sha256": "cd" * 32, "role": "clean"}, make_default=True)
    assert zoo.upscale_model_id(4, tmp_path) == "fast-x4-clean-b" and zoo.default_model_id(4, tmp_path) == "fast-x4-a"
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk["default"] == {"4": "fast-x4-a"} and on_disk["upscale_default"] == {"4": "fast-x4-clean-b"}
