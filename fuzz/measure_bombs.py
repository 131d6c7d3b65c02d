"""Measure how fast, and in how little memory, bombs are refused (run from the repository root).

    nice -n 19 python fuzz/measure_bombs.py

Each case runs in a fresh Python process: import sr_codec, warm up (one small encode and decode,
so Pillow's plugins and the codecs are loaded), then refuse the bomb ``--repeat`` times. Reported:
the first (cold) refusal, the median and the slowest of the rest, and how much the process' peak
resident memory (``ru_maxrss``) grew over the warmed-up process while refusing them, plus the peak
of Python-level allocations (tracemalloc; Pillow's own buffers are not traced, RSS is the
authoritative number). The bomb files are the ones tests/test_hostile.py uses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, statistics, sys, time, tracemalloc
sys.path[:0] = [{root!r}, {tests!r}]
import numpy as np
import sr_codec
from sr_codec.format.payload import Payload, pack
from test_hostile import BOMB_FILES, _png

warm = sr_codec.encode(np.zeros((16, 16, 3), np.uint8), inner={inner!r})
sr_codec.decode(warm, model="bicubic")
case = {case!r}
if case.startswith("payload"):
    _, side, call = case.split(":")
    data = pack(Payload(int(side), int(side), 4, 0, 0, b"\x0a" * 1000))
    fn = {{"decode": lambda d: sr_codec.decode(d, model="bicubic"), "decode_preview": sr_codec.decode_preview}}[call]
    run = lambda: fn(data)
elif case == "inner-header":
    data = pack(Payload(40, 40, 1, 3, 0, _png(9000, 9000)))
    run = lambda: sr_codec.decode_preview(data)
elif case == "largest-allowed":
    from sr_codec.codecs import by_name as get_codec
    side = 7070  # 7070^2 = 49.98 MP, just within Limits.max_pixels; x16 -> a flat 442 x 442 AVIF
    flat = np.full((-(-side // 16), -(-side // 16), 3), 128, np.uint8)
    data = pack(Payload(side, side, 16, 0, 0, get_codec("avif").encode(flat, 0)))
    run = lambda: sr_codec.decode(data, model="bicubic")
elif case == "array":
    data = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (65535, 65535, 3))
    run = lambda: sr_codec.encode(data)
else:
    fmt, side = case.split(":")
    data = BOMB_FILES[fmt](int(side), int(side))
    run = lambda: sr_codec.encode(data)

rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
times, error = [], None
tracemalloc.start()
for _ in range({repeat} + 1):
    t = time.perf_counter()
    try:
        run()
    except sr_codec.SrCodecError as exc:
        error = f"{{type(exc).__name__}}: {{exc}}"
    times.append(time.perf_counter() - t)
peak_py = tracemalloc.get_traced_memory()[1]
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
size = data.nbytes if hasattr(data, "nbytes") else len(data)
print(json.dumps(dict(bytes=size, cold_ms=times[0] * 1e3, median_ms=statistics.median(times[1:]) * 1e3,
                      max_ms=max(times[1:]) * 1e3, rss_growth_kib=rss1 - rss0, rss_kib=rss1,
                      python_peak_kib=peak_py / 1024, error=error)))
"""

CASES = [
    ("payload:65535:decode", "1 KB payload declaring 65535 x 65535 -> decode(model='bicubic')"),
    ("payload:65535:decode_preview", "1 KB payload declaring 65535 x 65535 -> decode_preview"),
    ("inner-header", "payload 40 x 40 whose PNG bitstream declares 9000 x 9000 -> decode_preview"),
    ("largest-allowed", "not a bomb: the largest image the default limits allow, 7070 x 7070 at x16 "
                        "-> decode(model='bicubic') (what any payload can cost)"),
    ("array", "65535 x 65535 x 3 array (broadcast, 12 GiB) -> encode"),
    *[(f"{fmt}:{side}", f"{fmt.upper()} file declaring {side} x {side} -> encode")
      for side in (9000, 65535) for fmt in ("png", "jpeg", "gif", "bmp", "tiff", "webp", "avif")],
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--only", help="run just the cases whose name contains this")
    args = parser.parse_args()
    print("| bomb | input bytes | cold ms | median ms | max ms | peak RSS growth | Python peak | refused with |")
    print("|---|---|---|---|---|---|---|---|")
    for case, label in CASES:
        if args.only and args.only not in case:
            continue
        code = CHILD.format(root=str(ROOT), tests=str(ROOT / "tests"), inner="png", case=case, repeat=args.repeat)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        error = (r["error"] or "accepted")[:90]
        print(f"| {label} | {r['bytes']:,} | {r['cold_ms']:.2f} | {r['median_ms']:.3f} | {r['max_ms']:.3f} | "
              f"{r['rss_growth_kib']} KiB (of {r['rss_kib'] // 1024} MiB) | {r['python_peak_kib']:.0f} KiB | {error} |")


if __name__ == "__main__":
    main()
