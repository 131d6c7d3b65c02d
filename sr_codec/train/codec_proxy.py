"""A differentiable, calibrated stand-in for the AVIF round trip of a low-res image.

Why: straight-through training (codec = identity in the backward pass) tells the downscaler
that every detail it adds reaches the receiver for free. AVIF instead drops most fine detail
(and nearly all fine chroma, 4:2:0) and charges bytes for what it keeps. This proxy says both,
per 8x8 DCT frequency and per YCbCr channel:

* ``attenuation[q, c, k]``: the least-squares gain from an input DCT coefficient to the same
  coefficient after a real AVIF round trip at quality ``q`` (1 = kept, 0 = wiped);
* ``step[q, c]``: the quantiser step per channel, sqrt(12) x the std of what the round trip
  changes in the coefficients it keeps (attenuation > 0.9; libavif quantises flat, without
  quantisation matrices). The rate estimate is ``sum 0.5 log2(1 + (coef / step)^2)``: about
  log2(|coef| / step) bits for a kept coefficient and nearly nothing for one under the step,
  which the codec zeroes (measured: small noise costs real AVIF no bytes).

Both are measured from real AVIF (see :func:`calibrate`); the numpy half has no TensorFlow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BLOCK = 8
RGB_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
YCBCR_TO_RGB = np.linalg.inv(RGB_TO_YCBCR)


def dct_basis(n: int = BLOCK) -> np.ndarray:
    """Orthonormal 2-D DCT-II basis as an (n*n, n, n) array: basis[u*n+v] is the (u, v) pattern."""
    k = np.arange(n)
    d = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    d[0] /= np.sqrt(2.0)
    return np.einsum("uy,vx->uvyx", d, d).reshape(n * n, n, n)


def block_dct(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] -> (H/8 * W/8, 3, 64) YCbCr block-DCT coefficients (numpy)."""
    h, w = image.shape[:2]
    h8, w8 = h - h % BLOCK, w - w % BLOCK
    ycc = image[:h8, :w8] @ RGB_TO_YCBCR.T
    blocks = ycc.reshape(h8 // BLOCK, BLOCK, w8 // BLOCK, BLOCK, 3).transpose(0, 2, 4, 1, 3)
    blocks = blocks.reshape(-1, 3, BLOCK * BLOCK)
    return blocks @ dct_basis().reshape(BLOCK * BLOCK, -1).T


class CodecProxy:
    """Calibrated per-quality tables; :meth:`tables` interpolates between calibrated qualities."""

    def __init__(self, qualities: list[int], attenuation: np.ndarray, step: np.ndarray, meta: dict | None = None):
        self.qualities = np.asarray(qualities, np.float64)
        self.attenuation = np.asarray(attenuation, np.float64)  # (Q, 3, 64)
        self.step = np.asarray(step, np.float64)  # (Q, 3): per channel, flat over frequencies
        self.meta = meta or {}

    def tables(self, quality: float) -> tuple[np.ndarray, np.ndarray]:
        q = float(np.clip(quality, self.qualities[0], self.qualities[-1]))
        i = int(np.clip(np.searchsorted(self.qualities, q) - 1, 0, len(self.qualities) - 2))
        t = (q - self.qualities[i]) / (self.qualities[i + 1] - self.qualities[i])
        att = (1 - t) * self.attenuation[i] + t * self.attenuation[i + 1]
        step = np.exp((1 - t) * np.log(self.step[i]) + t * np.log(self.step[i + 1]))
        return att, step

    def rate(self, image: np.ndarray, quality: float) -> float:
        """The rate estimate (in proxy bits) of a float RGB image in [0, 1] at ``quality``."""
        _, step = self.tables(quality)
        return float(np.sum(rate_bits(block_dct(image), step)))

    def to_json(self) -> dict:
        return {"qualities": self.qualities.astype(int).tolist(),
                "attenuation": np.round(self.attenuation, 5).tolist(),
                "step": np.round(self.step, 6).tolist(), "meta": self.meta}

    @classmethod
    def from_json(cls, blob: dict) -> "CodecProxy":
        return cls(blob["qualities"], np.array(blob["attenuation"]), np.array(blob["step"]), blob.get("meta"))

    @classmethod
    def load(cls, path: str | Path) -> "CodecProxy":
        return cls.from_json(json.loads(Path(path).read_text()))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json()) + "\n")


def rate_bits(coef: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-coefficient rate estimate (numpy) for coefficients (..., 3, 64) and steps (3,)."""
    return 0.5 * np.log2(1.0 + (coef / step[:, None]) ** 2)


def calibrate(images: list[np.ndarray], qualities: list[int], codec) -> CodecProxy:
    """Fit attenuation and step tables from real round trips of uint8 RGB ``images`` through ``codec``.

    Also records how well the rate estimate predicts real sizes: the correlation of log(bytes)
    with log(rate estimate) across images at each quality, and the log-log slope.
    """
    att, step, fit = [], [], {}
    for q in qualities:
        num = np.zeros((3, 64))
        den = np.zeros((3, 64))
        coded = []
        for img in images:
            data = codec.encode(img, q)
            out = codec.decode(data)
            a = block_dct(img / 255.0)
            b = block_dct(out / 255.0)
            num += np.sum(a * b, axis=0)
            den += np.sum(a * a, axis=0)
            coded.append((a, b, len(data)))
        gain = np.clip(num / np.maximum(den, 1e-12), 0.0, 1.0)
        err = np.zeros((3, 64))
        count = 0
        for a, b, _ in coded:
            err += np.sum((b - gain * a) ** 2, axis=0)
            count += a.shape[0]
        per_coef = np.sqrt(12.0 * err / count)
        kept = gain > 0.9
        kept[:, 0] = True  # DC always counts
        q_step = np.maximum(np.array([np.median(per_coef[c][kept[c]]) for c in range(3)]), 1e-4)
        att.append(gain)
        step.append(q_step)
        sizes = np.log([n for _, _, n in coded])
        rates = np.log([np.sum(rate_bits(a, q_step)) + 1.0 for a, _, _ in coded])
        slope = float(np.polyfit(rates, sizes, 1)[0]) if len(images) > 2 else float("nan")
        fit[str(q)] = {"log_corr": round(float(np.corrcoef(rates, sizes)[0, 1]), 4), "log_slope": round(slope, 3)}
    return CodecProxy(list(qualities), np.array(att), np.array(step), {"size_fit": fit, "images": len(images)})


def deadzone_gain(coef: np.ndarray, attenuation: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Per-coefficient gain of the "deadzone" proxy (numpy; coef (..., 3, 64)).

    The linear attenuation is an average over all coefficients of a frequency; the codec in
    fact keeps a large coefficient nearly whole and zeroes a small one. So a coefficient well
    above the step keeps gain ~1 and one well below gets the calibrated average; chroma above
    half band gets the average whatever its size (4:2:0 drops it).
    """
    s = DEADZONE_SHARPNESS * coef ** 2 / (coef ** 2 + 0.25 * step[:, None] ** 2)
    s = s * CHROMA_LOW_BAND
    return attenuation ** (1.0 - s)


#: How far a large coefficient's gain moves from the average attenuation towards 1; fitted so
#: the proxy passes the same share of a sharpening or blurring change as real AVIF does.
DEADZONE_SHARPNESS = 0.65


def _chroma_low_band() -> np.ndarray:
    u, v = np.divmod(np.arange(64), 8)
    mask = np.ones((3, 64))
    mask[1:, (u >= 4) | (v >= 4)] = 0.0
    return mask


CHROMA_LOW_BAND = _chroma_low_band()


def tf_ops(proxy: CodecProxy, mode: str = "deadzone"):
    """TensorFlow versions: ``(through(x, att, step), rate(x, step))`` on (N, H, W, 3) float RGB in [0, 1].

    H and W must be multiples of 8. ``through`` is the proxy's round trip (its Jacobian is
    what the downscaler learns from): ``"linear"`` multiplies each coefficient by the
    calibrated attenuation, ``"deadzone"`` by :func:`deadzone_gain`, ``"identity"`` is
    straight-through. ``rate`` returns the per-image rate estimate, shape (N,).
    """
    import tensorflow as tf

    basis = dct_basis().transpose(1, 2, 0)[:, :, None, :].astype(np.float32)  # (8, 8, 1, 64)
    kernel = tf.constant(basis)
    to_ycc = tf.constant(RGB_TO_YCBCR.T.astype(np.float32))
    to_rgb = tf.constant(YCBCR_TO_RGB.T.astype(np.float32))

    def forward_dct(x):
        n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        ycc = tf.einsum("nhwc,cd->nhwd", x, to_ycc)
        planes = tf.reshape(tf.transpose(ycc, [0, 3, 1, 2]), [n * 3, h, w, 1])
        coef = tf.nn.conv2d(planes, kernel, strides=BLOCK, padding="VALID")  # (3n, h/8, w/8, 64)
        return tf.reshape(coef, [n, 3, h // BLOCK, w // BLOCK, 64]), (n, h, w)

    def inverse_dct(coef, dims):
        n, h, w = dims
        flat = tf.reshape(coef, [n * 3, h // BLOCK, w // BLOCK, 64])
        planes = tf.nn.conv2d_transpose(flat, kernel, [n * 3, h, w, 1], strides=BLOCK, padding="VALID")
        ycc = tf.transpose(tf.reshape(planes, [n, 3, h, w]), [0, 2, 3, 1])
        return tf.einsum("nhwc,cd->nhwd", ycc, to_rgb)

    band = tf.constant(CHROMA_LOW_BAND.reshape(1, 3, 1, 1, 64).astype(np.float32))

    def through(x, attenuation, step):
        if mode == "identity":
            return x
        coef, dims = forward_dct(x)
        att = tf.reshape(tf.cast(attenuation, tf.float32), [1, 3, 1, 1, 64])
        if mode == "linear":
            return inverse_dct(coef * att, dims)
        st = tf.reshape(tf.cast(step, tf.float32), [1, 3, 1, 1, 1])
        s = DEADZONE_SHARPNESS * tf.square(coef) / (tf.square(coef) + 0.25 * tf.square(st)) * band
        return inverse_dct(coef * tf.pow(tf.maximum(att, 1e-6), 1.0 - s), dims)

    def rate(x, step):
        coef, _ = forward_dct(x)
        st = tf.reshape(tf.cast(step, tf.float32), [1, 3, 1, 1, 1])
        return 0.5 * tf.reduce_sum(tf.math.log(1.0 + tf.square(coef / st)), axis=[1, 2, 3, 4]) / np.log(2.0)

    return through, rate
