"""Perceptual metrics for the benchmarks: SSIMULACRA2 (PyPI ``ssimulacra2``) and butteraugli (Debian's binary).

Both are evaluation tools, not part of the library: ``ssimulacra2`` comes with the ``bench`` extra,
``butteraugli`` from ``apt-get install butteraugli``. Either may be absent; a benchmark then leaves
its column out and says why (:func:`availability`). How far the Python SSIMULACRA2 is from libjxl's
reference tool: docs/perceptual.md.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

BUTTERAUGLI = "butteraugli"


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[..., :3])).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def ssimulacra2_available() -> bool:
    try:
        import ssimulacra2  # noqa: F401
    except ImportError:
        return False
    return True


def butteraugli_available() -> bool:
    return shutil.which(BUTTERAUGLI) is not None


def availability() -> dict[str, str | None]:
    """{metric: None when it runs, else the reason it is skipped}."""
    return {
        "ssimulacra2": None if ssimulacra2_available() else "the ssimulacra2 package is not installed (pip install ssimulacra2)",
        "butteraugli": None if butteraugli_available() else "no butteraugli binary on PATH (apt-get install butteraugli)",
    }


def announce_skipped() -> dict[str, str]:
    """Print a ``note:`` line on stderr for each metric whose tool is missing; returns {metric: why}."""
    import sys

    skipped = {metric: why for metric, why in availability().items() if why}
    for metric, why in skipped.items():
        print(f"note: {metric} skipped: {why}", file=sys.stderr)
    return skipped


def ssimulacra2(reference: np.ndarray, test: np.ndarray) -> float:
    """SSIMULACRA2 of ``test`` against ``reference`` (uint8 RGB, same size): 100 = identical, higher is better."""
    from ssimulacra2 import compute_ssimulacra2

    return float(compute_ssimulacra2(io.BytesIO(_png(reference)), io.BytesIO(_png(test))))


def butteraugli(reference: np.ndarray, test: np.ndarray) -> float:
    """Butteraugli distance (the binary's max-norm score) of ``test`` against ``reference``: lower is better."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "ref.png"), Path(tmp, "test.png")
        a.write_bytes(_png(reference))
        b.write_bytes(_png(test))
        out = subprocess.run([BUTTERAUGLI, str(a), str(b)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[0])


def perceptual_scores(reference: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """Every available perceptual metric, CompressAI-style keys (``ssimulacra2``, ``butteraugli``)."""
    out = {}
    if ssimulacra2_available():
        out["ssimulacra2"] = ssimulacra2(reference, test)
    if butteraugli_available():
        out["butteraugli"] = butteraugli(reference, test)
    return out


def period_energy(reference: np.ndarray, test: np.ndarray, period: int) -> float:
    """How much of ``test``'s luma spectrum sits at the pixel-shuffle period, relative to ``reference``'s.

    The energy of the 2-D spectrum at the frequencies k/period (k = 1 .. period-1, on either axis and
    both), summed over a 3-bin neighbourhood, divided by the same sum for the reference: > 1 means the
    decode has a grid at that period that the photo does not have.
    """
    def energy(rgb):
        y = rgb[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        y = y - y.mean()
        h, w = y.shape
        f = np.abs(np.fft.fft2(y * np.outer(np.hanning(h), np.hanning(w)))) ** 2
        rows = {round(k * h / period) % h for k in range(period)}
        cols = {round(k * w / period) % w for k in range(period)}
        total = 0.0
        for r in rows:
            for c in cols:
                if r == 0 and c == 0:
                    continue
                total += f[np.ix_([(r + d) % h for d in (-1, 0, 1)], [(c + d) % w for d in (-1, 0, 1)])].sum()
        return total

    return float(energy(test) / max(energy(reference), 1e-9))
