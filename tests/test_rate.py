"""Rate control: byte budgets, quality targets, the fast and best modes, and the hull guarantee.

Most tests inject a :class:`~sr_codec.rate.Receiver` (bicubic, or a made-up "network"
that needs no TensorFlow) so they are fast and independent of the weights shipped; a few go
through the public ``encode``/``decode`` with whatever is shipped.
"""

from __future__ import annotations

import dataclasses
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import sr_codec
from sr_codec import codecs
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
    # best: the exhaustive search, coded as encode codes it
    choice = rate.choose(image, scale=4, max_bytes=900, mode="best", sender="bicubic")
    assert choice.scale == 4 and len(choice.payload) <= 900 and choice.network_decodes == 0
    assert len(encode(image, scale=4, quality=choice.quality + 1, sender="bicubic")) > 900
    assert encode(image, scale=4, quality=choice.quality, sender="bicubic") == choice.payload
    # fast: coded once more at the final speed, at a quality the secant search stops within a step or two of the top
    fast = rate.choose(image, scale=4, max_bytes=900, sender="bicubic")
    assert fast.scale == 4 and len(fast.payload) <= 900
    assert encode(image, scale=4, max_bytes=900, sender="bicubic") == fast.payload
    final = _route_payload(image, 4, fast.quality, final=True)
    assert np.array_equal(decode_preview(final), decode_preview(fast.payload))  # the same low-res bitstream
    assert len(_route_payload(image, 4, min(fast.quality + 3, 100), final=True)) > 900 or fast.quality >= 98


# ---------------------------------------------------------------------------- the hull guarantee


HULL_CASES = [(name, bpp) for name in ("astronaut", "coffee", "synthetic") for bpp in (0.2, 0.8, 2.5)]


@pytest.mark.parametrize("name,bpp", HULL_CASES)
def test_hull_guarantee_never_worse_than_full_resolution_avif_in_the_same_bytes(name, bpp):
    """For any receiver in best mode (none, a good network, a network the gain table overrates); in fast
    mode, which runs no network, for receivers whose gain table is honest (the calibration's job)."""
    image = IMAGES[name]
    max_bytes = budget(image, bpp)
    reference = avif_file_psnr(image, max_bytes)
    receivers = {
        "bicubic": bicubic_receiver(),
        "good network": fake_receiver(image, strength=0.4, claimed_gain_db=1.0),
        "overrated network": fake_receiver(image, strength=-0.3, claimed_gain_db=2.0),
    }
    for label, receiver in receivers.items():
        modes = {"bicubic": ("fast",), "good network": ("fast", "best"), "overrated network": ("best",)}[label]
        for mode in modes:
            choice = rate.choose(image, max_bytes=max_bytes, mode=mode, receiver=receiver)
            shown = psnr(image, decoded_by(choice.payload, receiver))
            assert len(choice.payload) <= max_bytes
            if choice.psnr_db is not None or mode == "best":
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


def test_fast_runs_no_network_and_best_runs_it_on_every_network_finalist():
    image = IMAGES["coffee"]
    max_bytes = budget(image, 0.6)
    fast_receiver = fake_receiver(image, strength=0.3)
    fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=fast_receiver)
    assert fast.network_decodes == fast_receiver.upscale.runs == 0
    best_receiver = fake_receiver(image, strength=0.3)
    best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=best_receiver)
    network_finalists = [t for t in best.finalists if t.model_id == "fake"]
    assert best.network_decodes == len(network_finalists) >= 2
    assert all(t.psnr_db is not None for t in best.finalists)
    assert best.psnr_db == max(t.psnr_db for t in best.finalists)
    # fast's payload as the receiver shows it (psnr_db is None when a network decodes it): what it reports is
    # real or a prediction close to it, and it loses little against best's exhaustive choice
    shown = psnr(image, decoded_by(fast.payload, fast_receiver))
    assert fast.psnr_db is None or fast.psnr_db == pytest.approx(shown, abs=1e-9)
    assert fast.estimate_db == pytest.approx(shown, abs=1.0)
    assert shown >= best.psnr_db - 0.5


def test_fast_and_best_agree_when_the_predictor_is_right():
    image = IMAGES["astronaut"]
    max_bytes = budget(image, 0.3)
    probe = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=fake_receiver(image, strength=0.5))
    gains = [t.psnr_db - t.estimate_db + 1.0 for t in probe.finalists if t.model_id == "fake"]  # real gains
    honest = fake_receiver(image, strength=0.5, claimed_gain_db=float(np.mean(gains)))
    fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=honest)
    best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=honest)
    # the same route (fast codes it at its final speed, best at the probe's: the qualities differ)
    assert (fast.scale, fast.model_id) == (best.scale, best.model_id)


def test_without_any_network_fast_and_best_are_the_same_and_decode_nothing():
    image = IMAGES["synthetic"]
    for max_bytes in (500, 1500):
        fast = rate.choose(image, max_bytes=max_bytes, mode="fast", receiver=bicubic_receiver())
        best = rate.choose(image, max_bytes=max_bytes, mode="best", receiver=bicubic_receiver())
        assert fast.payload == best.payload and fast.network_decodes == best.network_decodes == 0


# ---------------------------------------------------------------------------- quality target


def _route_payload(image: np.ndarray, scale: int, quality: int, final: bool = False) -> bytes:
    """The payload rate control builds for a bicubic route (AVIF at Pillow's speed at scale 1, tag 0); ``final``:
    as fast mode's final encode codes it (:meth:`~sr_codec.codecs.InnerCodec.for_final` above scale 1)."""
    from sr_codec.sender.builder import PayloadBuilder
    from sr_codec.codecs import by_name as get_codec
    from sr_codec.imaging.normalise import load_image
    from sr_codec.imaging.resample import low_res_size

    codec = get_codec("avif")
    builder = PayloadBuilder(load_image(image), codec, sr_codec.DEFAULT_LIMITS)
    config = codec.as_plain_file() if scale == 1 else codec
    if final and scale > 1:
        config = codec.for_final(*low_res_size(*image.shape[:2], scale))
    return builder.pack(scale, builder.bitstream(scale, quality, config), 0)


@pytest.mark.parametrize("mode", ["best"])
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


def test_fast_target_psnr_is_reached_up_to_the_prediction_with_a_payload_near_the_smallest():
    """Fast mode aims at the target by prediction (the probe speed mapped to the final one): without a network,
    what the receiver shows is within a few tenths of the target, in about best's bytes."""
    image = IMAGES["coffee"]
    receiver = bicubic_receiver()
    for target in (25.0, 30.0):
        best = rate.choose(image, target_psnr=target, mode="best", receiver=receiver)
        fast = rate.choose(image, target_psnr=target, receiver=receiver)
        shown = psnr(image, decoded_by(fast.payload, receiver))
        assert fast.reached_target and shown == pytest.approx(fast.psnr_db) and shown >= target - 0.3
        assert len(fast.payload) <= 1.25 * len(best.payload) + 32  # a tiny image: tens of bytes


def test_target_psnr_with_a_network_reaches_it_and_best_is_no_bigger_than_fast():
    image = IMAGES["astronaut"]
    for target in (24.0, 27.0):
        cap = budget(image, 4.0)  # above target_psnr's own soft cap (0.5 bpp, 1 kB here)
        best = rate.choose(image, target_psnr=target, max_bytes=cap, mode="best", receiver=fake_receiver(image, 0.4, 1.5))
        receiver = fake_receiver(image, 0.4, 1.5)
        fast = rate.choose(image, target_psnr=target, max_bytes=cap, mode="fast", receiver=receiver)
        assert best.reached_target and best.psnr_db >= target
        # fast runs no network: its report is a prediction; the receiver shows about as much
        shown = psnr(image, decoded_by(fast.payload, receiver))
        assert fast.reached_target and shown >= target - 0.3
        assert fast.network_decodes == receiver.upscale.runs == 0


def test_unreachable_target_gives_the_best_decoded_quality_within_the_budget():
    image = IMAGES["synthetic"]
    receiver = bicubic_receiver()
    within = rate.choose(image, target_psnr=99.0, max_bytes=1500, receiver=receiver)
    assert within.reached_target is False and len(within.payload) <= 1500
    assert within.psnr_db == rate.choose(image, max_bytes=1500, receiver=receiver).psnr_db
    # without max_bytes the soft cap applies (target_cap): the best there is within it, not quality 100
    unbounded = rate.choose(image, target_psnr=99.0, receiver=receiver)
    cap = rate.target_cap(*image.shape[:2])
    assert unbounded.reached_target is False and len(unbounded.payload) <= cap and unbounded.max_bytes is None
    assert unbounded.psnr_db == rate.choose(image, max_bytes=cap, receiver=receiver).psnr_db
    assert len(rate.choose(image, target_psnr=99.0, mode="best", receiver=receiver).payload) <= cap


def test_target_psnr_alone_is_capped_at_a_documented_size():
    assert rate.target_cap(480, 320) == int(rate.TARGET_CAP_BITS_PER_PIXEL * 480 * 320 / 8)
    assert rate.target_cap(16, 16) == rate.DEFAULT_MIN_BYTES
    textured = (np.random.default_rng(1).random((160, 240, 3)) * 255).astype(np.uint8)
    with pytest.warns(sr_codec.TargetNotReachedWarning):
        payload = encode(textured, target_psnr=45.0)
    assert len(payload) <= rate.target_cap(160, 240)


def test_target_within_a_budget_never_exceeds_it():
    image = IMAGES["astronaut"]
    choice = rate.choose(image, target_psnr=40.0, max_bytes=2000, receiver=bicubic_receiver())
    assert len(choice.payload) <= 2000


# -------------------------------------------------------------------------- defaults and inputs


def test_the_final_encode_is_slower_than_the_probes_and_no_worse_in_the_same_budget():
    image = IMAGES["astronaut"]
    choice = rate.choose(image, scale=4, max_bytes=900, receiver=bicubic_receiver())
    probe = rate.choose(image, scale=4, max_bytes=900, receiver=bicubic_receiver(), mode="best")  # default speed
    assert len(choice.payload) <= 900
    assert choice.psnr_db >= probe.psnr_db - 0.1  # the final search may stop a step below the top
    h, w = (side // 4 for side in image.shape[:2])
    avif = codecs.by_name("avif")
    assert avif.for_final(h, w).speed_for(h, w) < avif.speed_for(h, w) < avif.for_probes().speed_for(h, w)
    assert avif.for_final(h, w) == avif.at_speed(avif.for_final(h, w).speed)  # one place picks the speeds


def test_the_default_budget_is_bits_per_pixel_with_a_floor_and_a_cap():
    assert rate.default_budget(480, 320) == int(rate.DEFAULT_BITS_PER_PIXEL * 480 * 320 / 8)
    assert rate.default_budget(16, 16) == rate.DEFAULT_MIN_BYTES
    assert rate.default_budget(3000, 4000) == rate.DEFAULT_MAX_BYTES_CAP


def test_auto_without_a_budget_uses_the_default_budget(monkeypatch):
    image = IMAGES["astronaut"]
    payload = encode(image, scale="auto")
    assert len(payload) <= rate.default_budget(*image.shape[:2])
    from sr_codec.sender.rate import choose as choose_module

    monkeypatch.setattr(choose_module, "default_budget", lambda h, w: 20)  # nothing fits: soft, the smallest payload
    choice = rate.choose(image)
    smallest = min(len(encode(image, scale=s, quality=0)) for s in rate.AUTO_SCALES)
    assert len(choice.payload) <= smallest and choice.quality == 0 and choice.max_bytes is None


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
    (tmp_path / rate.GAIN_TABLE_FILE).write_text(__import__("json").dumps(table.to_json()))
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


def test_calibrate_measures_a_learned_route_on_its_own_thumbnail(monkeypatch):
    """A learned pair's curve is keyed by its upscaler and measured on the downscaler's thumbnail."""
    from sr_codec.imaging.resample import downsample
    from sr_codec.sender import learned

    thumbnails = []

    def fake_downscaler(rgb, scale, down_id, weights_dir=None, bicubic_low_res=None):
        assert down_id == "pair-down"
        thumbnails.append(scale)
        return np.clip(downsample(rgb, scale).astype(np.int16) + 3, 0, 255).astype(np.uint8)  # not bicubic's

    monkeypatch.setattr(learned, "learned_low_res", fake_downscaler)
    receiver = rate.Receiver(
        model_for=lambda s: "fake" if s == 4 else zoo.BICUBIC,
        upscale=lambda low, s, m: upsample_bicubic(low, s),
        tag_for=lambda m: FAKE_TAG,
    )
    table = rate.calibrate([IMAGES["astronaut"]], receiver, scales=(4,), qualities=(20, 60), bins=2,
                           learned=lambda s, c: ("pair-down", "pair-up") if s == 4 and c == "avif" else None)
    assert set(table.curves) == {"fake", "pair-up"} and thumbnails == [4]
    assert table.curves["pair-up"].scale == 4 and table.curves["pair-up"].samples == 2


# ------------------------------------------------------------------- flat images, misses, no TensorFlow


@pytest.mark.parametrize("kind", ["camera", "constant", "gray ramp"])
def test_flat_and_gray_images_never_crash_at_any_target(kind):
    """An exact decode has infinite PSNR: the searches must not overflow on it (camera crashed at 32 dB)."""
    if kind == "camera":
        image = skimage.data.camera()
    elif kind == "constant":
        image = np.full((48, 64, 3), 128, np.uint8)
    else:
        image = np.tile(np.linspace(0, 255, 64).astype(np.uint8), (40, 1))
    receiver = bicubic_receiver()
    for kwargs in ({"target_psnr": 32}, {"target_psnr": 200}, {"target_psnr": 40, "scale": 1},
                   {"target_psnr": 35, "mode": "best"}, {"max_bytes": 400}):
        choice = rate.choose(image, receiver=receiver, **kwargs)
        assert choice.payload_bytes > 0
        assert choice.estimate_db is not None and choice.estimate_db > 0
        if "target_psnr" in kwargs:
            assert choice.reached_target == (choice.estimate_db >= kwargs["target_psnr"])
    assert rate.choose(np.full((32, 32, 3), 7, np.uint8), target_psnr=80, receiver=receiver).psnr_db == math.inf


def test_a_missed_target_is_reported_and_warned(photo):
    image = np.ascontiguousarray(photo[:96, :96])
    choice = rate.choose(image, target_psnr=99.0, max_bytes=900, receiver=bicubic_receiver())
    assert choice.reached_target is False and choice.estimate_db < 99.0
    with pytest.warns(sr_codec.TargetNotReachedWarning, match="99 dB not reached"):
        payload = encode(image, target_psnr=99.0, max_bytes=900)
    assert len(payload) <= 900


def test_fast_rate_control_imports_no_tensorflow(tmp_path):
    """``encode(img, max_bytes=...)`` in fast mode predicts the networks' gains: TensorFlow stays unloaded."""
    code = (
        "import sys, numpy as np, sr_codec, sr_codec.rate\n"
        "rng = np.random.default_rng(0)\n"
        "img = (rng.random((120, 160, 3)) * 255).astype(np.uint8)\n"
        "c = sr_codec.rate.choose(img, max_bytes=1500)\n"
        "sr_codec.encode(img, target_psnr=30)\n"
        "sr_codec.encode(img)\n"
        "assert c.network_decodes == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1], timeout=300)


def test_learned_pairs_add_a_route_beside_the_bicubic_one():
    receiver = dataclasses.replace(bicubic_receiver(), learned_for=lambda scale: "pair-up" if scale == 4 else None)
    routes = rate.routes_for(400, 600, (1, 2, 4, 10), receiver)
    assert rate.Route(4, "pair-up", "learned") in routes and rate.Route(4, "bicubic") in routes
    assert [r for r in routes if r.sender == "learned"] == [rate.Route(4, "pair-up", "learned")]
    assert not rate.Route(4, "pair-up", "learned").exact


# ----------------------------------------------------------------------------- large photos


def test_the_mosaic_samples_whole_tiles_spread_over_the_photo():
    from sr_codec.sender.rate import mosaic

    rgb = np.arange(1200 * 1700 * 3, dtype=np.uint32).reshape(1200, 1700, 3).astype(np.uint8)
    origins = mosaic.tile_origins(1200, 1700)
    assert len(origins) == mosaic.MOSAIC_TILES
    assert all(0 <= top <= 1200 - mosaic.TILE_SIDE and 0 <= left <= 1700 - mosaic.TILE_SIDE for top, left in origins)
    assert len({top for top, _ in origins}) > 1 and len({left for _, left in origins}) > 1  # spread both ways
    tiles = mosaic.mosaic(rgb)
    assert tiles.shape == (2 * mosaic.TILE_SIDE, 4 * mosaic.TILE_SIDE, 3)
    top, left = origins[0]
    assert np.array_equal(tiles[: mosaic.TILE_SIDE, : mosaic.TILE_SIDE], rgb[top : top + mosaic.TILE_SIDE, left : left + mosaic.TILE_SIDE])
    assert all(s % 10 == 0 and s % 4 == 0 for s in (mosaic.TILE_SIDE,))
    assert not mosaic.uses_mosaic(500, 1000, "fast") and mosaic.uses_mosaic(500, 1001, "fast")
    assert not mosaic.uses_mosaic(2000, 2000, "best")


def test_a_large_photo_is_decided_on_the_mosaic_and_honours_the_budget():
    tile = IMAGES["astronaut"]
    reps = (-(-1100 // tile.shape[0]), -(-1200 // tile.shape[1]), 1)
    rgb = np.ascontiguousarray(np.tile(tile, reps)[:1100, :1200])
    max_bytes = budget(rgb, 0.03)
    choice = rate.choose(rgb, max_bytes=max_bytes, receiver=bicubic_receiver())
    assert choice.payload_bytes <= max_bytes
    assert choice.psnr_db is None and choice.estimate_db is not None  # predicted from the mosaic
    decoded = decode_preview(choice.payload)
    assert inspect(choice.payload).width == 1200 and decoded.shape[:2] == (1100 // choice.scale, 1200 // choice.scale)
    assert choice.encodes < 30


def test_sender_narrows_the_routes_rate_control_weighs():
    image = IMAGES["coffee"]
    receiver = bicubic_receiver()
    assert rate.choose(image, max_bytes=budget(image, 0.3), sender="bicubic", receiver=receiver).sender == "bicubic"
    with pytest.raises(InputImageError, match="no learned route"):
        rate.choose(image, scale=4, max_bytes=budget(image, 0.3), sender="learned", receiver=receiver)
    with pytest.raises(InputImageError, match="sender must be one of"):
        rate.choose(image, max_bytes=900, sender="nearest", receiver=receiver)


# ------------------------------------------------------------------- one rule, one folder (issue 23)


def test_the_learned_pair_rule_is_one_function_every_consumer_follows(monkeypatch):
    """``learned_pair_for`` alone says when a learned pair applies: encode, rate control's receiver and calibration."""
    from sr_codec.sender import learned
    from sr_codec.sender.builder import resolve_sender

    avif, webp = codecs.by_name("avif"), codecs.by_name("webp")
    assert learned.learned_pair_for(1, "avif") is None and learned.learned_pair_for(4, "webp") is None
    assert learned.learned_pair_for(4, "avif") == learned.learned_pair(4)
    monkeypatch.setattr(learned, "learned_pair_for", lambda scale, codec_name, weights_dir=None: None)
    assert resolve_sender("auto", 4, avif) == "bicubic"
    with pytest.raises(InputImageError, match="no learned sender"):
        resolve_sender("learned", 4, avif)
    assert rate.Receiver.shipped(codec=avif).learned_for(4) is None
    monkeypatch.setattr(learned, "learned_pair_for",
                        lambda scale, codec_name, weights_dir=None: ("d", "u") if codec_name == "webp" else None)
    assert resolve_sender("auto", 4, webp) == "learned" and rate.Receiver.shipped(codec=webp).learned_for(4) == "u"


def test_learned_thumbnails_come_from_the_weights_folder_rate_control_is_given(tmp_path, monkeypatch):
    import shutil

    from sr_codec.sender import learned

    if learned.learned_pair(4) is None:
        pytest.skip("no learned pair shipped")
    folder = tmp_path / "weights"
    shutil.copytree(zoo.WEIGHTS_DIR, folder)
    used = []
    original = learned.downscaler_runner

    def recording(down_id, weights_dir=zoo.WEIGHTS_DIR):
        used.append(Path(weights_dir))
        return original(down_id, weights_dir)

    monkeypatch.setattr(learned, "downscaler_runner", recording)
    image = IMAGES["astronaut"]
    receiver = rate.Receiver.shipped(folder)
    assert receiver.weights_dir == folder
    for mode in ("fast", "best"):
        choice = rate.choose(image, scale=4, sender="learned", max_bytes=budget(image, 0.5), mode=mode,
                             receiver=receiver)
        assert choice.sender == "learned"
    assert used and set(used) == {folder}


def test_the_gain_table_loads_under_its_old_name(tmp_path):
    table = rate.GainTable.load()
    assert table.curves and table.speeds, "the shipped gain_table.json has network curves and speed maps"
    (tmp_path / "rate_proxy.json").write_text(__import__("json").dumps(table.to_json()))
    assert rate.GainTable.load(tmp_path) == table
    assert rate.GainTable.load(tmp_path / "missing") == rate.GainTable()


def test_the_public_rate_names_are_live():
    """Issue 23: no constant nobody enforces, no alias of another constant."""
    assert not hasattr(rate, "FAST_MAX_DECODES") and not hasattr(rate, "DEFAULT_MAX_BYTES")
    from sr_codec.sender.rate.session import Session

    assert not hasattr(Session, "margin")


def test_optimise_is_checked_and_threaded_to_the_gain_table(monkeypatch):
    image = IMAGES["coffee"]
    with pytest.raises(InputImageError, match="optimise must be one of"):
        rate.choose(image, max_bytes=900, optimise="perceptual")
    asked = []
    receiver = fake_receiver(image, strength=0.3)
    gains = receiver.gains

    class Recording(type(gains)):
        def curve(self, model_id, optimise="psnr"):
            asked.append(optimise)
            return super().curve(model_id, optimise)

    receiver = dataclasses.replace(receiver, gains=Recording(gains.curves, gains.command, gains.speeds))
    rate.choose(image, max_bytes=900, receiver=receiver, optimise="psnr")
    assert asked and set(asked) == {"psnr"}


# ------------------------------------------------------------------------------ the final search


def test_the_final_search_is_a_secant_that_stops_when_the_next_quality_is_predicted_over():
    from sr_codec.sender.rate.final import LogSizeCurve

    curve = LogSizeCurve({20: math.log(1000), 40: math.log(2000)})
    assert curve.at(30) == pytest.approx((math.log(1000) + math.log(2000)) / 2)
    assert curve.at(60) == pytest.approx(math.log(4000))  # the end slope carries on

    image = IMAGES["astronaut"]
    for max_bytes in (500, 900, 2000):
        choice = rate.choose(image, scale=4, sender="bicubic", max_bytes=max_bytes, receiver=bicubic_receiver())
        assert len(choice.payload) <= max_bytes
        final = _route_payload(image, 4, min(choice.quality + 3, 100), final=True)
        assert choice.quality >= 98 or len(final) > max_bytes, "stopped more than two steps below the top"
    # the analysis probes each route a few times at the probe speed, not a full search
    coffee = IMAGES["coffee"]
    choice = rate.choose(coffee, max_bytes=budget(coffee, 0.5), receiver=bicubic_receiver())
    assert choice.encodes <= 4 * len(rate.AUTO_SCALES) + 4


def test_large_photos_leave_the_untiled_learned_downscaler_out_unless_asked(monkeypatch):
    from sr_codec.sender.rate import choose as choose_module

    image = IMAGES["astronaut"]
    receiver = dataclasses.replace(bicubic_receiver(), learned_for=lambda scale: "pair-up" if scale == 4 else None)
    monkeypatch.setattr(choose_module, "LEARNED_MAX_PIXELS", image.shape[0] * image.shape[1] - 1)
    choice = rate.choose(image, max_bytes=budget(image, 0.3), receiver=receiver)
    assert all(t.sender == "bicubic" for t in choice.finalists)
