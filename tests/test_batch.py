"""sr_codec.batch on an embedded Ray (started once for the module): rows, outputs, error rows, re-runs, decode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import sr_codec
from sr_codec.imaging.metrics import psnr

ray = pytest.importorskip("ray", reason="the `scale` extra (ray[data]) is not installed")
pytest.importorskip("pyarrow")

from sr_codec.batch import corpus, ray_is_worth_it, transcode  # noqa: E402
from sr_codec.batch.__main__ import main as batch_main  # noqa: E402
from sr_codec.batch.results import read_rows  # noqa: E402
from conftest import NO_TENSORFLOW

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
        assert row["psnr"] == pytest.approx(psnr(original, decoded), abs=1e-6)
    assert (out / "sub" / "q.src").exists()  # the input tree is mirrored
    assert summary.bytes_in == sum(named[n]["bytes_in"] for n in ("p0.png", "p1.png", "p2.png", "q.jpg"))
    assert "6 files" in summary.line() and "2 errors" in summary.line()


def test_rerun_skips_done_redoes_missing_outputs_and_retries_errors_on_request(local_ray, photos, tmp_path):
    out = tmp_path / "out"
    first = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (first.processed, first.errors) == (6, 2)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.src")}

    again = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (again.files, again.skipped, again.processed, again.failed_earlier) == (6, 6, 0, 2)
    assert "4 skipped (done before), 0 errors, 2 failed earlier (--retry-errors to try again)" in again.line()
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.src")} == mtimes

    (out / "p1.src").unlink()
    redo = transcode([str(photos)], str(out), results_format="jsonl", concurrency=1, progress=False)
    assert (redo.skipped, redo.processed, redo.errors) == (5, 1, 0)
    assert (out / "p1.src").exists()

    retry = transcode([str(photos)], str(out), results_format="jsonl", retry_errors=True, concurrency=1,
                      progress=False)
    assert (retry.processed, retry.errors, retry.failed_earlier) == (2, 2, 0)
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
    from benchmarks.batch import RssSampler

    class Fixed(RssSampler):  # the process table of one instant, instead of polling real children
        def processes(self):
            return [("ray::MapWorker", 300 * 2**20), ("ray::IDLE", 100 * 2**20), ("raylet", 50 * 2**20)]

    sampler = Fixed(pid=os.getpid())
    sampler.sample()
    peaks = sampler.stop()
    assert peaks["worker_processes"] == 2 and peaks["driver"] > 0
    assert (peaks["worker_max"], peaks["workers_sum"], peaks["ray_processes_sum"]) == (300, 400, 450)


def test_fixed_settings_record_the_quality_and_rate_control_its_choice(tmp_path, small_photo):
    from sr_codec.batch.workers import EncodeWorker, Options
    from sr_codec.sender.rate.choose import choose

    source = tmp_path / "p.png"
    Image.fromarray(small_photo).save(source)
    data = source.read_bytes()
    cases = {Options(scale=2): 50, Options(scale=2, quality=33): 33, Options(inner="png", scale=1): 100,
             Options(max_bytes=1500): choose(data, max_bytes=1500).quality}
    for options, quality in cases.items():
        row = EncodeWorker(options)({"path": np.array([str(source)]),
                                     "output": np.array([str(tmp_path / "out.src")])}).to_pylist()[0]
        assert row["error"] is None and row["quality"] == quality, options


def test_decode_summary_counts_payload_bytes_in_and_pixels_out():
    from sr_codec.batch import BatchSummary

    summary = BatchSummary(mode="decode", files=2, seconds=1.0)
    summary.add([{"path": "a.src", "error": None, "bytes_in": 1500, "bytes_out": 400_000, "width": 320,
                  "height": 240},
                 {"path": "b.src", "error": "PayloadError: bad", "bytes_in": 20, "bytes_out": None, "width": None,
                  "height": None}])
    line = summary.line()
    assert "0.002 MB of payloads -> 1 images, 0.08 megapixels (0.40 MB of PNG)" in line and "saved" not in line


def test_ray_only_pays_off_when_the_rest_of_the_job_outlasts_its_start_up():
    assert not ray_is_worth_it(0.03, 100, workers=2, start_s=15)  # a plain encode: 3 s of work
    assert ray_is_worth_it(0.5, 200, workers=2, start_s=15)  # rate control, 100 s of work: 15 + 50 s on 2 actors
    assert not ray_is_worth_it(0.5, 200, workers=1, start_s=15)  # one CPU: no gain, only the start-up
    assert not ray_is_worth_it(10.0, 3, workers=2, start_s=15)  # too few files to share
    # this process already runs threads: Ray is weighed against their measured pace, not a plain loop's
    assert not ray_is_worth_it(0.5, 200, workers=2, start_s=15, here_seconds_per_file=0.3)  # 15 + 50 s vs 60 s
    assert ray_is_worth_it(0.5, 2000, workers=8, start_s=15, here_seconds_per_file=0.25)  # 8 actors vs 2x threads


def test_free_cpus_are_what_other_programs_left_idle_while_the_first_files_ran(monkeypatch):
    """Measured over the first batch (machine-wide busy CPU time less this process's own), not the 1-minute load
    average, which still counts a job that has just ended."""
    import sr_codec.batch as batch

    monkeypatch.setattr(batch, "_cpus", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))  # lagging: would leave 1 CPU
    readings = iter([(0.0, 100.0, 10.0), (2.0, 102.2, 11.8)])  # 2 s: 2.2 CPU-s busy, 1.8 of them ours
    monkeypatch.setattr(batch.CpuMeter, "_reading", staticmethod(lambda: next(readings)))
    assert batch.CpuMeter().free_cpus() == 4  # others used 0.2 CPUs
    readings = iter([(0.0, 100.0, 10.0), (2.0, 106.0, 11.8)])  # others kept 2.1 CPUs busy
    assert batch.CpuMeter().free_cpus() == 2
    readings = iter([(0.0, 100.0, 10.0), (2.0, 109.8, 11.8)])  # a busy machine: still one thread, this one
    assert batch.CpuMeter().free_cpus() == 1
    readings = iter([None, None])  # no psutil: the load average
    assert batch.CpuMeter().free_cpus() == 1


def test_in_process_threads_follow_the_free_cpus_up_to_a_cap(photos, tmp_path, monkeypatch):
    import sr_codec.batch as batch

    monkeypatch.setattr(batch, "_cpus", lambda: 16)
    for free, expected in ((1, 1), (3, 3), (16, batch.LOCAL_MAX_THREADS)):
        monkeypatch.setattr(batch.CpuMeter, "free_cpus", lambda self, free=free: free)
        summary = transcode([str(photos)], str(tmp_path / f"out{free}"), runner="local", batch_size=2, progress=False)
        assert (summary.processed, summary.errors, summary.threads) == (6, 2, expected)


def test_in_process_threads_give_one_threads_bytes_and_rows_in_input_order(tmp_path, small_photo, monkeypatch):
    """runner="local" codes ``concurrency`` files at once on threads (no Ray): the same payloads, PNGs and
    error rows as one thread, and the results table in the order of the inputs."""
    from sr_codec.batch import workers

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(11):
        image = np.ascontiguousarray(np.roll(small_photo, 13 * i, axis=i % 2)[: 64 + 8 * i])
        Image.fromarray(image).save(folder / f"p{i:02d}.png")
    (folder / "p05b.jpg").write_bytes(b"\xff\xd8\xff not a JPEG")
    threads = set()
    rows_of = workers.EncodeWorker.rows

    def rows(self, batch):
        threads.add(threading.current_thread().name)
        return rows_of(self, batch)

    monkeypatch.setattr(workers.EncodeWorker, "rows", rows)
    outs = {}
    for concurrency in (1, 3):
        out = tmp_path / f"out{concurrency}"
        summary = transcode([str(folder)], str(out), runner="local", concurrency=concurrency, batch_size=2,
                            progress=False)
        assert (summary.processed, summary.errors, summary.runner) == (12, 1, "local")
        assert ("files at a time" in summary.line()) == (concurrency > 1)
        names = [row["path"].rsplit("/", 1)[-1] for row in read_rows(summary.results, ALL_COLUMNS)]
        assert names == sorted(p.name for p in folder.iterdir())  # the inputs' order
        outs[concurrency] = {p.name: p.read_bytes() for p in out.glob("*.src")}
    assert len(outs[1]) == 11 and outs[3] == outs[1]  # byte for byte
    assert sum(name.startswith("sr_codec-batch") for name in threads) >= 2  # the files really ran side by side

    decoded = transcode([str(tmp_path / "out3")], str(tmp_path / "png"), mode="decode", runner="local",
                        concurrency=3, batch_size=2, progress=False)
    assert (decoded.processed, decoded.errors) == (11, 0)
    for name, payload in outs[1].items():
        png = np.asarray(Image.open(tmp_path / "png" / name.replace(".src", ".png")))
        assert np.array_equal(png, sr_codec.decode(payload))


def test_workers_on_the_cpu_import_no_tensorflow_and_keep_to_their_threads(monkeypatch):
    from sr_codec.batch.workers import EncodeWorker, Options
    from sr_codec.receiver.runtime.litert import THREADS_ENV, default_threads

    for options in (Options(max_bytes=3000), Options(mode="decode", device="cpu"), Options(psnr=True)):
        assert not options.uses_tensorflow  # fast rate control and CPU decodes run LiteRT
    assert Options(mode="decode", device="gpu").uses_tensorflow
    monkeypatch.delenv(THREADS_ENV, raising=False)
    EncodeWorker(Options(threads=1))
    assert os.environ[THREADS_ENV] == "1" and default_threads() == 1  # what every interpreter of the actor gets




def batch_subprocess(*argv: str, prelude: str = "") -> subprocess.CompletedProcess:
    """``sr-codec batch ARGV`` in a fresh interpreter (no Ray started yet): stdout and stderr as a user sees them."""
    code = prelude + "import sys\nfrom sr_codec.cli import main\nsys.exit(main(['batch', *sys.argv[1:]]))\n"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAY_", "TF_CPP"))}
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=600, env=env)


def test_command_line_is_quiet_small_jobs_run_in_process_and_reruns_report_earlier_failures(photos, tmp_path):
    out = tmp_path / "out"
    first = batch_subprocess("encode", str(photos), "--out", str(out), "--max-bytes", "3000", prelude=NO_TENSORFLOW)
    assert first.returncode == 0 and first.stderr == "", first.stderr  # nothing from Ray, LiteRT or TensorFlow
    summary = first.stdout.splitlines()[-2]
    assert "6 files, 6 processed, 0 skipped (done before), 2 errors" in summary
    # 6 small photos: Ray would not pay off, and it says so
    assert "ran in this process" in summary and ": Ray's start-up" in summary

    again = batch_subprocess("encode", str(photos), "--out", str(out), "--runner", "ray")
    assert again.returncode == 0 and again.stderr == ""
    assert "4 skipped (done before), 0 errors, 2 failed earlier (--retry-errors to try again)" in again.stdout

    retried = batch_subprocess("encode", str(photos), "--out", str(out), "--retry-errors", "--runner", "ray",
                               "--concurrency", "1")
    assert retried.returncode == 0 and retried.stderr == "", retried.stderr  # Ray ran, and printed nothing
    assert "6 files, 2 processed, 4 skipped (done before), 2 errors" in retried.stdout and "ran on Ray" in retried.stdout


def test_results_table_rows_survive_the_json_built_table_and_an_infinite_psnr(tmp_path):
    """The Parquet writer builds its table with pyarrow's JSON reader (no pandas import); the rows read back
    are the rows written, an infinite PSNR (a lossless decode) included."""
    from sr_codec.batch.results import ResultsWriter

    rows = [{"path": "/a.png", "output": "/o/a.src", "mode": "encode", "bytes_in": 10, "bytes_out": 5, "width": 4,
             "height": 3, "scale": 2, "quality": 50, "inner": "avif", "psnr": 31.5, "seconds": 0.25, "error": None},
            {"path": "/b.png", "output": None, "mode": "encode", "bytes_in": 0, "bytes_out": None, "width": None,
             "height": None, "scale": None, "quality": None, "inner": None, "psnr": None, "seconds": 0.01,
             "error": 'InputImageError: "quoted" \u00e9'}]
    lossless = [{**rows[0], "path": "/c.png", "psnr": float("inf")}]
    for batch, name in ((rows, "t1"), (lossless, "t2")):
        with ResultsWriter(str(tmp_path / name)) as writer:
            writer.add([dict(row) for row in batch])
        back = read_rows(str(tmp_path / name), ALL_COLUMNS)
        assert [{k: v for k, v in row.items() if k != "run"} for row in back] == batch
        assert len({row["run"] for row in back}) == 1
