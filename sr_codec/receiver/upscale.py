"""The upscaler: low-res RGB in, full-res RGB out, through a shipped network or plain bicubic.

The network runs through :mod:`sr_codec.receiver.runtime`: loaded once per process, on the GPU when
there is one, tiled so any size decodes in bounded memory, batched across images.
The runtime (and TensorFlow) is imported only when a network actually runs, which keeps
``import sr_codec`` light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputImageError, ModelError
from ..format.payload import check_scale
from ..imaging.resample import upsample_bicubic
from ..zoo import manifest as zoo


def upscale(
    image: np.ndarray,
    scale: int,
    *,
    device: str | None = None,
    model_id: str | None = None,
    tile: int | None = None,
    runtime: str | None = None,
    weights_dir: Path | None = None,
) -> np.ndarray:
    """Super-resolve a uint8 H x W x 3 RGB image by ``scale`` with the shipped model (bicubic if none).

    ``scale``: an integer in 1..16, the rule of ``encode`` (:class:`InputImageError` otherwise); a scale
    without a shipped model (e.g. 3) is plain bicubic, as ``decode`` does for a payload at that scale.

    ``model_id`` picks a manifest entry or ``"bicubic"``; None = the model shipped for clean low-res at
    ``scale`` (:func:`zoo.upscale_model_id`). :func:`decode` passes the codec-trained model its payload names.
    ``device``: ``"cpu"``, ``"gpu"`` or None (``$SR_CODEC_DEVICE``, else the GPU when there is one);
    :class:`DeviceError` when a GPU is requested and absent. ``tile``: side of the square each network
    call keeps, in low-res pixels (it also reads an overlap of the receptive field around it);
    None = from the available memory, 0 = never tile. Tiling changes no pixel by more than 1.
    ``runtime``: None / ``"auto"`` (default: on the CPU the shipped ``.tflite`` under LiteRT, no TensorFlow;
    on a GPU, or for a model without a ``.tflite``, Keras), ``"keras"`` (TensorFlow) or ``"litert"``
    (TFLite + XNNPACK, CPU only; converts the Keras model when no ``.tflite`` is shipped).
    ``weights_dir``: another weights folder (tests, custom models). Returns uint8 (H*scale) x (W*scale) x 3.
    """
    return upscale_many([image], scale, device=device, model_id=model_id, tile=tile, runtime=runtime,
                        weights_dir=weights_dir)[0]


def upscale_many(
    images: Sequence[np.ndarray],
    scale: int,
    *,
    device: str | None = None,
    model_id: str | None = None,
    tile: int | None = None,
    runtime: str | None = None,
    weights_dir: Path | None = None,
) -> list[np.ndarray]:
    """:func:`upscale` for several images at once: same-size images and tiles share network calls (GPU throughput)."""
    from . import runtime as rt  # here, not at the top: it costs ``import sr_codec`` ~20 ms

    scale = check_scale(scale)
    arrays = [_check_image(image) for image in images]
    if runtime is not None and runtime != rt.AUTO_RUNTIME and runtime not in rt.RUNTIMES:
        raise ModelError(f"runtime must be 'auto' or one of {rt.RUNTIMES}, got {runtime!r}")
    if tile is not None and (not isinstance(tile, (int, np.integer)) or tile < 0):
        raise InputImageError(f"tile must be None or a non-negative int, got {tile!r}")
    weights_dir = Path(weights_dir) if weights_dir is not None else zoo.WEIGHTS_DIR
    model_id = model_id or zoo.upscale_model_id(scale, weights_dir)
    if model_id == zoo.BICUBIC:
        if rt.requested_device(device) == "gpu":
            rt.resolve_device(device)  # bicubic runs anywhere, but an explicit "gpu" still has to exist
        return [upsample_bicubic(arr, scale) for arr in arrays]
    info = zoo.model_info(model_id, weights_dir)
    if int(info["scale"]) != int(scale):
        raise ModelError(f"model {model_id} upscales x{info['scale']}, not x{scale}")
    if not arrays:
        return []
    resolved_device = rt.resolve_device(device, runtime if runtime in rt.RUNTIMES else "auto")
    runtime = rt.resolve_runtime(runtime, resolved_device, model_id, weights_dir)
    runner = rt.get_runner(model_id, resolved_device, runtime, weights_dir)
    multiple = runner.geometry.multiple
    padded = [_pad_edge(arr, multiple) for arr in arrays]
    outputs = rt.run_tiled(runner, padded, tile)
    return [np.ascontiguousarray(out[: arr.shape[0] * scale, : arr.shape[1] * scale])
            for arr, out in zip(arrays, outputs)]


def _check_image(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or 0 in arr.shape:
        raise InputImageError(f"upscale expects a non-empty uint8 H x W x 3 RGB array, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _pad_edge(image: np.ndarray, multiple: int) -> np.ndarray:
    """Edge-replicate bottom/right up to a multiple (the seed autoencoder's poolings need HR sides % 4 == 0)."""
    h, w = image.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else image
