"""How far the Python SSIMULACRA2 (PyPI ``ssimulacra2``) is from the scale its authors publish.

    python -m benchmarks.ssimulacra2_check --data ../shared/data/val/BSD100 [--limit 20]

libjxl's ssimulacra2 README anchors its scale with the average score of reference encoders:
libjpeg-turbo 4:2:0 at quality 14 / 20 / 35 and cjxl at distance 14 / 9 / 5 average about 10 / 30 / 50.
This codes the photos at those settings (Pillow's libjpeg-turbo; Debian's ``cjxl`` when present) and
prints the mean Python score beside each anchor. The anchors are averages over the authors' own photos,
so agreement within a few points is what to expect, not equality.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from benchmarks.common.data import image_paths, load_images
from benchmarks.common.perceptual import ssimulacra2
from benchmarks.common.report import machine

JPEG_ANCHORS = {14: 10.0, 20: 30.0, 35: 50.0}
JXL_ANCHORS = {14.0: 10.0, 9.0: 30.0, 5.0: 50.0}


def jpeg_round_trip(rgb: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling="4:2:0")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def jxl_round_trip(rgb: np.ndarray, distance: float) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        src, coded, back = Path(tmp, "a.png"), Path(tmp, "a.jxl"), Path(tmp, "b.png")
        Image.fromarray(rgb).save(src)
        subprocess.run(["cjxl", str(src), str(coded), "-d", str(distance)], check=True, capture_output=True)
        subprocess.run(["djxl", str(coded), str(back)], check=True, capture_output=True)
        return np.asarray(Image.open(back).convert("RGB"))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ssimulacra2_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--out", type=Path, default=Path("docs/results/ssimulacra2_check.json"))
    args = p.parse_args(argv)
    images = load_images(image_paths(args.data, args.limit))
    rows = []
    coders = [("libjpeg-turbo 4:2:0 quality", JPEG_ANCHORS, jpeg_round_trip)]
    if shutil.which("cjxl") and shutil.which("djxl"):
        coders.append(("cjxl distance", JXL_ANCHORS, jxl_round_trip))
    else:
        print("note: no cjxl/djxl (apt-get install libjxl-tools): JPEG anchors only", file=sys.stderr)
    for label, anchors, round_trip in coders:
        for setting, anchor in anchors.items():
            scores = [ssimulacra2(rgb, round_trip(rgb, setting)) for _, rgb in images]
            rows.append({"encoder": f"{label} {setting:g}", "published_average": anchor,
                         "python_mean": float(np.mean(scores)), "python_median": float(np.median(scores)),
                         "photos": len(scores)})
            print(f"{label} {setting:g}: published ~{anchor:.0f}, Python mean {np.mean(scores):.1f} "
                  f"(median {np.median(scores):.1f}, {len(scores)} photos)", flush=True)
    command = "python -m benchmarks.ssimulacra2_check " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command, "machine": machine(), "data": args.data, "rows": rows},
                                   indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
