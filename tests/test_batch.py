"""sr_codec.batch on an embedded Ray (started once for the module): rows, outputs, error rows, re-runs, decode."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from PIL import Image

import sr_codec

ray = pytest.importorskip("ray", reason="the `scale` extra (ray[data]) is not installed")
pytest.importorskip("pyarrow")

from sr_codec.batch import corpus, transcode  # noqa: E402
from sr_codec.batch.__main__ import main as batch_main  # noqa: E402
from sr_codec.batch.results import read_rows  # noqa: E402

ALL_COLUMNS = ("path", "output", "mode", "bytes_in", "bytes_out", "width", "height", "scale", "quality", "inner",
               "psnr", "seconds", "error", "run")


@pytest.fixture(scope="module")
def local_ray():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture()
def photos(tmp_path, small_photo):
    """Four small photos (one in a subfolder), a corrupt JPEG and a 0-byte PNG."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.ascontiguousarray(np.roll(small_photo, 17 * i, axis=1))).save(folder / f"p{i}.png")
    Image.fromarray(small_photo[:96, :128]).save(folder / "sub" / "q.jpg", quality=90)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 3)
    (folder / "empty.png").write_bytes(b"")
    return folder


def _by_name(rows):
    return {row["path"].rsplit("/", 1)[-1]: row for row in rows}


def test_encode_writes_payloads_and_one_row_per_file_and_errors_are_rows(local_ray, photos, tmp_path):
    out = tmp_path / "out"
    summary = transcode([str(photos)], str(out), scale=4, quality=40, psnr=True, concurrency=2, batch_size=2,
                        progress=False)
    assert (summary.files, summary.processed, summary.skipped, summary.errors) == (6, 6, 0, 2)
    rows = read_rows(summary.results, ALL_COLUMNS)
    assert len(rows) == 6 and len({row["run"] for row in rows}) == 1
    named = _by_name(rows)
    assert named["corrupt.jpg"]["error"].startswith("InputImageError") and named["corrupt.jpg"]["output"] is None
    assert named["empty.png"]["error"] == "InputImageError: empty file (0 bytes)"
    assert named["empty.png"]["bytes_in"] == 0
    for name in ("p0.png", "p1.png", "p2.png", "q.jpg"):
        row = named[name]
        assert row["error"] is None and row["mode"] == "encode"
        payload = open(row["output"], "rb").read()
        info = sr_codec.inspect(payload)
        assert row["bytes_out"] == len(payload) and row["bytes_in"] == (photos.rglob(name).__next__()).stat().st_size
        assert (row["width"], row["height"], row["scale"], row["quality"], row["inner"]) == \
               (info.width, info.height, 4, 40, "avif")
        decoded = sr_codec.decode(payload)
        original = np.asarray(Image.open(row["path"]).convert("RGB"))
        assert decoded.shape == original.shape
        mse = np.mean((decoded.astype(float) - original.astype(float)) ** 2)
        assert row["psnr"] == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-6)
    assert (out / "sub" / "q.src").exists()  # the input tree is mirrored
    assert summary.bytes_in == sum(named[n]["bytes_in"] for n in ("p0.png", "p1.png", "p2.png", "q.jpg"))
    assert "6 files" in summary.line() and "2 errors" in summary.line()


def test_rerun_skips_done_redoes_missing_outputs_and_retries_errors_on_request(local_ray, photos, tmp_path):
    out = tmp_path / "out"
    first = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (first.processed, first.errors) == (6, 2)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.src")}

    again = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (again.files, again.skipped, again.processed) == (6, 6, 0)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.src")} == mtimes

    (out / "p1.src").unlink()
    redo = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (redo.skipped, redo.processed, redo.errors) == (5, 1, 0)
    assert (out / "p1.src").exists()

    retry = transcode([str(photos)], str(out), results_format="jsonl", retry_errors=True, concurrency=1,
                      progress=False)
    assert (retry.processed, retry.errors) == (2, 2)
    lines = (out / "_results.jsonl").read_text().splitlines()
    assert len(lines) == 6 + 1 + 2 and all(set(json.loads(line)) == set(ALL_COLUMNS) for line in lines)


def test_decode_mode_and_the_command_line(local_ray, photos, tmp_path, capsys):
    payloads = tmp_path / "payloads"
    assert batch_main(["encode", str(photos / "p*.png"), "--out", str(payloads), "--scale", "2", "--no-progress",
                       "--concurrency", "1"]) == 0
    line = capsys.readouterr().out
    assert "3 files, 3 processed, 0 skipped (done before), 0 errors" in line
    (payloads / "broken.src").write_bytes(b"SRC\x01" + bytes(40))

    listing = tmp_path / "payloads.txt"  # a list file, relative entries
    listing.write_text("# payloads to decode\n" + "\n".join(f"payloads/{p.name}" for p in sorted(payloads.glob("*.src"))))
    images = tmp_path / "images"
    summary = transcode([str(listing)], str(images), mode="decode", concurrency=1, batch_size=4, progress=False)
    assert (summary.files, summary.processed, summary.errors) == (4, 4, 1)
    named = _by_name(read_rows(summary.results, ALL_COLUMNS))
    assert named["broken.src"]["error"].startswith("PayloadError")
    for i in range(3):
        row = named[f"p{i}.src"]
        payload = (payloads / f"p{i}.src").read_bytes()
        decoded = np.asarray(Image.open(row["output"]))
        np.testing.assert_array_equal(decoded, sr_codec.decode(payload))
        assert row["output"] == str(images / f"p{i}.png") and row["scale"] == 2 and row["bytes_in"] == len(payload)


def test_corpus_listing_names_outputs_stably_and_rejects_missing_inputs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.jpg", "a/x.png", "a/b/y.webp", "a/notes.md"):
        (tmp_path / name).write_bytes(b"1")
    sources = corpus.list_sources([str(tmp_path / "a")], "encode")
    assert [rel for _, rel in sources] == ["b/y.webp", "x.jpg", "x.png"]
    outputs = [item.output for item in corpus.plan_outputs(sources, "/o", "encode")]
    assert outputs == ["/o/b/y.src", "/o/x.jpg.src", "/o/x.png.src"]  # x.jpg and x.png would collide
    assert [rel for _, rel in corpus.list_sources([str(tmp_path / "a" / "**" / "*.webp")], "encode")] == ["b/y.webp"]
    with pytest.raises(sr_codec.SrCodecError, match="does not exist"):
        corpus.list_sources([str(tmp_path / "missing")], "encode")
    with pytest.raises(sr_codec.SrCodecError, match="separate output folders"):
        corpus.plan_outputs(sources + sources[:1], "/o", "encode")


def test_decode_worker_batch_falls_back_to_one_payload_at_a_time(tmp_path, small_photo):
    """A payload that passes its checks but cannot decode (a model this sr_codec lacks) fails decode_many for the
    whole batch; the worker then decodes one at a time: that payload is an error row, its neighbours decode."""
    import dataclasses

    from sr_codec.batch.workers import DecodeWorker, Options
    from sr_codec.format.payload import pack, unpack

    good = sr_codec.encode(small_photo, scale=2)
    unknown_model = pack(dataclasses.replace(unpack(good), model_tag=0x5EC0DE))
    assert sr_codec.inspect(unknown_model).model_id is None
    sources = []
    for name, blob in (("a", good), ("b", unknown_model), ("c", good[::-1]), ("d", good)):
        (tmp_path / f"{name}.src").write_bytes(blob)
        sources.append(str(tmp_path / f"{name}.src"))
    outputs = [str(tmp_path / "out" / f"{name}.png") for name in "abcd"]
    table = DecodeWorker(Options(mode="decode", device="cpu"))({"path": np.array(sources), "output": np.array(outputs)})
    rows = table.to_pylist()
    assert [row["error"] is None for row in rows] == [True, False, False, True]
    assert rows[1]["error"].startswith("ModelError") and rows[2]["error"].startswith("PayloadError")
    for row in (rows[0], rows[3]):
        np.testing.assert_array_equal(np.asarray(Image.open(row["output"])), sr_codec.decode(good))
        assert row["seconds"] > 0 and row["bytes_in"] == len(good)


def test_encode_worker_passes_the_sender_through_and_a_bad_sender_is_refused_before_any_work(tmp_path, small_photo):
    from sr_codec.batch.workers import EncodeWorker, Options

    source = tmp_path / "p.png"
    Image.fromarray(small_photo).save(source)
    target = tmp_path / "out" / "p.src"
    table = EncodeWorker(Options(scale=4, sender="bicubic"))({"path": np.array([str(source)]),
                                                              "output": np.array([str(target)])})
    assert table.to_pylist()[0]["error"] is None
    assert target.read_bytes() == sr_codec.encode(source.read_bytes(), scale=4, sender="bicubic")
    with pytest.raises(sr_codec.InputImageError, match="sender must be one of"):
        transcode([str(source)], str(tmp_path / "never"), sender="downhill")
    assert not (tmp_path / "never").exists()


def test_benchmark_memory_sampler_counts_ray_worker_processes_apart():
    """benchmarks/batch.py's RSS sampler: descendants titled ``ray::...`` are workers, the others Ray's own."""
    pytest.importorskip("psutil")
    import subprocess

    from benchmarks.batch import RssSampler

    driver = subprocess.Popen(["bash", "-c", '(exec -a "ray::Worker" sleep 30) & (exec -a raylet sleep 30) & wait'])
    try:
        deadline = time.monotonic() + 10
        sampler = RssSampler(pid=driver.pid)
        while time.monotonic() < deadline:  # until both children have exec'd under their titles
            sampler.sample()
            if sampler.most_workers == 1 and sampler.peak["ray_processes_sum"] > sampler.peak["workers_sum"]:
                break
            time.sleep(0.05)
    finally:
        for child in sampler.driver.children(recursive=True):
            child.kill()
        driver.kill()
        driver.wait()
    assert sampler.most_workers == 1 and sampler.peak["driver"] > 0
    assert 0 < sampler.peak["worker_max"] == sampler.peak["workers_sum"] < sampler.peak["ray_processes_sum"]
