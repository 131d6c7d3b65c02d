"""The sharp decoder's trainer: its grid penalty, its discriminator, and refusing to replace a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from sr_codec.train import adversarial  # noqa: E402


def test_phase_error_sees_a_pixel_shuffle_grid_and_nothing_else():
    rng = np.random.default_rng(0)
    smooth = np.repeat(np.repeat(rng.normal(size=(2, 6, 6, 3)), 4, axis=1), 4, axis=2)  # constant per 4x4 cell
    grid = np.zeros((2, 24, 24, 3))
    grid[:, ::4, ::4] = 0.1  # one sub-pixel position of every cell is off
    assert float(adversarial.phase_error(tf.constant(smooth, tf.float32), 4)) == pytest.approx(0.0, abs=1e-6)
    assert float(adversarial.phase_error(tf.constant(grid, tf.float32), 4)) > 0.005


def test_discriminator_gives_patch_logits_and_features():
    disc = adversarial.build_discriminator(8)
    out = disc(np.zeros((1, 96, 96, 3), np.float32))
    logits, feats = out[0], out[1:]
    assert logits.shape == (1, 12, 12, 1) and len(feats) == 6


def test_refuses_to_replace_another_runs_checkpoint(tmp_path):
    (tmp_path / "state.json").write_text("{}")
    with pytest.raises(SystemExit, match="another run"):
        adversarial.main(["--checkpoint-dir", str(tmp_path), "--minutes", "0.01"])
