"""Write the seed corpus: small real payloads made by ``sr_codec.encode`` (run from the repository root).

    python fuzz/make_corpus.py            # writes fuzz/corpus/*.srp

Every inner codec, RGB and RGBA (alpha coded at low and at full resolution, and constant),
scales 1 to 16, tiny and thin images, plus payloads carrying optional extension fields. Images
are scikit-image's sample photos, cropped small so that each decode takes about a millisecond.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from skimage import data as samples

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's sr_codec, installed or not

import sr_codec  # noqa: E402
from sr_codec.format.payload import pack, unpack  # noqa: E402


def _images() -> dict[str, np.ndarray]:
    astronaut = samples.astronaut()
    coffee = samples.coffee()
    yy, xx = np.mgrid[0:40, 0:56]
    soft = np.clip(255 - 6 * np.hypot(yy - 20, xx - 28), 0, 255).astype(np.uint8)  # soft disc: low-res alpha wins
    hard = np.where((yy // 4 + xx // 4) % 2 == 0, 255, 0).astype(np.uint8)  # checkerboard: full-res alpha wins
    face = astronaut[60:100, 190:246]
    return {
        "face": face,
        "coffee": coffee[100:164, 200:248],
        "gray": samples.camera()[100:148, 200:260],
        "rgba-soft": np.dstack([face, soft]),
        "rgba-hard": np.dstack([face, hard]),
        "rgba-constant": np.dstack([face, np.full((40, 56), 200, np.uint8)]),
        "tiny": astronaut[200:203, 200:205],
        "one-pixel": astronaut[300:301, 300:301],
        "strip": astronaut[250, 100:400][None],
    }


def make_corpus() -> dict[str, bytes]:
    corpus = {}
    for name, image in _images().items():
        for inner in ("avif", "webp", "jpeg", "png"):
            for scale in (1, 2, 4, 10):
                corpus[f"{name}-{inner}-x{scale}"] = sr_codec.encode(image, scale=scale, inner=inner)
    face = corpus["face-avif-x4"]
    corpus["face-avif-x16"] = sr_codec.encode(_images()["face"], scale=16)
    corpus["face-avif-q0"] = sr_codec.encode(_images()["face"], quality=0)
    corpus["face-avif-q100"] = sr_codec.encode(_images()["face"], quality=100)
    corpus["face-avif-extensions"] = pack(unpack(face), {2: "caption", 4: [1, 2.5, None, b"\x00"], 6: {"k": True}})
    return corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "corpus")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus()
    for name, payload in corpus.items():
        (args.out / f"{name}.srp").write_bytes(payload)
    sizes = sorted(len(p) for p in corpus.values())
    print(f"wrote {len(corpus)} payloads to {args.out} ({sizes[0]}..{sizes[-1]} bytes, median {sizes[len(sizes) // 2]})")


if __name__ == "__main__":
    main()
