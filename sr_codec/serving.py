"""The serving contract of the exported SavedModel (``python -m sr_codec.export --format savedmodel``).

Signature ``serving_default``:

* input ``low_res``: float32 ``[N, H, W, 3]``, RGB, values ``uint8 / 255`` in 0..1; N, H, W free
  (one request stacks images of one size);
* output ``high_res``: float32 ``[N, H*s, W*s, 3]`` in 0..1 (already clipped); pixels are
  ``round(255 * value)``.

TF Serving's REST API carries it as JSON (``POST /v1/models/<name>:predict``): the row layout
``{"signature_name": "serving_default", "instances": [{"low_res": <H x W x 3 list>}, ...]}`` answers
``{"predictions": [<H*s x W*s x 3 list>, ...]}``; the columnar layout ``{"inputs": {"low_res":
<N x H x W x 3 list>}}`` answers ``{"outputs": <N x H*s x W*s x 3 list>}`` (a signature with one
output is answered without its name). gRPC ``PredictRequest`` carries the same tensor under
``inputs["low_res"]``. These helpers build and read those bodies, and wrap a payload around a
served network: the low-res image is the payload's preview, the result is cropped to the
payload's size. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import InputImageError, PayloadError
from .receiver.decoder import PayloadInfo, decode_preview, inspect

SIGNATURE = "serving_default"
SERVING_INPUT = "low_res"  # = sr_codec.nn.portable.SERVING_INPUT (which imports TensorFlow)
SERVING_OUTPUT = "high_res"  # = sr_codec.nn.portable.SERVING_OUTPUT
LAYOUTS = ("instances", "inputs")


def low_res_tensor(images: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 RGB images of one size -> the ``low_res`` input, float32 [N, H, W, 3] in 0..1."""
    arrays = [np.asarray(image) for image in images]
    if not arrays or any(a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 for a in arrays):
        raise InputImageError("low_res_tensor takes uint8 H x W x 3 RGB images")
    if len({a.shape for a in arrays}) != 1:
        raise InputImageError(f"one request holds images of one size, got {sorted({a.shape for a in arrays})}")
    return np.stack(arrays).astype(np.float32) / np.float32(255.0)


def images_from_tensor(high_res: np.ndarray) -> list[np.ndarray]:
    """The ``high_res`` output (float32 [N, H, W, 3] in 0..1) -> uint8 images."""
    values = np.asarray(high_res, np.float32)
    return list(np.clip(np.round(values * 255.0), 0, 255).astype(np.uint8))


def rest_request(images: Sequence[np.ndarray], layout: str = "instances") -> dict:
    """The JSON body of a TF Serving REST ``:predict`` call for ``images`` (uint8 RGB, one size)."""
    tensor = low_res_tensor(images)
    if layout == "instances":
        return {"signature_name": SIGNATURE, "instances": [{SERVING_INPUT: item.tolist()} for item in tensor]}
    if layout == "inputs":
        return {"signature_name": SIGNATURE, "inputs": {SERVING_INPUT: tensor.tolist()}}
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def request_tensors(body: dict) -> dict[str, np.ndarray]:
    """What TF Serving feeds the signature for a REST body (either layout): {"low_res": float32 array}."""
    return {SERVING_INPUT: _tensor_of(body, "instances", "inputs", SERVING_INPUT, "a predict body")}


def rest_response(outputs: dict[str, np.ndarray], layout: str = "instances") -> dict:
    """TF Serving's JSON answer for the signature's ``outputs`` (one output: no name in the body)."""
    value = np.asarray(outputs[SERVING_OUTPUT])
    if layout == "instances":
        return {"predictions": [item.tolist() for item in value]}
    if layout == "inputs":
        return {"outputs": value.tolist()}
    raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def images_from_response(body: dict) -> list[np.ndarray]:
    """uint8 images from a REST answer (``predictions`` or ``outputs``, named or not)."""
    return images_from_tensor(_tensor_of(body, "predictions", "outputs", SERVING_OUTPUT, "a predict answer"))


def _tensor_of(body: dict, rows_key: str, columns_key: str, name: str, what: str) -> np.ndarray:
    """The tensor ``name`` of a REST body in the row layout (``rows_key``: a list of items, named or not)
    or the columnar one (``columns_key``: the whole tensor, named or not)."""
    if rows_key in body:
        values = [row[name] if isinstance(row, dict) else row for row in body[rows_key]]
    elif columns_key in body:
        columns = body[columns_key]
        values = columns[name] if isinstance(columns, dict) else columns
    else:
        raise PayloadError(f'{what} has "{rows_key}" or "{columns_key}"')
    return np.asarray(values, np.float32)


def payload_request(payload: bytes) -> tuple[np.ndarray, PayloadInfo]:
    """The ``low_res`` tensor ([1, h, w, 3]) a server needs to decode ``payload``, and the payload's header.

    RGB payloads only: the network never sees alpha (decode RGBA payloads with ``sr_codec.decode``).
    """
    info = inspect(payload)
    if info.has_alpha:
        raise PayloadError("the served network decodes RGB payloads; use sr_codec.decode for RGBA")
    return low_res_tensor([decode_preview(payload)]), info


def finish_payload(high_res: np.ndarray, info: PayloadInfo) -> np.ndarray:
    """The served ``high_res`` for one payload -> the decoded uint8 image, cropped to the payload's size."""
    image = images_from_tensor(high_res)[0]
    if image.shape[0] < info.height or image.shape[1] < info.width:
        raise PayloadError(f"served image {image.shape[:2]} is smaller than the payload's {info.height} x {info.width}")
    return np.ascontiguousarray(image[: info.height, : info.width])
