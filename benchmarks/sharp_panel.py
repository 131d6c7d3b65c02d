"""Pictures of the sharp look: side-by-side crops and a blind A/B panel.

    python -m benchmarks.sharp_panel crops --photos ../shared/data/val/Set14/comic.png ... --kb 2 4 8 \\
        --out docs/results/sharp_crops.png
    python -m benchmarks.sharp_panel blind --data ../shared/data/val/Set5 ../shared/data/val/Set14 \\
        ../shared/data/val/BSD100 --pairs 40 --out panel/

``crops``: per photo and payload size, one row original | AUTO-REZ | faithful | sharp, each a crop of the
most detailed window, enlarged 2x with nearest neighbour so pixels stay pixels. ``blind``: ``--pairs``
crop triptychs (original, then the two decodes of one payload as "A" and "B" in a random order) written
as ``pair_NN.png``, plus ``key.json`` (which side is sharp) for whoever scores the viewer's answers
(``python -m benchmarks.sharp_panel score --key panel/key.json --answers answers.json``).
``--sharp-checkpoint`` shows an unexported adversarial checkpoint instead of the shipped sharp model.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common.codecs import auto_rez
from benchmarks.common.data import image_paths, load_rgb
from benchmarks.sharp_look import checkpoint_decoder


def _decodes(image: np.ndarray, max_bytes: int, override, sender: str = "auto",
             scale: int | str = "auto") -> dict[str, np.ndarray] | None:
    import warnings

    import sr_codec

    try:
        payload = sr_codec.encode(image, max_bytes=max_bytes, sender=sender, scale=scale)
    except sr_codec.LimitExceededError:
        return None
    h, w = image.shape[:2]
    info = sr_codec.inspect(payload)
    out = {"faithful": sr_codec.decode(payload)}
    if override is not None and info.model_id == override[0]:
        out["sharp"] = override[1](sr_codec.decode_preview(payload))[:h, :w]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["sharp"] = sr_codec.decode(payload, look="sharp")
    out["bytes"] = len(payload)
    out["route"] = f"x{info.scale} {info.model_id}"
    return out


def detail_window(image: np.ndarray, side: int, rng: random.Random | None = None) -> tuple[int, int]:
    """Top-left corner of a ``side`` window with much gradient energy (the best, or a random one of the top 5)."""
    grey = image[..., :3].astype(np.float64).mean(axis=2)
    energy = np.abs(np.diff(grey, axis=0))[:, :-1] + np.abs(np.diff(grey, axis=1))[:-1, :]
    h, w = grey.shape
    step = max(8, side // 4)
    scored = []
    for y in range(0, max(1, h - side), step):
        for x in range(0, max(1, w - side), step):
            scored.append((energy[y:y + side, x:x + side].mean(), y, x))
    scored.sort(reverse=True)
    pick = scored[0] if rng is None else rng.choice(scored[:5])
    return pick[1], pick[2]


def _crop(image: np.ndarray, y: int, x: int, side: int, zoom: int) -> Image.Image:
    tile = Image.fromarray(np.ascontiguousarray(image[y:y + side, x:x + side, :3]))
    return tile.resize((tile.width * zoom, tile.height * zoom), Image.NEAREST)


def _strip(tiles: list[Image.Image], labels: list[str], gap: int = 6) -> Image.Image:
    w = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    h = max(t.height for t in tiles) + 18
    canvas = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile, (x, 18))
        draw.text((x + 2, 3), label, fill="black")
        x += tile.width + gap
    return canvas


def crops(photos: Sequence[Path], kbs: Sequence[float], out: Path, side: int, zoom: int, override,
          sender: str = "auto", scale: int | str = "auto") -> Path:
    rows = []
    for path in photos:
        image = load_rgb(path)
        y, x = detail_window(image, side)
        for kb in kbs:
            max_bytes = int(kb * 1000)
            dec = _decodes(image, max_bytes, override, sender, scale)
            rez = auto_rez(image, max_bytes - 5)
            if dec is None or rez is None:
                print(f"{path.name} at {kb} KB: nothing fits", file=sys.stderr)
                continue
            tiles = [_crop(image, y, x, side, zoom), _crop(rez[1], y, x, side, zoom),
                     _crop(dec["faithful"], y, x, side, zoom), _crop(dec["sharp"], y, x, side, zoom)]
            labels = [f"original {path.stem}", f"AUTO-REZ 1/{rez[2]} {len(rez[0]) + 5} B",
                      f"faithful {dec['bytes']} B {dec['route']}", f"sharp (same payload)"]
            rows.append(_strip(tiles, labels))
    width = max(r.width for r in rows)
    sheet = Image.new("RGB", (width, sum(r.height + 8 for r in rows)), "white")
    yy = 0
    for r in rows:
        sheet.paste(r, (0, yy))
        yy += r.height + 8
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


def blind(folders: Sequence[str], pairs: int, kbs: Sequence[float], out: Path, side: int, zoom: int, override,
          seed: int, sender: str = "auto", scale: int | str = "auto", windows: str = "detail") -> Path:
    """``windows``: "detail" (one of the 5 most detailed windows of each photo) or "random" (anywhere, so flat
    sky and skin come up as often as they occur and the panel is not tilted towards texture)."""
    rng = random.Random(seed)
    paths = [p for folder in folders for p in image_paths(folder)]
    rng.shuffle(paths)
    out.mkdir(parents=True, exist_ok=True)
    key = []
    for path in paths:
        if len(key) >= pairs:
            break
        image = load_rgb(path)
        kb = rng.choice(list(kbs))
        dec = _decodes(image, int(kb * 1000), override, sender, scale)
        if dec is None or np.array_equal(dec["faithful"], dec["sharp"]):
            continue  # nothing fits, or no sharp twin for that route: nothing to compare
        if windows == "random":
            y, x = rng.randrange(image.shape[0] - side + 1), rng.randrange(image.shape[1] - side + 1)
        else:
            y, x = detail_window(image, side, rng)
        sharp_is_a = rng.random() < 0.5
        a, b = (dec["sharp"], dec["faithful"]) if sharp_is_a else (dec["faithful"], dec["sharp"])
        n = len(key)
        _strip([_crop(image, y, x, side, zoom), _crop(a, y, x, side, zoom), _crop(b, y, x, side, zoom)],
               ["original", "A", "B"]).save(out / f"pair_{n:02d}.png")
        key.append({"pair": n, "photo": f"{path.parent.name}/{path.name}", "kb": kb, "bytes": dec["bytes"],
                    "route": dec["route"], "sharp": "A" if sharp_is_a else "B", "window": [y, x, side],
                    "windows": windows})
    (out / "key.json").write_text(json.dumps(key, indent=1) + "\n")
    return out


def score(key_file: Path, answers_file: Path) -> dict:
    """Answers: {"pair_NN": {"photo": "A"|"B", "faithful": "A"|"B"}}: which looks better as a photo, which is truer."""
    key = {f"pair_{k['pair']:02d}": k for k in json.loads(key_file.read_text())}
    answers = json.loads(answers_file.read_text())
    photo = [answers[p]["photo"] == key[p]["sharp"] for p in key if p in answers]
    truer = [answers[p]["faithful"] == key[p]["sharp"] for p in key if p in answers]
    return {"pairs": len(photo), "sharp_preferred_as_photo": sum(photo), "sharp_judged_more_faithful": sum(truer),
            "share_preferred_as_photo": sum(photo) / max(1, len(photo)),
            "share_judged_more_faithful": sum(truer) / max(1, len(truer))}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sharp_panel", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crops")
    c.add_argument("--photos", nargs="+", type=Path, required=True)
    c.add_argument("--kb", type=float, nargs="+", default=[2, 4, 8])
    c.add_argument("--out", type=Path, default=Path("docs/results/sharp_crops.png"))
    b = sub.add_parser("blind")
    b.add_argument("--data", nargs="+", required=True)
    b.add_argument("--pairs", type=int, default=40)
    b.add_argument("--kb", type=float, nargs="+", default=[2, 3, 4])
    b.add_argument("--out", type=Path, default=Path("panel"))
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--windows", choices=["detail", "random"], default="detail",
                   help="crop windows: among each photo's most detailed (default) or anywhere")
    for q in (c, b):
        q.add_argument("--side", type=int, default=96, help="crop side in pixels")
        q.add_argument("--zoom", type=int, default=2)
        q.add_argument("--sharp-checkpoint", type=Path, default=None)
        q.add_argument("--sender", default="auto", choices=["auto", "bicubic", "learned"])
        q.add_argument("--scale", default="auto", type=lambda v: v if v == "auto" else int(v),
                       help="auto (rate control picks) or a fixed scale")
    s = sub.add_parser("score")
    s.add_argument("--key", type=Path, required=True)
    s.add_argument("--answers", type=Path, required=True)
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.command == "score":
        print(json.dumps(score(args.key, args.answers), indent=1))
        return 0
    override = checkpoint_decoder(args.sharp_checkpoint) if args.sharp_checkpoint else None
    if args.command == "crops":
        print(crops(args.photos, args.kb, args.out, args.side, args.zoom, override, args.sender, args.scale))
    else:
        print(blind(args.data, args.pairs, args.kb, args.out, args.side, args.zoom, override, args.seed, args.sender,
                    args.scale, args.windows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
