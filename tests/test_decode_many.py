"""decode_many: one upscale_many call per (scale, model), results in input order, the pixels of decode;
and decode resolves the payload's model before it decodes any pixel."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from sr_codec import ModelError, PayloadError, decode, decode_many, encode
from sr_codec.zoo import manifest as zoo
from sr_codec.format.payload import Payload, pack, unpack


@pytest.fixture(scope="module")
def mixed_payloads(photo) -> list[bytes]:
    """Scales 4, 2, 4, 10, 4, 1 interleaved; same-size and odd-size images; RGB and RGBA."""
    crop = np.ascontiguousarray(photo[40:120, 200:296])  # 80 x 96
    odd = np.ascontiguousarray(photo[300:357, 100:171])  # 57 x 71
    alpha = np.tile(np.linspace(0, 255, 96).astype(np.uint8), (80, 1))
    rgba = np.dstack([photo[200:280, 300:396], alpha])
    return [
        encode(crop, scale=4, sender="bicubic"),  # one model per scale: the codec-role one
        encode(crop, scale=2, inner="webp"),
        encode(odd, scale=4, sender="bicubic"),
        encode(crop, scale=10),
        encode(rgba, scale=4, sender="bicubic"),
        encode(odd, scale=1, inner="png"),
    ]


@pytest.fixture()
def upscale_calls(monkeypatch) -> list[tuple[int, str, int]]:
    """Records (scale, model id, number of images) of every sr_codec.upscale.upscale_many call."""
    module = sys.modules["sr_codec.receiver.upscale"]
    original = module.upscale_many
    calls: list[tuple[int, str, int]] = []

    def recording(images, scale, **kwargs):
        calls.append((scale, kwargs["model_id"], len(images)))
        return original(images, scale, **kwargs)

    monkeypatch.setattr(module, "upscale_many", recording)
    return calls


def test_same_pixels_as_decode_in_input_order(mixed_payloads):
    """With the shipped weights: the x4 payloads run the network (when x4 weights are shipped), batched."""
    serial = [decode(p) for p in mixed_payloads]
    batched = decode_many(mixed_payloads)
    assert len(batched) == len(serial)
    for one, many in zip(serial, batched, strict=True):
        assert one.shape == many.shape and many.dtype == np.uint8
        np.testing.assert_array_equal(one, many)
    assert [b.shape for b in batched] == [(80, 96, 3), (80, 96, 3), (57, 71, 3), (80, 96, 3), (80, 96, 4), (57, 71, 3)]
    assert batched[0] is not batched[2] and batched[0].flags.writeable


def test_one_upscale_call_per_scale_and_model(mixed_payloads, upscale_calls):
    decode_many(mixed_payloads)
    expected = {(scale, zoo.default_model_id(scale)) for scale in (4, 2, 10, 1)}
    assert {(s, m) for s, m, _ in upscale_calls} == expected and len(upscale_calls) == 4
    assert sorted(n for s, _, n in upscale_calls if s == 4) == [3]

    upscale_calls.clear()
    decode_many(mixed_payloads, model="bicubic")
    assert sorted(upscale_calls) == [(1, "bicubic", 1), (2, "bicubic", 1), (4, "bicubic", 3), (10, "bicubic", 1)]


def test_arguments_reach_the_upscaler(mixed_payloads, monkeypatch):
    seen = []
    module = sys.modules["sr_codec.receiver.upscale"]
    original = module.upscale_many
    monkeypatch.setattr(module, "upscale_many",
                        lambda images, scale, **kwargs: seen.append(kwargs) or original(images, scale, **kwargs))
    decode_many(mixed_payloads[:1], model="bicubic", device="cpu", tile=0, runtime="litert")
    assert seen == [dict(device="cpu", model_id="bicubic", tile=0, runtime="litert")]
    with pytest.raises(ModelError, match="runtime"):
        decode_many(mixed_payloads[:1], model="bicubic", runtime="onnx")
    with pytest.raises(ModelError, match="runtime"):
        decode(mixed_payloads[0], model="bicubic", runtime="onnx")


def test_empty_and_bad_inputs(mixed_payloads, upscale_calls):
    assert decode_many([]) == [] and decode_many(iter([])) == []
    with pytest.raises(PayloadError, match="iterable of payloads"):
        decode_many(mixed_payloads[0])
    # a bad payload anywhere fails the call before any network runs, as a loop of decode would
    with pytest.raises(PayloadError):
        decode_many([mixed_payloads[0], b"\x01 not a payload"])
    assert upscale_calls == []
    assert len(decode_many(p for p in mixed_payloads[1:3])) == 2  # any iterable, generators too


def test_foreign_model_fails_before_the_pixels_are_decoded(mixed_payloads):
    """A payload for weights we lack is a ModelError even when its pixels are damaged: no pixel is decoded first."""
    p = unpack(mixed_payloads[5])  # PNG inner codec: the header is readable without the pixel data
    assert p.bitstream[12:16] == b"IHDR"
    idat = p.bitstream.index(b"IDAT")
    damaged = p.bitstream[: idat + 4] + bytes(b ^ 0x5A for b in p.bitstream[idat + 4 : idat + 40]) + p.bitstream[idat + 40 :]
    foreign = pack(Payload(p.width, p.height, p.scale, p.codec_id, 0xFEEDF00D, damaged, p.alpha))
    with pytest.raises(PayloadError):  # the pixels really are broken
        decode(foreign, model="bicubic")
    with pytest.raises(ModelError, match="0xfeedf00d"):
        decode(foreign)
    with pytest.raises(ModelError, match="0xfeedf00d"):
        decode_many([mixed_payloads[0], foreign])
