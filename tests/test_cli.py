"""The ``sr-codec`` command line: encode (rate control too) / decode / inspect, one-line errors, non-zero exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
import sr_codec.rate
from sr_codec import cli
from sr_codec.cli import main
from sr_codec.imaging.metrics import psnr
from conftest import NO_TENSORFLOW


@pytest.fixture()
def photo_png(tmp_path, small_photo):
    path = tmp_path / "photo.png"
    Image.fromarray(small_photo).save(path)
    return path


@pytest.fixture()
def tiny_png(tmp_path, small_photo):
    """48 x 64: rate control on it takes a fraction of a second."""
    path = tmp_path / "tiny.png"
    Image.fromarray(small_photo[:48, :64]).save(path)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected_code: int = 1) -> None:
    assert code == expected_code
    assert err.count("\n") == 1 and err.startswith("sr-codec: error: ")
    assert "Traceback" not in err


def test_encode_inspect_decode(capsys, tmp_path, photo_png, small_photo):
    payload = tmp_path / "photo.src"
    code, out, err = run(capsys, "encode", photo_png, payload, "--scale", "2", "--quality", "60", "--inner", "webp")
    assert code == 0 and err == ""
    data = payload.read_bytes()
    assert f"{len(data)} bytes" in out
    info = sr_codec.inspect(data)
    assert (info.width, info.height, info.scale, info.inner) == (160, 120, 2, "webp")

    code, out, err = run(capsys, "inspect", payload)
    assert code == 0 and err == ""
    assert "160 x 120 RGB" in out and "x2" in out and f"webp, {info.inner_bytes} bytes" in out
    assert f"{len(data)} bytes" in out and f"{info.overhead_bytes} bytes container" in out

    decoded = tmp_path / "decoded.png"
    code, out, err = run(capsys, "decode", payload, decoded, "--model", "bicubic")
    assert code == 0 and err == ""
    pixels = np.asarray(Image.open(decoded))
    assert np.array_equal(pixels, sr_codec.decode(data, model="bicubic"))
    assert pixels.shape == small_photo.shape

    preview = tmp_path / "preview.png"
    assert run(capsys, "decode", payload, preview, "--preview")[0] == 0
    assert Image.open(preview).size == (80, 60)


def test_rgba_decodes_to_rgba_png(capsys, tmp_path, small_photo):
    src = tmp_path / "rgba.png"
    alpha = np.tile(np.linspace(0, 255, 160).astype(np.uint8), (120, 1))
    Image.fromarray(np.dstack([small_photo, alpha])).save(src)
    assert run(capsys, "encode", src, tmp_path / "p")[0] == 0
    assert run(capsys, "decode", tmp_path / "p", tmp_path / "out.png", "--model", "bicubic")[0] == 0
    assert Image.open(tmp_path / "out.png").mode == "RGBA"
    assert "RGBA" in run(capsys, "inspect", tmp_path / "p")[1]


def test_max_bytes_and_modes(capsys, tmp_path, tiny_png):
    for extra in ([], ["--mode", "fast"], ["--mode", "best"], ["--scale", "auto"]):
        out_path = tmp_path / f"budget{len(extra)}.src"
        code, out, err = run(capsys, "encode", tiny_png, out_path, "--max-bytes", "400", *extra)
        assert code == 0 and err == "", err
        data = out_path.read_bytes()
        assert len(data) <= 400 and f"{len(data)} bytes" in out
        info = sr_codec.inspect(data)
        assert (info.width, info.height) == (64, 48) and info.scale in (1, 2, 4, 10)
        assert sr_codec.decode(data).shape == (48, 64, 3)
    # a fixed scale with a budget keeps the scale and picks the quality
    code, _, _ = run(capsys, "encode", tiny_png, tmp_path / "x2.src", "--scale", "2", "--max-bytes", "300")
    data = (tmp_path / "x2.src").read_bytes()
    assert code == 0 and len(data) <= 300 and sr_codec.inspect(data).scale == 2


def test_scale_auto_and_target_psnr(capsys, tmp_path, tiny_png, small_photo):
    tiny = small_photo[:48, :64]
    assert run(capsys, "encode", tiny_png, tmp_path / "auto.src", "--scale", "AUTO")[0] == 0
    assert len((tmp_path / "auto.src").read_bytes()) <= sr_codec.rate.default_budget(*sr_codec.decode_preview((tmp_path / "auto.src").read_bytes()).shape[:2])

    sizes = {}
    for target in ("22", "26"):  # x2 bicubic on this crop tops out near 28 dB
        out_path = tmp_path / f"target{target}.src"
        code, _, err = run(capsys, "encode", tiny_png, out_path, "--target-psnr", target, "--scale", "2",
                           "--mode", "best")  # fast mode predicts the network's PSNR; best decodes it
        assert code == 0 and err == ""
        data = out_path.read_bytes()
        assert sr_codec.inspect(data).scale == 2
        assert psnr(tiny, sr_codec.decode(data)) >= float(target)
        sizes[target] = len(data)
    assert sizes["22"] < sizes["26"]  # the smallest payload reaching each target

    code, _, err = run(capsys, "encode", tiny_png, tmp_path / "miss.src", "--target-psnr", "90", "--max-bytes", "400")
    assert code == 0 and "warning: target_psnr 90 dB not reached" in err


def test_decode_tile_and_runtime_reach_decode(capsys, tmp_path, photo_png, monkeypatch):
    payload = tmp_path / "photo.src"
    assert run(capsys, "encode", photo_png, payload)[0] == 0
    data = payload.read_bytes()
    whole = sr_codec.decode(data)
    code, _, err = run(capsys, "decode", payload, tmp_path / "tiled.png", "--tile", "8", "--device", "cpu")
    assert code == 0 and err == ""
    tiled = np.asarray(Image.open(tmp_path / "tiled.png"))
    assert tiled.shape == whole.shape and np.abs(tiled.astype(int) - whole).max() <= 1  # tiling moves <= 1 LSB

    calls = []
    monkeypatch.setattr(cli, "decode", lambda payload, **kwargs: calls.append(kwargs) or whole)
    assert run(capsys, "decode", payload, tmp_path / "o.png", "--runtime", "litert", "--tile", "0")[0] == 0
    assert run(capsys, "decode", payload, tmp_path / "o.png")[0] == 0
    assert run(capsys, "decode", payload, tmp_path / "o.png", "--look", "sharp")[0] == 0
    assert calls == [dict(device=None, model=None, tile=0, runtime="litert", look="faithful"),
                     dict(device=None, model=None, tile=None, runtime=None, look="faithful"),
                     dict(device=None, model=None, tile=None, runtime=None, look="sharp")]


def test_bad_inputs_exit_1_with_one_line(capsys, tmp_path, photo_png):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x01 definitely not a payload")
    payload = tmp_path / "ok.src"
    assert run(capsys, "encode", photo_png, payload)[0] == 0
    capsys.readouterr()
    cases = [
        ("encode", tmp_path / "missing.jpg", tmp_path / "out"),
        ("encode", garbage, tmp_path / "out"),
        ("encode", photo_png, tmp_path / "no-such-dir" / "out"),
        ("encode", photo_png, tmp_path / "out", "--scale", "0"),
        ("encode", photo_png, tmp_path / "out", "--quality", "500"),
        ("encode", photo_png, tmp_path / "out", "--scale", "17"),
        ("encode", photo_png, tmp_path / "out", "--max-bytes", "10"),  # no setting is that small
        ("encode", photo_png, tmp_path / "out", "--max-bytes", "0"),
        ("encode", photo_png, tmp_path / "out", "--target-psnr", "-3"),
        ("encode", photo_png, tmp_path / "out", "--target-psnr", "nan"),
        ("encode", photo_png, tmp_path / "out", "--scale", "auto", "--quality", "50"),
        ("decode", garbage, tmp_path / "out.png"),
        ("decode", tmp_path / "missing", tmp_path / "out.png"),
        ("decode", payload, tmp_path / "out.unknown-extension", "--model", "bicubic"),
        ("decode", payload, tmp_path / "out.png", "--model", "no-such-model"),
        ("decode", payload, tmp_path / "out.png", "--tile", "-1"),
        ("inspect", garbage),
        ("inspect", photo_png),
        ("inspect", tmp_path),
    ]
    for argv in cases:
        code, out, err = run(capsys, *argv)
        assert_one_line_error(code, err)


def test_usage_errors_exit_2_with_one_line(capsys, photo_png, tmp_path):
    o = tmp_path / "o"
    for argv in ([], ["encode"], ["frobnicate", "x"], ["encode", photo_png, o, "--inner", "gif"],
                 ["encode", photo_png, o, "--scale", "four"], ["encode", photo_png, o, "--scale", "2.5"],
                 ["encode", photo_png, o, "--max-bytes", "lots"], ["encode", photo_png, o, "--target-psnr", "high"],
                 ["encode", photo_png, o, "--mode", "slow"], ["decode", o, o, "--runtime", "onnx"],
                 ["decode", o, o, "--tile", "big"]):
        with pytest.raises(SystemExit) as exit_info:
            main([str(a) for a in argv])
        assert_one_line_error(exit_info.value.code, capsys.readouterr().err, expected_code=2)


def test_python_dash_m_entry_point(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"junk")
    result = subprocess.run([sys.executable, "-m", "sr_codec", "inspect", str(garbage)],
                            capture_output=True, text=True, timeout=120)
    assert_one_line_error(result.returncode, result.stderr)
    version = subprocess.run([sys.executable, "-m", "sr_codec", "--version"], capture_output=True, text=True,
                             timeout=120)
    assert version.returncode == 0 and sr_codec.__version__ in version.stdout


def test_quickstart_example(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    out = tmp_path / "side_by_side.png"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(repo / "examples" / "quickstart.py"), "--out", str(out),
                             "--model", "bicubic"], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert "sr_codec payload" in result.stdout and "RGB PSNR" in result.stdout
    assert Image.open(out).size == (1024, 512)  # astronaut | decoded astronaut


# ------------------------------------------------------------------ what reaches a user's terminal (file descriptor 2)



def cli_subprocess(*argv, prelude: str = "") -> subprocess.CompletedProcess:
    """``sr-codec ARGV`` in a fresh interpreter: its stderr is what a terminal shows (capsys sees ``sys.stderr``
    only, not what is written to file descriptor 2, where the CLI silences native log lines)."""
    code = prelude + "import sys\nfrom sr_codec.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = {key: value for key, value in os.environ.items() if key not in ("TF_CPP_MIN_LOG_LEVEL", "SR_CODEC_VERBOSE")}
    return subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True,
                          timeout=300, env=env)


def test_warnings_reach_stderr_of_the_command_and_nothing_else_does(tmp_path, tiny_png):
    """Every sr_codec warning is a `warning:` line on the real stderr; LiteRT's own log lines stay hidden."""
    frames = [Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)) for i in range(2)]
    frames[0].save(tmp_path / "two.gif", save_all=True, append_images=frames[1:])
    result = cli_subprocess("encode", tmp_path / "two.gif", tmp_path / "gif.src")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "warning: the image has 2 frames; sr_codec codes the first frame only " \
                            "(a payload holds one still image)\n"

    result = cli_subprocess("encode", tiny_png, tmp_path / "miss.src", "--target-psnr", "90")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: target_psnr 90 dB not reached"), result.stderr

    # the decode that runs the x4 network through LiteRT (the XNNPACK delegate logs on fd 2): nothing on stderr
    assert cli_subprocess("encode", tiny_png, tmp_path / "x4.src", "--scale", "4").returncode == 0
    result = cli_subprocess("decode", tmp_path / "x4.src", tmp_path / "x4.png")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    result = cli_subprocess("decode", tmp_path / "x4.src", tmp_path / "x4.png", "--verbose")
    assert result.returncode == 0 and "XNNPACK" in result.stderr  # --verbose lets the native lines through


def test_keras_runtime_without_tensorflow_says_tensorflow_is_missing(tmp_path, tiny_png):
    assert run_quiet("encode", tiny_png, tmp_path / "p.src", "--scale", "4") == 0
    result = cli_subprocess("decode", tmp_path / "p.src", tmp_path / "p.png", "--runtime", "keras", "--device", "cpu",
                            prelude=NO_TENSORFLOW)
    assert_one_line_error(result.returncode, result.stderr)
    assert "TensorFlow, which is not installed" in result.stderr and "pip install 'sr-codec[train]'" in result.stderr
    assert "no shipped .tflite" not in result.stderr  # the old message, false: every upscaler ships one


def run_quiet(*argv) -> int:
    return main([str(a) for a in argv])


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("encode", "decode", "inspect", "batch"):
        assert command in out.split("{", 1)[1].split("}", 1)[0].split(",")


ENCODE_ARGV = ["--scale", "auto", "--quality", "40", "--inner", "webp", "--max-bytes", "3000", "--target-psnr",
               "30.5", "--mode", "best", "--sender", "bicubic"]


def test_encode_options_are_defined_once_for_encode_and_batch():
    """`sr-codec encode` and `sr-codec batch encode` read the same encode options into the same arguments."""
    pytest.importorskip("ray", reason="the `scale` extra (ray[data]) is not installed")
    from sr_codec.batch.__main__ import parser as batch_parser

    single = cli._parser().parse_args(["encode", "in.jpg", "out.src", *ENCODE_ARGV])
    batch = batch_parser().parse_args(["encode", "photos/", "--out", "o", *ENCODE_ARGV])
    expected = dict(scale="auto", quality=40, inner="webp", max_bytes=3000, target_psnr=30.5, mode="best",
                    sender="bicubic")
    assert cli.encode_kwargs(single) == cli.encode_kwargs(batch) == expected
    for parse in (lambda a: cli._parser().parse_args(["encode", "i", "o", *a]),
                  lambda a: batch_parser().parse_args(["encode", "i", "--out", "o", *a])):
        assert parse(["--rate-mode", "best"]).rate_mode == "best"  # the batch command's old spelling, hidden
        assert parse([]).rate_mode == "fast" and parse(["--scale", "AUTO"]).scale == "auto"
        assert parse(["--scale", "10"]).scale == 10
    assert "--rate-mode" not in batch_parser().format_help()
