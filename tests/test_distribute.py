"""Training under tf.distribute. The runs are subprocesses: logical CPU devices (2 replicas without a GPU)
must be configured before TensorFlow initialises, and this test process may already have initialised it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import sr_codec
from sr_codec.train import distribute

REPO_ROOT = Path(sr_codec.__file__).resolve().parents[1]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_CONFIG", None)  # only the multi-worker test sets one
    env.update(extra)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return env


def _train_args(tmp_path: Path, data: Path, checkpoint_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "sr_codec.train", "--scale", "4", "--width", "8", "--blocks", "1", "--patch", "32",
            "--batch", "2", "--data", str(data), "--val", str(tmp_path / "no_val"), "--variants", "1",
            "--cache-dir", str(tmp_path / "cache"), "--weights-dir", str(tmp_path / "weights"),
            "--checkpoint-dir", str(checkpoint_dir), *extra]


def _run(args: list[str], **env: str) -> dict:
    done = subprocess.run(args, cwd=REPO_ROOT, env=_env(**env), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    line = next(line for line in done.stdout.splitlines() if line.startswith("distributed-run "))
    return json.loads(line.split(" ", 1)[1])


def _weights(checkpoint_dir: Path) -> list[np.ndarray]:
    import h5py

    arrays = []
    with h5py.File(checkpoint_dir / "model.weights.h5") as f:
        f.visititems(lambda name, obj: arrays.append(np.asarray(obj)) if isinstance(obj, h5py.Dataset) else None)
    return arrays


def test_mirrored_over_two_logical_cpus_trains_saves_and_resumes(tmp_path, tiny_data):
    ck = tmp_path / "ck"
    args = _train_args(tmp_path, tiny_data, ck, "--strategy", "mirrored", "--logical-cpus", "2")
    first = _run(args + ["--steps", "6"])
    assert (first["replicas"], first["global_batch"], first["steps"]) == (2, 4, 6)
    assert np.isfinite(first["last_loss"])
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 6 and state["distribute"]["lr_peak"] == pytest.approx(2e-3)  # linear: 1e-3 x 2
    after_six = _weights(ck)

    resumed = _run(args + ["--steps", "10", "--resume", "--export"])
    assert resumed["steps"] == 4 and np.isfinite(resumed["last_loss"])
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 10 and [h["step"] for h in state["history"]] == [6, 10]
    after_ten = _weights(ck)
    assert len(after_ten) == len(after_six) and all(np.isfinite(w).all() for w in after_ten)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(after_six, after_ten)) > 0  # it trained
    manifest = json.loads((tmp_path / "weights" / "manifest.json").read_text())
    assert manifest["models"][manifest["default"]["4"]]["training"]["steps"] == 10


STEP_EQUIVALENCE = """
import json
import numpy as np
from sr_codec.train import distribute
strategy = distribute.make_strategy("mirrored", 2)
import keras, tensorflow as tf
from sr_codec.nn.architectures.fast import fast_sr
from sr_codec.train import TrainConfig
rng = np.random.default_rng(0)
x, y = rng.random((4, 8, 8, 3), np.float32), rng.random((4, 32, 32, 3), np.float32)
loss = distribute.per_example_loss(TrainConfig(loss="l1"), None)
keras.utils.set_random_seed(0)
with strategy.scope():
    mirrored = fast_sr(4, 8, 1)
    mirrored_opt = keras.optimizers.SGD(learning_rate=0.5)
    mirrored_opt.build(mirrored.trainable_variables)
single = fast_sr(4, 8, 1)
single.set_weights(mirrored.get_weights())
start = single.get_weights()
halves = strategy.experimental_distribute_values_from_function(
    lambda ctx: (x[2 * ctx.replica_id_in_sync_group:][:2], y[2 * ctx.replica_id_in_sync_group:][:2]))
loss_m = distribute.make_train_step(strategy, mirrored, mirrored_opt, loss, 4)(halves, tf.constant(0.5))
loss_s = distribute.make_train_step(tf.distribute.get_strategy(), single, keras.optimizers.SGD(learning_rate=0.5),
                                    loss, 4)((x, y), tf.constant(0.5))
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss_mirrored": float(loss_m),
                  "loss_single": float(loss_s),
                  "weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(mirrored.get_weights(), single.get_weights())),
                  "update": max(float(np.abs(a - b).max()) for a, b in zip(single.get_weights(), start))}))
"""


def test_one_mirrored_step_equals_one_single_device_step_on_the_global_batch():
    """compute_average_loss + the optimizer's all-reduce: two replicas of 2 images == one device with 4 (SGD, so a
    wrong gradient scale would show; Adam's first step would hide it)."""
    done = subprocess.run([sys.executable, "-c", STEP_EQUIVALENCE], cwd=REPO_ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["loss_mirrored"] == pytest.approx(result["loss_single"], rel=1e-6)
    assert result["update"] > 1e-4 and result["weight_diff"] < 1e-6


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multiworker_from_tf_config_two_local_workers_chief_writes_alone(tmp_path, tiny_data):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = []
    for index in range(2):
        args = _train_args(tmp_path, tiny_data, tmp_path / f"ck{index}", "--strategy", "multiworker", "--steps", "4")
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(args, cwd=REPO_ROOT, env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True))
    outputs = []
    for worker in workers:
        try:
            out, err = worker.communicate(timeout=300)
        finally:
            worker.kill()
        assert worker.returncode == 0, err[-3000:]
        outputs.append(json.loads(next(l for l in out.splitlines() if l.startswith("distributed-run ")).split(" ", 1)[1]))
    assert [o["replicas"] for o in outputs] == [2, 2] and outputs[0]["global_batch"] == 4
    assert outputs[0]["last_loss"] == pytest.approx(outputs[1]["last_loss"])  # the same all-reduced step
    assert (tmp_path / "ck0" / "state.json").exists() and not (tmp_path / "ck1").exists()  # chief only


def test_learning_rate_rules_and_who_is_chief():
    assert distribute.scaled_learning_rate(1e-3, 4, "linear") == pytest.approx(4e-3)
    assert distribute.scaled_learning_rate(1e-3, 4, "sqrt") == pytest.approx(2e-3)
    assert distribute.scaled_learning_rate(1e-3, 4, "none") == pytest.approx(1e-3)

    def strategy(task_type, task_id, jobs):
        spec = SimpleNamespace(as_dict=lambda: {job: ["host:1"] for job in jobs})
        return SimpleNamespace(cluster_resolver=SimpleNamespace(task_type=task_type, task_id=task_id,
                                                                cluster_spec=lambda: spec))

    assert distribute.is_chief(SimpleNamespace())  # one process
    assert distribute.is_chief(strategy("worker", 0, ["worker"]))
    assert not distribute.is_chief(strategy("worker", 1, ["worker"]))
    assert not distribute.is_chief(strategy("worker", 0, ["chief", "worker"]))
    assert distribute.is_chief(strategy("chief", 0, ["chief", "worker"]))
    with pytest.raises(sr_codec.DeviceError, match="strategy must be"):
        distribute.make_strategy("parameter-server")


def test_steps_without_a_strategy_is_refused():
    from sr_codec import train

    with pytest.raises(SystemExit, match="--steps needs --strategy"):
        train.main(["--steps", "5", "--data", "nowhere"])
