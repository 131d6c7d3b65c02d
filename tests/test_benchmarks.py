"""The benchmarks' measuring instruments: metrics, Bjøntegaard deltas, rates and the two CLIs."""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
from benchmarks import bandwidth, sr_quality
from benchmarks.common import perceptual
from sr_codec.imaging import curves, metrics
from sr_codec.imaging.resample import downsample, upsample_bicubic
from sr_codec.imaging.metrics import mod_crop, psnr_y

# ------------------------------------------------------------------------------------ BD-rate

PSNR_A = [30.0, 32.0, 34.0, 36.0]
RATE_A = [0.05, 0.09, 0.17, 0.33]


def test_bd_rate_of_a_curve_scaled_by_0_8_is_minus_20_percent():
    rate_b = [r * 0.8 for r in RATE_A]
    assert curves.bd_rate(RATE_A, PSNR_A, rate_b, PSNR_A) == pytest.approx(-20.0, abs=1e-6)
    assert curves.bd_rate(RATE_A, PSNR_A, rate_b, PSNR_A, method="pchip") == pytest.approx(-20.0, abs=1e-6)
    # and the reverse direction: A needs 25 % more than B
    assert curves.bd_rate(rate_b, PSNR_A, RATE_A, PSNR_A) == pytest.approx(25.0, abs=1e-6)


def test_bd_rate_hand_worked_example():
    # A: ln r = p / 4. B: ln r = p / 4 + ln(0.5) * (p - 30) / 6, i.e. no saving at 30 dB, half the
    # rate at 36 dB. Both are polynomials of degree <= 3, so the cubic fit is exact, and the mean
    # log-rate difference over [30, 36] is ln(0.5) * mean((p - 30) / 6) = ln(0.5) / 2:
    # BD-rate = exp(ln(0.5) / 2) - 1 = 1 / sqrt(2) - 1 = -29.2893 %.
    p = np.array([30.0, 31.5, 33.0, 34.5, 36.0])
    rate_a = np.exp(p / 4)
    rate_b = np.exp(p / 4 + math.log(0.5) * (p - 30) / 6)
    assert curves.bd_rate(rate_a, p, rate_b, p) == pytest.approx((2**-0.5 - 1) * 100, abs=1e-6)


def test_bd_rate_integrates_only_over_the_overlapping_psnr_range():
    # B covers 33..39 dB, A 30..36 dB: compared on 33..36 only, where B is half of A's rate.
    p_a = np.array([30.0, 32.0, 34.0, 36.0])
    p_b = p_a + 3.0
    rate_a = np.exp(p_a / 3)
    rate_b = 0.5 * np.exp(p_b / 3)
    assert curves.bd_rate(rate_a, p_a, rate_b, p_b) == pytest.approx(-50.0, abs=1e-6)


def test_bd_rate_and_bd_psnr_say_none_without_overlap():
    assert curves.bd_rate(RATE_A, PSNR_A, RATE_A, [p + 10 for p in PSNR_A]) is None
    assert curves.bd_psnr(RATE_A, PSNR_A, [r * 100 for r in RATE_A], PSNR_A) is None


def test_bd_psnr_of_a_constant_one_db_shift_is_one():
    assert curves.bd_psnr(RATE_A, PSNR_A, RATE_A, [p + 1 for p in PSNR_A]) == pytest.approx(1.0, abs=1e-9)
    assert curves.bd_psnr(RATE_A, PSNR_A, RATE_A, [p + 1 for p in PSNR_A], method="pchip") == pytest.approx(1.0)


def test_bytes_saved_at_equal_psnr_interpolates_and_never_extrapolates():
    ref_bytes = [2000.0, 4000.0, 8000.0]
    ref_psnr = [28.0, 30.0, 32.0]
    rows = curves.bytes_saved_at_equal_psnr(ref_bytes, ref_psnr, [1000.0, 1500.0, 900.0], [29.0, 30.0, 27.0])
    # 29 dB is half way in log-bytes between 2000 and 4000: sqrt(2000 * 4000)
    assert rows[0]["reference_bytes"] == pytest.approx(math.sqrt(2000 * 4000))
    assert rows[1]["saved"] == pytest.approx(1 - 1500 / 4000)
    assert rows[2]["reference_bytes"] is None and rows[2]["saved"] is None


# ------------------------------------------------------------------------------------ MS-SSIM


def test_ms_ssim_is_one_for_identical_images_and_falls_with_noise(small_photo):
    assert metrics.ms_ssim(small_photo, small_photo) == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(0)
    values = []
    for sigma in (3, 10, 30):
        noisy = np.clip(small_photo + rng.normal(0, sigma, small_photo.shape), 0, 255).astype(np.uint8)
        values.append(metrics.ms_ssim(small_photo, noisy))
    assert 1.0 > values[0] > values[1] > values[2] > 0.0


def test_ms_ssim_uses_fewer_scales_on_small_images():
    assert metrics.ms_ssim_scales(176, 500) == 5
    assert metrics.ms_ssim_scales(175, 500) == 4
    assert metrics.ms_ssim_scales(11, 11) == 1
    with pytest.raises(ValueError):
        metrics.ms_ssim_scales(10, 40)


def test_ms_ssim_matches_an_independent_single_scale_ssim():
    # With one scale, MS-SSIM is SSIM with a valid-region Gaussian window: compare with scikit-image.
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (20, 21), dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    _, ssim_map = structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, full=True
    )
    assert metrics.ms_ssim_scales(*a.shape) == 1
    assert metrics.ms_ssim(a, b) == pytest.approx(ssim_map[5:-5, 5:-5].mean(), rel=1e-6)


# ------------------------------------------------------------------------------ rate = payload


def test_bits_per_pixel_counts_the_whole_payload_container_included(small_photo):
    grids = bandwidth.parse_qualities(["sr=40"])
    methods = bandwidth.build_methods([4], [], grids, include_auto=False)
    network = next(m for m in methods if m.role == "network")
    h, w = small_photo.shape[:2]

    point, payload, decoded = bandwidth.measure(network, small_photo, 40)
    info = sr_codec.inspect(payload)
    assert payload == sr_codec.encode(small_photo, scale=4, quality=40)
    assert point.bytes == len(payload) == info.payload_bytes
    assert point.bpp == pytest.approx(8 * len(payload) / (h * w))
    assert info.inner_bytes < len(payload)  # so a rate of inner bytes only would be wrong
    assert point.bpp != pytest.approx(8 * info.inner_bytes / (h * w))
    assert decoded.shape == small_photo.shape

    # the sweep (what the CLI runs) reports the same rate for every path sharing that payload
    points, _ = bandwidth.sweep([("p", small_photo)], methods, progress=False)
    assert {p.bytes for p in points} == {len(payload)}


def test_classical_codecs_are_measured_as_complete_files(small_photo):
    (avif,) = bandwidth.build_methods([], ["avif"], bandwidth.parse_qualities(["avif=30"]), include_auto=False)
    point, data, decoded = bandwidth.measure(avif, small_photo, 30)
    assert data[4:8] == b"ftyp"  # an ordinary .avif file, container and all
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "AVIF" and im.size == (small_photo.shape[1], small_photo.shape[0])
    assert point.bytes == len(data)


def test_parse_qualities_sets_all_or_named_grids():
    grids = bandwidth.parse_qualities(["10,90", "avif=5"])
    assert grids["jpeg"] == (10.0, 90.0) and grids["sr"] == (10.0, 90.0)
    assert grids["avif"] == (5.0,)
    assert grids["auto"] == bandwidth.DEFAULT_GRIDS["auto"]


def test_default_images_ship_with_scikit_image():
    paths = bandwidth.default_image_paths()
    assert len(paths) == len(bandwidth.DEFAULT_IMAGES)
    assert all(bandwidth.load_rgb(p).ndim == 3 for p in paths[:1])


# --------------------------------------------------------------------------------------- CLIs


def _synthetic_photo(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth gradients, a few hard edges and mild texture: compresses like a (simple) photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([x / w * 200 + 30, y / h * 180 + 40, (x + y) / (h + w) * 150 + 60], axis=-1)
    for _ in range(4):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(6, 20)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.integers(0, 256, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_bandwidth_cli_small_run_writes_every_output(tmp_path):
    data = tmp_path / "photos"
    data.mkdir()
    for i, (h, w) in enumerate([(72, 96), (80, 64), (64, 64)]):
        Image.fromarray(_synthetic_photo(h, w, i)).save(data / f"img{i}.png")
    out = tmp_path / "out"
    argv = ["--data", str(data), "--limit", "2", "--scales", "1", "4", "--codecs", "jpeg,avif",
            "--qualities", "20,60", "--out", str(out), "--quiet", "--no-auto"]
    assert bandwidth.main(argv) == 0

    points = json.loads((out / "bandwidth_points.json").read_text())["points"]
    assert {p["image"] for p in points} == {"img0", "img1"}  # --limit 2 of 3
    keys = {p["method"] for p in points}
    assert keys == {"jpeg", "avif", "bicubic-x1", "bicubic-x4", "sr_codec-x4", "auto-rez"}
    auto_rez_settings = len(bandwidth.DEFAULT_GRIDS["auto"])  # AUTO-REZ runs at the rate-control grid's bpp
    assert len(points) == 2 * ((len(keys) - 1) * 2 + auto_rez_settings)
    available = {m for m, why in perceptual.availability().items() if why is None}
    for p in points:
        assert p["bpp"] == pytest.approx(8 * p["bytes"] / (p["height"] * p["width"]))
        assert 0 < p["ms_ssim"] <= 1 and p["psnr"] > 10
        for metric in available:  # a real score: SSIMULACRA2 <= 100, butteraugli > 0 for a lossy picture
            assert p[metric] == p[metric] and (p[metric] < 100 if metric == "ssimulacra2" else p[metric] > 0)
    for key in keys:
        curve = json.loads((out / "compressai" / f"{key}.json").read_text())
        assert set(curve) == {"name", "description", "results"}
        n = auto_rez_settings if key == "auto-rez" else 2
        assert [len(curve["results"][k]) for k in ("bpp", "psnr-rgb", "ms-ssim-rgb", *available)] == [n] * (3 + len(available))
    summary = (out / "bandwidth.md").read_text()
    assert "BD-rate" in summary and "(b) x4 bicubic" in summary and "AUTO-REZ at same PSNR" in summary
    for metric in available:
        assert f"{metric} vs AVIF" in summary
        with Image.open(out / f"bandwidth_rd_{metric}.png") as im:
            assert im.format == "PNG" and im.width > 100
    for png in ("bandwidth_rd.png", "bandwidth_grid.png"):
        with Image.open(out / png) as im:
            assert im.format == "PNG" and im.width > 100


def test_sr_quality_cli_on_a_generated_folder(tmp_path):
    photos = [_synthetic_photo(61, 83, 7), _synthetic_photo(50, 50, 8)]
    for name in ("Set5", "BSD100"):
        (tmp_path / name).mkdir()
    Image.fromarray(photos[0]).save(tmp_path / "Set5" / "a.png")
    Image.fromarray(photos[1][..., 0]).save(tmp_path / "Set5" / "grey.png")  # greyscale file
    Image.fromarray(photos[0]).save(tmp_path / "BSD100" / "a.png")
    out = tmp_path / "out"
    argv = ["--data", str(tmp_path), "--sets", "Set5", "Set14", "BSD100", "--scales", "2", "4",
            "--out", str(out), "--quiet", "--models"]  # --models with no id: bicubic only, fast
    assert sr_quality.main(argv) == 0

    results = json.loads((out / "sr_quality.json").read_text())
    assert results["missing_sets"] == ["Set14"]
    bicubic = {(r["set"], r["scale"]): r for r in results["clean"] if r["method"] == "bicubic"}
    assert set(bicubic) == {("Set5", 2), ("Set5", 4), ("BSD100", 2), ("BSD100", 4)}
    # the protocol, recomputed here by hand for one image
    hr = mod_crop(photos[0], 4)
    expected = psnr_y(hr, upsample_bicubic(downsample(hr, 4), 4), shave=4)
    assert bicubic[("Set5", 4)]["per_image"]["a"] == pytest.approx(expected)
    assert math.isfinite(bicubic[("Set5", 4)]["per_image"]["grey"])
    assert results["set5_bicubic_x4_check"] is None  # not the real Set5
    assert {r["scale"] for r in results["degraded"]} == {2, 4}
    assert "x4" in (out / "sr_quality.md").read_text()


def test_sr_quality_degraded_column_at_several_qualities(tmp_path):
    (tmp_path / "BSD100").mkdir()
    Image.fromarray(_synthetic_photo(64, 80, 3)).save(tmp_path / "BSD100" / "a.png")
    out = tmp_path / "out"
    assert sr_quality.main(["--data", str(tmp_path), "--sets", "BSD100", "--scales", "4", "--out", str(out),
                            "--quiet", "--timing-repeats", "0", "--degraded-qualities", "10", "90", "--models"]) == 0
    rows = json.loads((out / "sr_quality.json").read_text())["degraded"]
    by_quality = {r["quality"]: r["bicubic_rgb_psnr"] for r in rows}
    assert set(by_quality) == {10, 90} and by_quality[90] > by_quality[10]  # less compression, closer to the photo
    assert "| x4 | 90 |" in (out / "sr_quality.md").read_text()


def test_set5_bicubic_x4_reads_28_42(shared_val: Path):
    images = sr_quality.set_images(shared_val / "Set5")
    method = sr_quality.SrMethod("bicubic", 4, sr_quality._bicubic, "bicubic")
    scores = sr_quality.evaluate_clean(images, method)
    assert round(float(np.mean(scores)), 2) == 28.42
    rows = [{"method": "bicubic", "scale": 4, "set": "Set5", "y_psnr": float(np.mean(scores)),
             "per_image": {n: s for (n, _), s in zip(images, scores)}}]
    assert sr_quality.set5_check(rows, None) == {"measured": 28.42, "expected": 28.42, "ok": True}


def test_rate_control_path_is_measured_when_the_library_has_it(small_photo):
    if not bandwidth.auto_rate_control_available():
        pytest.skip("sr_codec.encode has no scale='auto' yet")
    grids = bandwidth.parse_qualities(["auto=0.5"])
    (auto,) = bandwidth.build_methods([], [], grids, include_auto=True)
    point, payload, _ = bandwidth.measure(auto, small_photo, 0.5)
    budget = int(0.5 * small_photo.shape[0] * small_photo.shape[1] / 8)
    assert point.bytes == len(payload) == sr_codec.inspect(payload).payload_bytes <= budget


def test_visual_grid_shows_only_panels_of_comparable_bytes():
    from benchmarks.bandwidth_plots import GRID_BYTES_TOLERANCE, choose_grid_points, comparable_bytes

    methods = bandwidth.build_methods([4], ["jpeg", "webp", "avif"], bandwidth.parse_qualities(None), include_auto=False)

    def point(method: str, role: str, scale: int, setting: float, num_bytes: int) -> bandwidth.Point:
        return bandwidth.Point("img", method, role, scale, "quality", setting, 100, 100, num_bytes,
                               8 * num_bytes / 1e4, 30.0, 0.9)

    points = [point("sr_codec-x4", "network", 4, 50, 100), point("bicubic-x4", "bicubic", 4, 50, 100),
              point("sr_codec-x4", "network", 4, 20, 60), point("bicubic-x4", "bicubic", 4, 20, 60),  # nothing near
              point("jpeg", "classical", 1, 10, 300), point("jpeg", "classical", 1, 2, 190),  # both too far
              point("webp", "classical", 1, 5, 115), point("avif", "classical", 1, 0, 92)]
    chosen = choose_grid_points(points, methods, "img")
    shown = {p.method: p.bytes for _, p in chosen}
    assert shown == {"sr_codec-x4": 100, "bicubic-x4": 100, "webp": 115, "avif": 92}
    assert all(comparable_bytes(b, 100) for b in shown.values()) and GRID_BYTES_TOLERANCE <= 0.25


def test_peers_run_when_shared_peers_exist(small_photo):
    """``--peers ../shared/peers`` must work on a fresh install (opencv-contrib < 5 reads the TensorFlow .pb files)."""
    shared = Path(os.environ.get("SR_CODEC_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    peers = shared / "peers"
    if not any(peers.glob("*_x*.pb")):
        pytest.skip("../shared/peers not present")
    scales = sorted({int(p.stem.rpartition("_x")[2]) for p in peers.glob("*_x*.pb")})
    methods = sr_quality.peer_methods(peers, scales)
    assert methods, "peers are present but cannot be run: is opencv-contrib-python-headless (< 5) installed?"
    low = np.ascontiguousarray(small_photo[:20, :24])
    for method in methods:
        out = method.upscale(low, method.scale)
        assert out.shape == (20 * method.scale, 24 * method.scale, 3) and out.dtype == np.uint8, method.name


def test_the_fast_rate_report_counts_guarantee_violations_and_quality_lost():
    from benchmarks.common import rate_fast

    def row(bpp, ours, avif, best):
        return {"bpp": bpp, "fast": {"scale": 1, "sender": "bicubic", "bytes": int(1000 * bpp / 0.1), "psnr": ours,
                                     "encodes": 10},
                "avif": {"psnr": avif}, "best": {"psnr": best}}

    curve = {"bytes": [900, 2000, 4000, 8000], "psnr": [24.0, 26.0, 28.0, 30.0]}
    records = [
        {"photo": "a", "pixels": 80_000, "avif_curve": curve,
         "rows": [row(0.1, 25.0, None, 25.2), row(0.2, 27.0, 27.15, 27.0), row(0.4, 29.0, 28.5, 29.0)]},
        {"photo": "b", "pixels": 80_000, "avif_curve": curve,
         "rows": [row(0.1, 25.0, 25.0, 25.0), row(0.2, 27.0, 27.05, 27.0), row(0.4, 29.0, 29.0, 29.0)]},
    ]
    summary = rate_fast.summarise_stats(records, [0.1, 0.2, 0.4])
    assert summary["budgets_where_avif_fits"] == 5
    assert summary["worse_than_avif_by_more_than_0.1_db"] == 1  # 27.0 < 27.15 - 0.1; 27.0 vs 27.05 is within
    assert summary["mean_loss_vs_best_db"] == pytest.approx(0.2 / 6)
    assert summary["bd_rate_vs_avif_pct"]["photos"] == 2 and summary["bd_rate_vs_avif_pct"]["mean"] < 0
    out = rate_fast.compressai_json(records, "n", "d", [0.1, 0.2, 0.4])
    assert set(out) == {"name", "description", "results"} and len(out["results"]["psnr-rgb"]) == 3


def test_auto_rez_fits_the_budget_and_picks_the_best_factor_by_psnr():
    from benchmarks.common.codecs import auto_rez
    from sr_codec.imaging.metrics import psnr

    image = _synthetic_photo(96, 128, 3)
    data, shown, factor = auto_rez(image, 600)
    assert len(data) <= 600 and shown.shape == image.shape and factor in (1, 2, 3, 4, 6)
    for other in (1, 2, 3, 4, 6):  # no single factor does better within the same budget
        alone = auto_rez(image, 600, factors=(other,))
        assert alone is None or psnr(image, alone[1]) <= psnr(image, shown) + 1e-9
    assert auto_rez(image, 10) is None  # nothing fits in 10 bytes


def test_period_energy_sees_a_pixel_shuffle_grid():
    image = _synthetic_photo(96, 128, 4)
    grid = image.astype(np.int16)
    grid[::4, ::4] += 12  # a period-4 pattern the photo does not have
    grid = np.clip(grid, 0, 255).astype(np.uint8)
    assert perceptual.period_energy(image, image, 4) == pytest.approx(1.0)
    assert perceptual.period_energy(image, grid, 4) > 2.0


def test_sharp_look_cli_measures_both_looks_and_auto_rez_and_merges(tmp_path):
    from benchmarks import sharp_look

    data = tmp_path / "photos"
    data.mkdir()
    for i, (h, w) in enumerate([(96, 128), (120, 96)]):
        Image.fromarray(_synthetic_photo(h, w, i + 10)).save(data / f"img{i}.png")
    out = tmp_path / "out"
    argv = ["--data", str(data), "--budgets", "0.3", "--no-perceptual", "--sender", "bicubic", "--out", str(out),
            "--name", "t"]
    assert sharp_look.main(argv) == 0
    report = json.loads((out / "t.json").read_text())
    rows = report["sets"]["photos"]["rows"]
    assert len(rows) == 2
    for row in rows:
        if "skipped" in row:
            continue
        assert row["bytes"] <= row["max_bytes"] and row["auto-rez"]["bytes"] <= row["max_bytes"]
        assert {"psnr-rgb"} <= set(row["faithful"]) and {"psnr-rgb"} <= set(row["sharp"])
    curve = json.loads((out / "t_photos_sharp.json").read_text())
    assert set(curve) == {"name", "description", "results"} and "psnr-rgb" in curve["results"]
    assert sharp_look.main(["--merge", str(out / "t.json"), str(out / "t.json"), "--label", "twice",
                            "--budgets", "0.3", "--out", str(out), "--name", "m"]) == 0
    merged = json.loads((out / "m.json").read_text())["sets"]["twice"]
    assert merged["photos"] == 4 and len(merged["rows"]) == 4


def test_progress_bars_draw_only_on_a_terminal(capsys):
    """Quickstart's benchmark run into a log or a pipe leaves nothing on stderr (a bar only on a terminal)."""
    from benchmarks.common.report import progress_bar

    assert list(progress_bar(range(3), desc="bandwidth")) == [0, 1, 2]
    with progress_bar(total=2, enabled=True) as bar:
        bar.update(2)
    assert capsys.readouterr().err == ""
