"""Encode a photo with sr_codec, decode it, and compare: bytes, PSNR, and a side-by-side PNG.

    python examples/quickstart.py                      # scikit-image's astronaut
    python examples/quickstart.py my_photo.jpg --out compare.png --scale 4
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import sr_codec
from sr_codec.imaging.metrics import psnr
from sr_codec.imaging.normalise import load_image


def png_bytes(rgb: np.ndarray) -> int:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", optimize=True)
    return len(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", nargs="?", type=Path, help="image file (default: scikit-image's astronaut)")
    parser.add_argument("--out", type=Path, default=Path("side_by_side.png"), help="original | decoded PNG")
    parser.add_argument("--scale", type=int, default=4)
    parser.add_argument("--quality", type=int, default=None)
    parser.add_argument("--inner", default=None, help="avif (default), webp, jpeg or png")
    parser.add_argument("--model", default="default", help="default (the shipped model), bicubic or a model id")
    args = parser.parse_args(argv)

    try:
        if args.photo is None:
            from skimage import data

            source, name, file_bytes = data.astronaut(), "scikit-image astronaut", None
        else:
            source, name, file_bytes = args.photo, str(args.photo), args.photo.stat().st_size
        original = load_image(source).rgb  # the upright 8-bit sRGB pixels encode sees
        payload = sr_codec.encode(source, scale=args.scale, quality=args.quality, inner=args.inner)
        decoded = sr_codec.decode(payload, model=args.model)[..., :3]
    except (sr_codec.SrCodecError, OSError) as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        return 1

    info = sr_codec.inspect(payload)
    h, w = original.shape[:2]
    lossless = png_bytes(original)
    print(f"{name}: {w} x {h}")
    if file_bytes is not None:
        print(f"  original file     {file_bytes:>9,} bytes")
    print(f"  as PNG            {lossless:>9,} bytes")
    print(f"  sr_codec payload  {len(payload):>9,} bytes  ({lossless / len(payload):.0f}x smaller than PNG, "
          f"{info.bits_per_pixel:.3f} bits/pixel, x{info.scale} {info.inner})")
    print(f"  RGB PSNR          {psnr(original, decoded):9.2f} dB  (model: {args.model})")

    Image.fromarray(np.concatenate([original, decoded], axis=1)).save(args.out)
    print(f"  wrote {args.out} (original | decoded)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
