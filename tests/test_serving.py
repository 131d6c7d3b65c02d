"""The SavedModel serving contract (docs/scale_out.md), checked in process: no server, the signature called
with requests built exactly as TF Serving's gRPC and REST APIs carry them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import sr_codec
from sr_codec import serving

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def served(tmp_path_factory, randomise_weights):
    """(keras model, loaded ``serving_default``) for a random-weights x4 network exported as training exports it."""
    from sr_codec.nn.architectures.fast import fast_sr
    from sr_codec.nn.portable import save_savedmodel

    model = randomise_weights(fast_sr(4, 16, 3), seed=4)
    out = save_savedmodel(model, tmp_path_factory.mktemp("savedmodel") / "fast-x4" / "1")
    loaded = tf.saved_model.load(str(out))
    return model, loaded, loaded.signatures[serving.SIGNATURE]


@pytest.fixture(scope="module")
def crops(photo):
    return [np.ascontiguousarray(photo[y : y + 40, x : x + 56]) for y, x in ((0, 0), (200, 180), (300, 400))]


def _keras_reference(model, images):
    x = np.stack(images).astype(np.float32) / 255.0
    return np.clip(np.asarray(model(x, training=False)), 0.0, 1.0)


def test_signature_is_the_documented_one(served):
    from sr_codec.nn import portable

    _, _, signature = served
    (spec,) = signature.structured_input_signature[1].values()
    assert list(signature.structured_input_signature[1]) == [serving.SERVING_INPUT] == [portable.SERVING_INPUT]
    assert spec.dtype == tf.float32 and spec.shape.as_list() == [None, None, None, 3]
    assert list(signature.structured_outputs) == [serving.SERVING_OUTPUT] == [portable.SERVING_OUTPUT]


def test_grpc_style_tensor_request_matches_the_keras_model(served, crops):
    model, _, signature = served
    low_res = serving.low_res_tensor(crops)  # what PredictRequest.inputs["low_res"] carries
    assert low_res.dtype == np.float32 and low_res.shape == (3, 40, 56, 3) and 0 <= low_res.min() <= low_res.max() <= 1
    high_res = signature(**{serving.SERVING_INPUT: tf.constant(low_res)})[serving.SERVING_OUTPUT].numpy()
    assert high_res.shape == (3, 160, 224, 3) and high_res.dtype == np.float32
    assert 0.0 <= high_res.min() and high_res.max() <= 1.0
    np.testing.assert_allclose(high_res, _keras_reference(model, crops), atol=1 / 255)


@pytest.mark.parametrize("layout", serving.LAYOUTS)
def test_rest_json_round_trip_matches_the_keras_model(served, crops, layout):
    model, _, signature = served
    body = json.loads(json.dumps(serving.rest_request(crops[:2], layout)))  # what goes over the wire
    assert body["signature_name"] == "serving_default"
    if layout == "instances":
        assert len(body["instances"]) == 2 and np.shape(body["instances"][0]["low_res"]) == (40, 56, 3)
    else:
        assert np.shape(body["inputs"]["low_res"]) == (2, 40, 56, 3)
    outputs = signature(**{k: tf.constant(v) for k, v in serving.request_tensors(body).items()})
    answer = json.loads(json.dumps(serving.rest_response({k: v.numpy() for k, v in outputs.items()}, layout)))
    images = serving.images_from_response(answer)
    reference = serving.images_from_tensor(_keras_reference(model, crops[:2]))
    assert [i.shape for i in images] == [(160, 224, 3)] * 2
    for image, expected in zip(images, reference):
        assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1


def test_a_served_network_decodes_a_payload_like_sr_codec_decode(tmp_path, small_photo):
    """The shipped x4 model exported and served: preview -> predict -> crop equals sr_codec.decode's Keras path within
    1/255 (the served SavedModel is the Keras graph; the default CPU decode runs the shipped int8 file, which the pixel
    contract of docs/format.md holds to quality, not to these values)."""
    from sr_codec.nn.loading import load_model
    from sr_codec.nn.portable import save_savedmodel

    payload = sr_codec.encode(small_photo[:, :150], scale=4, quality=50)
    info = sr_codec.inspect(payload)
    model = load_model(info.model_id, "cpu")
    signature = tf.saved_model.load(str(save_savedmodel(model, tmp_path / "m" / "1"))).signatures["serving_default"]
    low_res, info = serving.payload_request(payload)
    high_res = signature(low_res=tf.constant(low_res))["high_res"].numpy()
    image = serving.finish_payload(high_res, info)
    expected = sr_codec.decode(payload, tile=0, runtime="keras", device="cpu")
    assert image.shape == expected.shape == (120, 150, 3)
    assert np.abs(image.astype(int) - expected.astype(int)).max() <= 1


def test_requests_refuse_mixed_sizes_and_non_uint8(crops):
    with pytest.raises(sr_codec.InputImageError, match="one size"):
        serving.rest_request([crops[0], crops[0][:20]])
    with pytest.raises(sr_codec.InputImageError, match="uint8"):
        serving.low_res_tensor([crops[0].astype(np.float32)])
    with pytest.raises(sr_codec.PayloadError, match="instances"):
        serving.request_tensors({"examples": []})
