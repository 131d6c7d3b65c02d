"""The training pipeline end to end on a few tiny images: train, checkpoint, resume, export, init-from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr_codec import train


def _run(tmp_path, tiny_data, *extra: str) -> int:
    return train.main(["--scale", "4", "--width", "8", "--blocks", "1", "--patch", "32", "--batch", "2",
                       "--data", str(tiny_data), "--val", str(tmp_path / "no_val"), "--variants", "1",
                       "--cache-dir", str(tmp_path / "cache"), "--weights-dir", str(tmp_path / "weights"),
                       "--minutes", "0.03", *extra])


def test_train_resume_export_and_clean_role_from_a_checkpoint(tmp_path, tiny_data):
    codec_dir, clean_dir = tmp_path / "ck_codec", tmp_path / "ck_clean"
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(codec_dir)) == 0
    first = json.loads((codec_dir / "state.json").read_text())
    assert first["step"] > 0 and first["config"]["role"] == "codec"

    # --resume continues the same run with its saved settings; only the budget grows.
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(codec_dir), "--resume", "--minutes", "0.06",
                "--clean-fraction", "0.9", "--export") == 0
    resumed = json.loads((codec_dir / "state.json").read_text())
    assert resumed["step"] > first["step"] and resumed["config"]["clean_fraction"] == 0.25

    # A clean-role run starts from the codec checkpoint's weights with a fresh schedule.
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(clean_dir), "--role", "clean",
                "--init-from", str(codec_dir), "--export") == 0
    clean = json.loads((clean_dir / "state.json").read_text())
    assert clean["config"]["clean_fraction"] == 1.0 and clean["config"]["variants"] == 0
    assert clean["config"]["init_from"] == {"checkpoint": codec_dir.name, "steps": resumed["step"],
                                            "wall_time_s": round(resumed["elapsed"], 1)}

    manifest = json.loads((tmp_path / "weights" / "manifest.json").read_text())
    codec_id, clean_id = manifest["default"]["4"], manifest["upscale_default"]["4"]
    assert manifest["models"][codec_id]["role"] == "codec" and manifest["models"][codec_id]["training"]["steps"] == resumed["step"]
    assert manifest["models"][clean_id]["role"] == "clean"
    assert manifest["models"][clean_id]["training"]["init_from"]["steps"] == resumed["step"]
    for entry in manifest["models"].values():
        assert (tmp_path / "weights" / entry["file"]).exists()


def test_resume_and_init_from_refuse_another_architecture(tmp_path, tiny_data):
    ck = tmp_path / "ck"
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(ck)) == 0
    with pytest.raises(SystemExit, match="w8b1"):
        train.main(["--scale", "4", "--width", "16", "--blocks", "1", "--checkpoint-dir", str(ck), "--resume",
                    "--data", str(tiny_data)])
    with pytest.raises(SystemExit, match="w8b1"):
        train.main(["--scale", "4", "--width", "16", "--blocks", "1", "--checkpoint-dir", str(tmp_path / "other"),
                    "--init-from", str(ck), "--data", str(tiny_data)])
    with pytest.raises(SystemExit, match="no checkpoint"):
        train.main(["--scale", "4", "--checkpoint-dir", str(tmp_path / "other"),
                    "--init-from", str(tmp_path / "missing"), "--data", str(tiny_data)])


def test_patch_sampler_keeps_lr_and_hr_aligned():
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    hr = np.repeat(np.repeat(lr, 4, axis=0), 4, axis=1)  # 4x4 blocks: any flip or rotation keeps x == y[::4, ::4]
    cfg = train.TrainConfig(scale=4, patch=32, batch=8, clean_fraction=1.0)
    x, y = train.PatchSampler([hr], [[lr]], cfg, rng).batch()
    assert x.shape == (8, 8, 8, 3) and y.shape == (8, 32, 32, 3)
    np.testing.assert_array_equal(x, y[:, ::4, ::4])


def test_a_new_run_never_replaces_another_runs_checkpoint(tmp_path, tiny_data, capsys):
    ck = tmp_path / "ck"
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(ck)) == 0
    assert "no validation images" in capsys.readouterr().out
    before = (ck / "model.weights.h5").read_bytes(), (ck / "state.json").read_text()
    with pytest.raises(SystemExit, match="--resume .* --overwrite"):
        _run(tmp_path, tiny_data, "--checkpoint-dir", str(ck))
    assert ((ck / "model.weights.h5").read_bytes(), (ck / "state.json").read_text()) == before
    assert _run(tmp_path, tiny_data, "--checkpoint-dir", str(ck), "--overwrite") == 0
