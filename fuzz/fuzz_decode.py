"""atheris (libFuzzer) target over ``inspect``, ``decode_preview`` and ``decode(model="bicubic")``.

    nice -n 19 python fuzz/fuzz_decode.py fuzz/work fuzz/corpus -timeout=10 -rss_limit_mb=2048 -runs=100000

libFuzzer writes the new inputs it finds into the first folder (``fuzz/work``, git-ignored) and only
reads the seed corpus (``fuzz/corpus``, written by ``make_corpus.py``). Each input is tried twice:
as it is (which mostly tests the CRC-32) and with its last 4 bytes replaced by the correct CRC-32
of the rest, so that coverage feedback can steer mutations into the field parser, the extension map
and the inner decoders. ``decode`` runs on every input whose CRC-32 passes; set
``SR_FUZZ_DECODE_EVERY=N`` to run it only on every Nth such input. Any exception other than an
SrCodecError, running out of memory, or pixels of the wrong size is a crash for libFuzzer (see
``harness.py``); ``-timeout`` catches hangs and ``-rss_limit_mb`` memory blow-ups.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository's sr_codec, installed or not
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["sr_codec", "harness"]):
    import harness

DECODE_EVERY = max(1, int(os.environ.get("SR_FUZZ_DECODE_EVERY", "1")))
_runs = 0


@atheris.instrument_func
def _feedback(outcome: str) -> None:
    """One branch per outcome: the inner codecs are C code that atheris cannot see, so without this
    libFuzzer would keep one seed for all four codecs (they share the same Python lines)."""
    if outcome.startswith("ok"):
        if "avif" in outcome:
            pass
        elif "webp" in outcome:
            pass
        elif "jpeg" in outcome:
            pass
        elif "png" in outcome:
            pass
        if "RGBA" in outcome:
            pass
    elif "inner decode" in outcome:
        pass
    elif "inner header" in outcome:
        pass
    elif "declared size" in outcome:
        pass
    elif "alpha plane" in outcome:
        pass
    elif "extension" in outcome:
        pass


def test_one_input(data: bytes) -> None:
    global _runs
    _runs += 1
    full = _runs % DECODE_EVERY == 0
    _feedback(harness.check(data, full_decode=full))
    resealed = harness.sealed(data)
    if resealed != data:
        _feedback(harness.check(resealed, full_decode=full))


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
