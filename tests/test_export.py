"""Export: the rewritten bicubic, dynamic-shape graphs, SavedModel serving, TFLite vs Keras (PSNR >= 45 dB in
float32, >= 35 dB for the int8 precisions, whose quality on photos is measured by benchmarks.litert_models)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from sr_codec import export as export_cli  # noqa: E402
from sr_codec.nn import layers, portable  # noqa: E402  (imports TensorFlow)
from sr_codec.imaging.metrics import psnr  # noqa: E402
from sr_codec.zoo import manifest as zoo  # noqa: E402
from sr_codec.nn.architectures.autoencoder import seed_sr  # noqa: E402
from sr_codec.nn.architectures.fast import fast_sr  # noqa: E402


@pytest.fixture(scope="module")
def random_fast(randomise_weights):
    """``random_fast(scale=4, width=32, blocks=3, seed=0)``: a fast_sr network with random weights."""

    def make(scale: int = 4, width: int = 32, blocks: int = 3, seed: int = 0):
        return randomise_weights(fast_sr(scale, width, blocks), seed)

    return make


def keras_out(model, lr: np.ndarray) -> np.ndarray:
    return np.clip(np.asarray(model(lr, training=False)), 0.0, 1.0)


def run_tflite(content: bytes, lr: np.ndarray) -> np.ndarray:
    interpreter = portable.tflite_interpreter(content, num_threads=2)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, lr.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, lr)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def lr_image(photo) -> np.ndarray:
    return (photo[100:163, 200:277].astype(np.float32) / 255.0)[None]  # 63 x 77: odd sides


@pytest.mark.parametrize("scale", [2, 4, 10])
def test_conv_bicubic_equals_tf_resize_bicubic(scale, lr_image):
    expected = tf.image.resize(lr_image, (63 * scale, 77 * scale), method="bicubic").numpy()
    got = layers.ConvBicubic(scale)(lr_image).numpy()
    assert np.abs(got - expected).max() < 1e-5


def test_portable_graph_traces_once_for_any_size(lr_image, random_fast):
    model = random_fast()
    net, serve = portable.inference_function(model)
    for h, w in ((63, 77), (20, 31)):
        out = serve(tf.constant(lr_image[:, :h, :w]))[portable.SERVING_OUTPUT].numpy()
        np.testing.assert_allclose(out, keras_out(model, lr_image[:, :h, :w]), atol=1e-6)
    assert serve.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("config", [(4,), (10, 48, 4)], ids=["fast-x4", "fast-x10"])
def test_tflite_matches_keras(config, lr_image, random_fast):
    model = random_fast(*config)
    content = portable.tflite_bytes(model)
    for h, w in ((63, 77), (24, 18)):  # dynamic height and width: one model, two sizes
        lr = np.ascontiguousarray(lr_image[:, :h, :w])
        got = run_tflite(content, lr)
        reference = keras_out(model, lr)
        assert got.shape == reference.shape
        assert psnr(reference * 255.0, got * 255.0) >= 45.0


def test_tflite_seed_autoencoder_pads_odd_sizes(lr_image):
    """x2 seed: nearest upsampling rewritten for TFLite, odd sides edge-padded to even inside the graph."""
    model = seed_sr(2)
    lr = np.ascontiguousarray(lr_image[:, :15, :19])
    got = run_tflite(portable.tflite_bytes(model), lr)
    padded = np.pad(lr, ((0, 0), (0, 1), (0, 1), (0, 0)), mode="edge")
    reference = keras_out(model, padded)[:, :30, :38]
    assert got.shape == reference.shape
    assert psnr(reference * 255.0, got * 255.0) >= 45.0


def test_tflite_fixed_size(lr_image, random_fast):
    model = random_fast(2, 16, 2)
    content = portable.tflite_bytes(model, size=(24, 32))
    interpreter = portable.tflite_interpreter(content)
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, 24, 32, 3]
    lr = np.ascontiguousarray(lr_image[:, :24, :32])
    assert psnr(keras_out(model, lr) * 255.0, run_tflite(content, lr) * 255.0) >= 45.0


def test_savedmodel_serving_signature(tmp_path, lr_image, random_fast):
    model = random_fast(4, 16, 2)
    path = portable.save_savedmodel(model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(path))
    serve = loaded.signatures["serving_default"]
    [spec] = serve.structured_input_signature[1].values()
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, None, None, 3]
    out = serve(**{portable.SERVING_INPUT: tf.constant(lr_image)})[portable.SERVING_OUTPUT].numpy()
    np.testing.assert_allclose(out, keras_out(model, lr_image), atol=1e-6)


def test_cli_exports_the_default_model(tmp_path, capsys, random_fast, export_weights):
    weights = tmp_path / "weights"  # x4 only: exporting x2 must fail
    model_id = export_weights(random_fast(4, 16, 2), weights, scale=4, width=16, blocks=2)
    assert export_cli.main(["--format", "tflite", "--scale", "4", "--out", str(tmp_path / "out"),
                        "--weights-dir", str(weights)]) == 0
    target = tmp_path / "out" / f"{model_id}.tflite"
    assert target.stat().st_size > 10_000 and str(target) in capsys.readouterr().out
    assert export_cli.main(["--format", "tflite", "--scale", "2", "--out", str(tmp_path / "out"),
                        "--weights-dir", str(weights)]) == 1
    assert "no trained x2 model" in capsys.readouterr().err


def test_litert_runtime_matches_keras(photo, random_weights_dir):
    from sr_codec.receiver.upscale import upscale

    image = photo[:70, :90]
    keras = upscale(image, 4, weights_dir=random_weights_dir, runtime="keras")
    litert = upscale(image, 4, weights_dir=random_weights_dir, runtime="litert")
    tiled = upscale(image, 4, weights_dir=random_weights_dir, runtime="litert", tile=24)
    assert np.abs(keras.astype(int) - litert).max() <= 1
    assert np.abs(litert.astype(int) - tiled).max() <= 1
    assert zoo.default_model_id(4, random_weights_dir) != zoo.BICUBIC


def _representative(lr_image):
    return lambda: [np.ascontiguousarray(lr_image[:, y:y + 24, x:x + 24]) for y in (0, 20, 39) for x in (0, 30, 53)]


def _ops_and_types(content: bytes) -> tuple[list[str], dict[str, str]]:
    interpreter = portable.tflite_interpreter(content)
    tensors = interpreter.get_tensor_details()
    ops = [op["op_name"] for op in interpreter._get_ops_details()]
    return ops, {t["name"]: np.dtype(t["dtype"]).name for t in tensors}


def test_precisions_need_calibration_only_where_calibrated(random_fast, lr_image):
    model = random_fast(2, 16, 2)
    with pytest.raises(ValueError, match="representative"):
        portable.tflite_bytes(model, precision="int8-trunk")
    with pytest.raises(ValueError, match="representative"):
        portable.tflite_bytes(model, precision="int8-dynamic", representative=_representative(lr_image))
    with pytest.raises(ValueError, match="precision"):
        portable.tflite_bytes(model, precision="int4")


@pytest.mark.parametrize("precision", ["int8-dynamic", "int8-full", "int8-trunk"])
def test_int8_conversions_keep_the_float_contract_and_the_quality(precision, lr_image, random_fast):
    """Every int8 file takes and returns float32 [1, H, W, 3] with H and W dynamic, and stays close to Keras."""
    model = random_fast(4, 16, 2)
    representative = _representative(lr_image) if precision in portable.CALIBRATED else None
    content = portable.tflite_bytes(model, precision=precision, representative=representative)
    interpreter = portable.tflite_interpreter(content)
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, -1, -1, 3]
    assert interpreter.get_output_details()[0]["dtype"] == np.float32
    for h, w in ((63, 77), (24, 18)):
        lr = np.ascontiguousarray(lr_image[:, :h, :w])
        got = run_tflite(content, lr)
        assert got.shape == (1, 4 * h, 4 * w, 3) and got.min() >= 0.0 and got.max() <= 1.0
        assert psnr(keras_out(model, lr) * 255.0, got * 255.0) >= 35.0


def test_int8_trunk_quantises_the_trunk_only(lr_image, random_fast):
    """int8-trunk: the low-res convolutions and additions run int8; the bicubic base (with its DIV), the final
    addition and the clip stay float32, so the output itself is not quantised."""
    model = random_fast(2, 16, 2)
    net = portable.portable_model(model, "tflite")
    assert portable.low_res_layers(net) == ["head", "block0_conv1", "block0_conv2", "block0_add", "block1_conv1",
                                            "block1_conv2", "block1_add", "trunk_skip", "to_subpixels"]
    content = portable.tflite_bytes(model, precision="int8-trunk", representative=_representative(lr_image))
    ops, types = _ops_and_types(content)
    assert ops.count("QUANTIZE") == 1 and ops.count("DEQUANTIZE") == 1
    trunk_weights = [n for n, t in types.items() if "/block0_conv1" in n and t == "int8"]
    bicubic = [t for n, t in types.items() if "/bicubic" in n and n.endswith("truediv")]
    assert trunk_weights and bicubic == ["float32"]
    assert types["Identity"] == "float32"


def test_ship_tflite_int8_trunk_keeps_the_float32_file(tmp_path, random_weights_dir, tiny_data, small_photo):
    """Shipping int8-trunk: ``tflite`` names the new file (calibrated on the given photos), ``tflite_fp32`` the
    float32 file, written once and kept byte for byte; decode runs the int8 file and matches Keras in quality."""
    import json
    import shutil

    from sr_codec.export import ship_tflite
    from sr_codec.receiver.runtime import litert
    from sr_codec.receiver.upscale import upscale

    weights = tmp_path / "weights"
    shutil.copytree(random_weights_dir, weights)
    model_id = zoo.default_model_id(2, weights)
    assert ship_tflite.main(["--model", model_id, "--weights-dir", str(weights)]) == 0
    fp32_bytes = (weights / f"{model_id}.tflite").read_bytes()
    fp32_entry = zoo.model_info(model_id, weights)["tflite"]
    assert zoo.model_info(model_id, weights)["tflite_fp32"]["sha256"] == fp32_entry["sha256"]
    assert ship_tflite.main(["--model", model_id, "--precision", "int8-trunk", "--calibration", str(tiny_data),
                             "--patches", "6", "--weights-dir", str(weights)]) == 0
    info = zoo.model_info(model_id, weights)
    assert info["tflite"]["file"] == f"{model_id}.int8-trunk.tflite" and info["tflite"]["precision"] == "int8-trunk"
    assert info["tflite"]["calibration"]["patches"] == 6 and info["tflite"]["geometry"] == fp32_entry["geometry"]
    assert info["tflite_fp32"] == {"file": f"{model_id}.tflite", "sha256": fp32_entry["sha256"], "precision": "fp32"}
    assert (weights / f"{model_id}.tflite").read_bytes() == fp32_bytes  # kept, not rewritten
    assert litert.load_tflite(model_id, weights) == (weights / info["tflite"]["file"]).read_bytes()
    low = small_photo[:40, :48]
    shipped = upscale(low, 2, model_id=model_id, device="cpu", weights_dir=weights)
    keras = upscale(low, 2, model_id=model_id, device="cpu", runtime="keras", weights_dir=weights)
    assert psnr(keras.astype(np.float64), shipped.astype(np.float64)) >= 35.0
    other = json.loads((weights / "manifest.json").read_text())["models"]
    assert all("tflite_fp32" not in entry for m, entry in other.items() if m != model_id)  # one model touched
