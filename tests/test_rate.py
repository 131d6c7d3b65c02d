"""Rate control: byte budgets, quality targets, the fast and best modes, and the hull guarantee.

Most tests inject a :class:`~sr_codec.rate.Receiver` (bicubic, or a made-up "network"
that needs no TensorFlow) so they are fast and independent of the weights shipped; a few go
through the public ``encode``/``decode`` with whatever is shipped.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import sr_codec
from sr_codec import InputImageError, LimitExceededError, decode_preview, encode, inspect, rate
from sr_codec.imaging.resample import upsample_bicubic
from sr_codec.imaging.metrics import psnr
from sr_codec.zoo import manifest as zoo

FAKE_TAG = 0x5EC0DEC0


def _images() -> dict[str, np.ndarray]:
    from skimage import data

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:88, 0:120]
    synthetic = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 5 // 3) % 256], axis=2).astype(np.float64)
    synthetic[30:60, 40:90] = [230, 40, 40]  # hard edges
    synthetic += rng.normal(0, 6, synthetic.shape)  # sensor-like noise
    return {
        "astronaut": np.ascontiguousarray(data.astronaut()[::4, ::4]),  # 128 x 128
        "coffee": np.ascontiguousarray(data.coffee()[100:196, 250:394]),  # 96 x 144
        "rocket": np.ascontiguousarray(data.rocket()[120:216, 240:368]),  # 96 x 128, mostly sky
        "synthetic": np.clip(synthetic, 0, 255).astype(np.uint8),  # 88 x 120
    }


IMAGES = _images()


def bicubic_receiver() -> rate.Receiver:
    """No network anywhere: every route is exact."""
    return rate.Receiver(model_for=lambda scale: zoo.BICUBIC, upscale=_unused, tag_for=lambda m: 0)


def _unused(low, scale, model_id):  # pragma: no cover - a bicubic receiver never runs a network
    raise AssertionError("no network should run")


class FakeNetwork:
    """A made-up x2/x4/x10 "network": bicubic pulled towards (or away from) the original image.

    ``strength`` > 0 improves on bicubic (an oracle, so that some scale clearly wins); < 0 makes
    it worse than bicubic (a network the predictor is wrong about). Counts its runs.
    """

    def __init__(self, original: np.ndarray, strength: float) -> None:
        self.original = original.astype(np.float64)
        self.strength = strength
        self.runs = 0

    def __call__(self, low: np.ndarray, scale: int, model_id: str) -> np.ndarray:
        assert model_id == "fake"
        self.runs += 1
        up = upsample_bicubic(low, scale).astype(np.float64)
        h, w = self.original.shape[:2]
        target = np.pad(self.original, ((0, up.shape[0] - h), (0, up.shape[1] - w), (0, 0)), mode="edge")
        return np.clip(np.round(up + self.strength * (target - up)), 0, 255).astype(np.uint8)


def fake_receiver(original: np.ndarray, strength: float, claimed_gain_db: float | None = 1.0) -> rate.Receiver:
    net = FakeNetwork(original, strength)
    curves = {}
    if claimed_gain_db is not None:  # what the (possibly wrong) predictor believes
        curves["fake"] = rate.GainCurve(4, (-4.0, 4.0), (claimed_gain_db, claimed_gain_db), 0.1, 2)
    return rate.Receiver(
        model_for=lambda scale: "fake" if scale in (2, 4, 10) else zoo.BICUBIC,
        upscale=net,
        tag_for=lambda m: 0 if m == zoo.BICUBIC else FAKE_TAG,
        gains=rate.GainTable(curves),
    )


def decoded_by(payload: bytes, receiver: rate.Receiver) -> np.ndarray:
    """What a receiver running ``receiver``'s models shows for ``payload``."""
    info = inspect(payload)
    low = decode_preview(payload)
    if info.model_tag == 0:
        up = upsample_bicubic(low, info.scale)
    else:
        up = receiver.upscale(low, info.scale, receiver.model_for(info.scale))
    return up[: info.height, : info.width]


def avif_file_psnr(image: np.ndarray, max_bytes: int) -> float | None:
    """The hull: a plain Pillow AVIF file (default speed) at the highest quality whose file fits."""
    files: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in files:
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, "AVIF", quality=q, subsampling="4:2:0")
            files[q] = buf.getvalue()
        return len(files[q])

    q = rate.highest_fitting(size, max_bytes)
    if q is None:
        return None
    with Image.open(io.BytesIO(files[q])) as im:
        return psnr(image, np.asarray(im.convert("RGB")))


def budget(image: np.ndarray, bpp: float) -> int:
    return int(bpp * image.shape[0] * image.shape[1] / 8)


# ------------------------------------------------------------------------------- byte budgets


@pytest.mark.parametrize("name", ["astronaut", "synthetic"])
def test_byte_budget_is_honoured_for_many_budgets(name):
    image = IMAGES[name]
    receiver = bicubic_receiver()
    smallest = None
    for max_bytes in (60, 150, 300, 600, 1200, 2500, 5000):
        try:
            choice = rate.choose(image, max_bytes=max_bytes, receiver=receiver)
        except LimitExceededError:
            assert smallest is None, f"{max_bytes} B failed after a smaller budget fitted"
            continue
        smallest = smallest or max_bytes
        assert len(choice.payload) <= max_bytes
        assert choice.payload_bytes == len(choice.payload)
        assert inspect(choice.payload).scale == choice.scale
        # nearly all of the budget is used: the next quality step of the chosen route does not fit
        assert choice.quality == 100 or len(choice.payload) > max_bytes * 0.6
    assert smallest is not None and smallest <= 450


def test_public_encode_honours_the_budget_and_the_payload_decodes(photo):
    image = np.ascontiguousarray(photo[::4, ::4])
    for max_bytes in (400, 1200, 3000):
        payload = encode(image, scale="auto", max_bytes=max_bytes)
        assert len(payload) <= max_bytes
        assert sr_codec.decode(payload, model="bicubic").shape == image.shape


def test_unreachable_budget_is_a_limit_error_naming_the_smallest_payload():
    image = IMAGES["coffee"]
    with pytest.raises(LimitExceededError, match=r"no setting fits in 40 bytes: the smallest payload .* is \d+ bytes"):
        encode(image, scale="auto", max_bytes=40)
    with pytest.raises(LimitExceededError):
        rate.choose(image, max_bytes=40, receiver=bicubic_receiver())


def test_fixed_scale_with_a_budget_picks_the_highest_quality_that_fits():
    image = IMAGES["astronaut"]
    choice = rate.choose(image, scale=4, max_bytes=900)  # one route: nothing to decode, whatever is shipped
    assert choice.scale == 4 and len(choice.payload) <= 900 and choice.network_decodes == 0
    assert len(encode(image, scale=4, quality=choice.quality + 1)) > 900
    assert encode(image, scale=4, quality=choice.quality) == choice.payload
    assert encode(image, scale=4, max_bytes=900) == choice.payload


# ---------------------------------------------------------------------------- the hull guarantee


HULL_CASES = [(name, bpp) for name in ("astronaut", "coffee", "synthetic") for bpp in (0.2, 0.8, 2.5)]


@pytest.mark.parametrize("name,bpp", HULL_CASES)
def test_hull_guarantee_never_worse_than_full_resolution_avif_in_the_same_bytes(name, bpp):
    """For any receiver (none, a good network, a network the predictor overrates), in both modes."""
    image = IMAGES[name]
    max_bytes = budget(image, bpp)
    reference = avif_file_psnr(image, max_bytes)
    receivers = {
        "bicubic": bicubic_receiver(),
        "good network": fake_receiver(image, strength=0.4, claimed_gain_db=1.0),
        "overrated network": fake_receiver(image, strength=-0.3, claimed_gain_db=2.0),
    }
    for label, receiver in receivers.items():
        for mode in ("fast", "best") if label == "good network" else ("fast",):  # best decodes every finalist
            choice = rate.choose(image, max_bytes=max_bytes, mode=mode, receiver=receiver)
            shown = psnr(image, decoded_by(choice.payload, receiver))
            assert len(choice.payload) <= max_bytes
            assert shown == pytest.approx(choice.psnr_db, abs=1e-9), "the choice was judged on what decode shows"
            if reference is not None:
                assert shown >= reference, f"{label} {mode}: {shown:.3f} dB < AVIF file {reference:.3f} dB"


def test_hull_guarantee_through_the_public_api_with_the_shipped_models(photo):
    image = np.ascontiguousarray(photo[100:260, 160:400])
    for bpp in (0.3, 1.2):
        max_bytes = budget(image, bpp)
        payload = encode(image, scale="auto", max_bytes=max_bytes)
        reference = avif_file_psnr(image, max_bytes)
        assert len(payload) <= max_bytes
        if reference is not None:
            assert psnr(image, sr_codec.decode(payload)) >= reference


def test_a_good_network_wins_at_low_rates_and_full_resolution_at_high_rates():
    image = IMAGES["astronaut"]
    receiver = fake_receiver(image, strength=0.5)
    low = rate.choose(image, max_bytes=budget(image, 0.2), mode="best", receiver=receiver)
    high = rate.choose(image, max_bytes=budget(image, 6.0), mode="best", receiver=receiver)
    assert low.scale > 1 and low.model_id == "fake"
    assert high.scale == 1


# ------------------------------------------------------------------------------- fast and best


def test_fast_runs_the_network_at_most_twice_and_best_on_every_network_finalist():
    image = IMAGES["coffee"]
    max_bytes = budget(image, 0.6)
    fast_receiver = fake_receiver(image, strength=0.3)
    fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=fast_receiver)
    assert fast.network_decodes == fast_receiver.upscale.runs <= rate.FAST_MAX_DECODES
    best_receiver = fake_receiver(image, strength=0.3)
    best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=best_receiver)
    network_finalists = [t for t in best.finalists if t.model_id == "fake"]
    assert best.network_decodes == len(network_finalists) >= 2
    assert all(t.psnr_db is not None for t in best.finalists)
    assert best.psnr_db == max(t.psnr_db for t in best.finalists)
    assert fast.psnr_db <= best.psnr_db


def test_fast_and_best_agree_when_the_predictor_is_right():
    image = IMAGES["astronaut"]
    max_bytes = budget(image, 0.3)
    probe = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=fake_receiver(image, strength=0.5))
    gains = [t.psnr_db - t.estimate_db + 1.0 for t in probe.finalists if t.model_id == "fake"]  # real gains
    honest = fake_receiver(image, strength=0.5, claimed_gain_db=float(np.mean(gains)))
    fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=honest)
    best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=honest)
    assert (fast.scale, fast.quality, fast.payload) == (best.scale, best.quality, best.payload)


def test_without_any_network_fast_and_best_are_the_same_and_decode_nothing():
    image = IMAGES["synthetic"]
    for max_bytes in (500, 1500):
        fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=bicubic_receiver())
        best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=bicubic_receiver())
        assert fast.payload == best.payload and fast.network_decodes == best.network_decodes == 0


# ---------------------------------------------------------------------------- quality target


def _route_payload(image: np.ndarray, scale: int, quality: int) -> bytes:
    """The payload rate control builds for a bicubic route (AVIF at Pillow's speed at scale 1, tag 0)."""
    from sr_codec.sender.builder import PayloadBuilder
    from sr_codec.codecs import by_name as get_codec
    from sr_codec.imaging.normalise import load_image

    codec = get_codec("avif")
    builder = PayloadBuilder(load_image(image), codec, sr_codec.DEFAULT_LIMITS)
    config = codec.as_plain_file() if scale == 1 else codec
    return builder.pack(scale, builder.bitstream(scale, quality, config), 0)


@pytest.mark.parametrize("mode", ["best", "fast"])
def test_target_psnr_gives_the_smallest_payload_that_reaches_it(mode):
    """Each finalist is the lowest quality of its scale that reaches the target; the smallest wins;
    a scale left out cannot reach the target in fewer bytes than the winner."""
    image = IMAGES["coffee"]
    receiver = bicubic_receiver()

    def shown(scale, quality):
        return psnr(image, decoded_by(_route_payload(image, scale, quality), receiver))

    for target in (25.0, 30.0):
        choice = rate.choose(image, target_psnr=target, mode=mode, receiver=receiver)
        assert choice.reached_target and psnr(image, decoded_by(choice.payload, receiver)) >= target
        assert len(choice.payload) == min(t.payload_bytes for t in choice.finalists)
        for t in choice.finalists:
            assert t.psnr_db >= target and shown(t.scale, t.quality) == pytest.approx(t.psnr_db)
            assert t.quality == 0 or shown(t.scale, t.quality - 1) < target
        for scale in set(rate.AUTO_SCALES) - {t.scale for t in choice.finalists}:
            q = rate.highest_fitting(lambda q: len(_route_payload(image, scale, q)), len(choice.payload) - 1)
            assert q is None or shown(scale, q) < target


def test_target_psnr_with_a_network_reaches_it_and_best_is_no_bigger_than_fast():
    image = IMAGES["astronaut"]
    for target in (24.0, 27.0):
        best = rate.choose(image, target_psnr=target, mode="best", receiver=fake_receiver(image, 0.4, 1.5))
        fast = rate.choose(image, target_psnr=target, mode="fast", receiver=fake_receiver(image, 0.4, 1.5))
        for choice in (best, fast):
            assert choice.reached_target and choice.psnr_db >= target
        assert len(best.payload) <= len(fast.payload)
        assert fast.network_decodes <= rate.FAST_MAX_DECODES


def test_unreachable_target_gives_the_best_decoded_quality_within_the_budget():
    image = IMAGES["synthetic"]
    receiver = bicubic_receiver()
    within = rate.choose(image, target_psnr=99.0, max_bytes=1500, receiver=receiver)
    assert within.reached_target is False and len(within.payload) <= 1500
    assert within.psnr_db == rate.choose(image, max_bytes=1500, receiver=receiver).psnr_db
    unbounded = rate.choose(image, target_psnr=99.0, receiver=receiver)
    assert unbounded.reached_target is False and unbounded.psnr_db > within.psnr_db


def test_target_within_a_budget_never_exceeds_it():
    image = IMAGES["astronaut"]
    choice = rate.choose(image, target_psnr=40.0, max_bytes=2000, receiver=bicubic_receiver())
    assert len(choice.payload) <= 2000


# -------------------------------------------------------------------------- defaults and inputs


def test_auto_without_a_budget_uses_the_default_budget(monkeypatch):
    image = IMAGES["astronaut"]
    payload = encode(image, scale="auto")
    assert len(payload) <= rate.DEFAULT_MAX_BYTES
    from sr_codec.sender.rate import choose as choose_module

    monkeypatch.setattr(choose_module, "DEFAULT_MAX_BYTES", 20)  # nothing fits: soft, the smallest payload there is
    choice = rate.choose(image)
    smallest = min(len(encode(image, scale=s, quality=0)) for s in rate.AUTO_SCALES)
    assert len(choice.payload) == smallest and choice.max_bytes is None


def test_a_budget_without_a_scale_means_auto_and_plain_encode_keeps_the_default_scale(monkeypatch):
    from sr_codec.sender import encoder as codec

    image = IMAGES["coffee"]
    assert encode(image, max_bytes=1500) == encode(image, scale="auto", max_bytes=1500)
    assert inspect(encode(image)).scale == codec.DEFAULT_SCALE == 4
    monkeypatch.setattr(codec, "DEFAULT_SCALE", "auto")  # the switch the lead may make
    assert encode(image) == encode(image, scale="auto")


def test_rgba_input_keeps_its_alpha_within_the_budget():
    rgba = np.dstack([IMAGES["coffee"], np.tile(np.linspace(0, 255, 144, dtype=np.uint8), (96, 1))])
    payload = encode(rgba, scale="auto", max_bytes=2500)
    assert len(payload) <= 2500
    assert sr_codec.decode(payload, model="bicubic").shape == (96, 144, 4)


def test_lossless_inner_codec_has_one_setting_per_scale():
    image = IMAGES["rocket"]
    choice = rate.choose(image, inner="png", max_bytes=20000, receiver=bicubic_receiver())
    assert len(choice.payload) <= 20000 and inspect(choice.payload).inner == "png"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": "auto", "mode": "quick"},
        {"scale": 4, "mode": "quick"},
        {"scale": "biggest"},
        {"scale": "auto", "quality": 50},
        {"scale": 4, "quality": 50, "max_bytes": 1000},
        {"max_bytes": 0},
        {"max_bytes": True},
        {"max_bytes": 1000.5},
        {"target_psnr": float("nan")},
        {"target_psnr": -3},
        {"target_psnr": "30"},
    ],
)
def test_bad_arguments_are_input_errors(kwargs):
    with pytest.raises(InputImageError):
        encode(IMAGES["rocket"], **kwargs)


def test_benchmark_writes_its_tables_and_finds_no_hull_violation(tmp_path, capsys):
    import json

    from benchmarks import rate_control

    Image.fromarray(IMAGES["astronaut"]).save(tmp_path / "astronaut.png")
    out = tmp_path / "out"
    assert rate_control.main(["--data", str(tmp_path), "--bpp", "0.3", "1.5", "--out", str(out)]) == 0
    result = json.loads((out / "rate_control.json").read_text())
    assert [r["bpp"] for r in result["records"]] == [0.3, 1.5]
    for record in result["records"]:
        for mode in ("fast", "best"):
            assert record["sr_codec"][mode]["bytes"] <= record["max_bytes"]
        if record["avif"]["psnr"] is not None:
            assert record["sr_codec"]["fast"]["psnr"] >= record["avif"]["psnr"]
    for row in result["summary"]:
        assert row["classical"]["avif"]["sr_codec_minus_codec"]["fast"]["worse"] == 0
    assert "| 1.5 | 1 |" in (out / "rate_control.md").read_text()


# ------------------------------------------------------------------------------- the machinery


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.integers(0, 3), min_size=1, max_size=101),
    target=st.integers(-1, 200),
    guess=st.none() | st.integers(0, 100),
)
def test_first_at_least_matches_a_linear_scan(steps, target, guess):
    values = np.cumsum(steps).tolist()  # any nondecreasing function, plateaus included
    hi = len(values) - 1
    calls = []

    def f(x):
        calls.append(x)
        return values[x]

    expected = next((x for x, v in enumerate(values) if v >= target), None)
    assert rate.first_at_least(f, target, 0, hi, guess=guess, slope=1.0) == expected
    assert len(calls) <= 2 * math.ceil(math.log2(hi + 2)) + 4


@settings(max_examples=100, deadline=None)
@given(growth=st.floats(0.01, 0.1), start=st.integers(50, 5000), budget_=st.integers(1, 10**6))
def test_highest_fitting_on_exponential_sizes(growth, start, budget_):
    def size(q):
        return int(start * math.exp(growth * q))

    expected = max((q for q in range(101) if size(q) <= budget_), default=None)
    assert rate.highest_fitting(size, budget_) == expected


def test_gain_table_round_trips_through_json_and_interpolates(tmp_path):
    curve = rate.GainCurve(4, (-2.0, 0.0, 2.0), (0.1, 0.5, 0.7), 0.25, 30)
    table = rate.GainTable({"m": curve}, command="python -m sr_codec.rate ...")
    (tmp_path / rate.PROXY_FILE).write_text(__import__("json").dumps(table.to_json()))
    loaded = rate.GainTable.load(tmp_path)
    assert loaded == table
    assert loaded.curve("m").at(1.0) == pytest.approx(0.5)
    assert loaded.curve("m").at(2.0) == pytest.approx(0.6)
    assert loaded.curve("m").at(1000.0) == pytest.approx(0.7)
    assert rate.GainTable.load(tmp_path / "missing").curves == {}


def test_calibrate_measures_the_network_gain_over_bicubic():
    images = [IMAGES["astronaut"], IMAGES["coffee"]]
    receiver = rate.Receiver(
        model_for=lambda s: "fake" if s == 4 else zoo.BICUBIC,
        upscale=lambda low, s, m: upsample_bicubic(low, s),  # a "network" that is exactly bicubic
        tag_for=lambda m: FAKE_TAG,
    )
    table = rate.calibrate(images, receiver, scales=(2, 4), qualities=(10, 50, 90), bins=3)
    assert set(table.curves) == {"fake"}
    curve = table.curves["fake"]
    assert curve.scale == 4 and curve.samples == 6 and len(curve.log2_bpp) == 3
    assert curve.gain_db == pytest.approx((0.0, 0.0, 0.0)) and curve.residual_db == pytest.approx(0.0)
