"""Rules that used to be written twice and drifted, now one each: checked through the public API."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sr_codec
from sr_codec import AnimatedImageWarning, InputImageError, PayloadError, decode, encode, inspect, upscale
from sr_codec.cli import main as cli_main
from sr_codec.imaging.resample import upsample_bicubic
from sr_codec.zoo import manifest as zoo


def _image(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1) % 256
    return np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------ which model a payload names


@pytest.mark.parametrize("inner, sender", [("png", "auto"), ("avif", "bicubic"), ("avif", "learned")])
def test_rate_control_names_the_same_model_as_plain_encode(inner, sender):
    from sr_codec.sender.learned import learned_pair

    if sender == "learned" and learned_pair(4) is None:
        pytest.skip("no learned pair ships for x4")
    image = _image(96, 128)  # a thumbnail big enough for the learned sender
    plain = inspect(encode(image, scale=4, inner=inner, sender=sender))
    budgeted = inspect(encode(image, scale=4, inner=inner, max_bytes=200_000, sender=sender))
    assert budgeted.model_id == plain.model_id
    from sr_codec.codecs import by_name
    from sr_codec.sender.builder import payload_model_id, resolve_sender

    codec = by_name(inner)
    expected = payload_model_id(4, codec, sender=resolve_sender(sender, 4, codec, rgb=image))
    if inner == "png":
        assert expected == zoo.upscale_model_id(4)
    assert plain.model_id == expected


# ------------------------------------------------------------------------------------- the scale rule


def test_upscale_takes_the_scales_encode_takes():
    low = _image(12, 16)
    # x3 has no network: plain bicubic, exactly what decode does for a payload at x3
    np.testing.assert_array_equal(upscale(low, 3), upsample_bicubic(low, 3))
    payload = encode(_image(36, 48), scale=3, inner="png")
    assert inspect(payload).model_id == zoo.BICUBIC
    np.testing.assert_array_equal(decode(payload), upscale(sr_codec.decode_preview(payload), 3))
    for bad in (0, 17, 100, 2.5, True, "4"):
        with pytest.raises(InputImageError, match="scale must be an integer in 1..16"):
            upscale(low, bad)
        with pytest.raises(InputImageError, match="scale must be an integer in 1..16"):
            encode(low, scale=bad) if bad != "4" else encode(low, scale=-1)


# ------------------------------------------------------------------------------- not a payload at all


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_image()).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("data, what", [(b"hello, this is a text file\n", "text"), (None, "a JPEG image"),
                                        (b"\x89PNG\r\n\x1a\n" + bytes(40), "a PNG image")])
def test_foreign_files_are_called_what_they_are(data, what):
    data = _jpeg_bytes() if data is None else data
    for call in (decode, inspect, sr_codec.decode_preview):
        with pytest.raises(PayloadError, match=f"not an sr_codec payload: the data is {what}") as info:
            call(data)
        assert "newer sr_codec" not in str(info.value) and "version" not in str(info.value)


def test_cli_says_a_text_file_is_not_a_payload(tmp_path, capsys):
    note = tmp_path / "note.txt"
    note.write_text("hello\n")
    assert cli_main(["inspect", str(note)]) == 1
    assert "not an sr_codec payload: the data is text" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------- messages


def test_a_missing_path_is_named_as_typed(tmp_path):
    for path in (Path("missing.jpg"), tmp_path / "missing.jpg"):
        with pytest.raises(InputImageError) as info:
            encode(path)
        assert f"'{path}'" in str(info.value) and "PosixPath" not in str(info.value)


# --------------------------------------------------------------------------------- animated inputs


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animated_input_codes_its_first_frame_and_warns(tmp_path, fmt):
    first, second = _image(seed=1), _image(seed=2)[::-1].copy()
    path = tmp_path / f"anim.{fmt.lower()}"
    frames = [Image.fromarray(first), Image.fromarray(second)]
    options = {"lossless": True} if fmt == "WEBP" else {}
    frames[0].save(path, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)
    with pytest.warns(AnimatedImageWarning, match="2 frames; sr_codec codes the first frame only"):
        payload = encode(path, scale=1, inner="png")
    still = tmp_path / f"still.{fmt.lower()}"
    frames[0].save(still, fmt, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnimatedImageWarning)
        assert encode(still, scale=1, inner="png") == payload  # the same pixels: the first frame
