"""The representative low-res inputs an int8 upscaler is calibrated on: what its role's receiver sees.

:func:`representative_low_res` cuts patches from training photos (``../shared/data/train`` by default,
the folders the models were trained on) and makes each the way a payload's low-res is made for the
model's role:

* ``codec`` (payloads of a lossy inner codec): bicubic-downsampled (:func:`sr_codec.codecs.degrade.degrade`)
  and AVIF-coded at a quality drawn from the model's training range (its ``clean_fraction`` left clean);
* ``clean`` (lossless inner codecs, ``upscale()``): downsampled only;
* ``pair`` (the learned sender's upscaler): thumbnails of the pair's downscaler, AVIF-coded likewise.

Deterministic for a seed (the AVIF encoder is), so shipping the same weights twice writes the same file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..zoo import manifest as zoo

DEFAULT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "train"
PATCHES = 192
LOW_RES_PATCH = {2: 64, 3: 56, 4: 48}  # low-res side per scale; larger scales: 32 (BSD500's 321-pixel side)
DEFAULT_QUALITY = (0, 90)
MIN_SIDE = 8  # low-res pixels: photos too small for this are skipped


def _photos(data: list[Path]) -> list[Path]:
    from ..imaging.io import list_images

    files = list_images([str(d) for d in data]) if all(Path(d).exists() for d in data) else []
    if not files:
        raise ModelError(f"no calibration photos under {[str(d) for d in data]} (int8 models are calibrated on "
                         "training photos: pass --calibration DIR)")
    return sorted(files)


def _pair_downscaler(model_id: str, weights_dir: Path) -> str | None:
    for entry in zoo.read_manifest(weights_dir).get("pairs", {}).values():
        if entry["upscaler"] == model_id:
            return entry["downscaler"]
    return None


def representative_low_res(model_id: str, weights_dir: Path = zoo.WEIGHTS_DIR, data: list[Path] | None = None,
                           count: int = PATCHES, seed: int = 0) -> list[np.ndarray]:
    """``count`` float32 ``[1, p, p, 3]`` low-res patches in 0..1 for ``model_id``'s role (see the module)."""
    from ..codecs.degrade import degrade
    from ..imaging.io import load_rgb

    info = zoo.model_info(model_id, weights_dir)
    scale, role = int(info["scale"]), info.get("role", "codec")
    degradation = info.get("training", {}).get("degradation") or {}
    config = info.get("training", {}).get("config") or {}
    q_min, q_max = degradation.get("quality_range") or (config.get("quality_min", DEFAULT_QUALITY[0]),
                                                         config.get("quality_max", DEFAULT_QUALITY[1]))
    clean_fraction = 1.0 if role == "clean" else float(degradation.get("clean_fraction", 0.0))
    down_id = _pair_downscaler(model_id, weights_dir) if role == "pair" else None
    if role == "pair" and down_id is None:
        raise ModelError(f"{model_id} has the pair role but no pair in the manifest names it")
    patch = LOW_RES_PATCH.get(scale, 32)
    photos = _photos(data or [DEFAULT_DATA])
    rng = np.random.default_rng(seed)
    patches: list[np.ndarray] = []
    for index in rng.permutation(len(photos)).tolist() * (count // len(photos) + 1):
        if len(patches) == count:
            break
        hr = load_rgb(photos[index])
        side = min(patch, min(hr.shape[:2]) // scale) * scale  # smaller photos give smaller patches
        if side < MIN_SIDE * scale:
            continue
        y, x = int(rng.integers(0, hr.shape[0] - side + 1)), int(rng.integers(0, hr.shape[1] - side + 1))
        crop = np.ascontiguousarray(hr[y:y + side, x:x + side])
        quality = int(rng.integers(q_min, q_max + 1))
        if rng.random() < clean_fraction:
            low = degrade(crop, scale, "png")
        elif down_id is not None:
            from ..codecs.base import by_name
            from ..sender.learned import learned_low_res

            avif = by_name("avif")
            low = avif.decode(avif.encode(learned_low_res(crop, scale, down_id, weights_dir), quality))
        else:
            low = degrade(crop, scale, "avif", quality)
        patches.append((low[None].astype(np.float32) / 255.0))
    if len(patches) < count:
        raise ModelError(f"no photo of {MIN_SIDE * scale} pixels a side for calibration in {data}")
    return patches
