"""Where one rate-controlled encode spends its time (docs/rate_control.md, issue 22).

    python docs/results/rate_v2_profile.py CODE_ROOT PHOTO.npy BPP

CODE_ROOT: a checkout to import sr_codec from (v1: ``git archive 0c9c4fe sr_codec | tar -x -C /tmp/before``;
v2: the repository). PHOTO.npy: a mosaic of training photos saved by
``np.save(path, benchmarks.common.rate_fast.photo_for("2 MP", 0, "../shared/data/val/BSD100", "../shared/data/train/sun_hays80"))``
(likewise "12 MP"). Prints one JSON line: one plain Pillow AVIF speed-6 encode (q50) and one
``rate.choose(max_bytes=BPP x pixels / 8)`` of the same photo, its AVIF encodes grouped by speed and image
size, the rest of its time, and the profiler's self time of the other expensive calls.
"""

import collections
import cProfile
import json
import pstats
import resource
import sys
import time

root, photo, bpp = sys.argv[1], sys.argv[2], float(sys.argv[3])
sys.path.insert(0, root)
import numpy as np  # noqa: E402

import sr_codec.rate  # noqa: E402,F401
from sr_codec import codecs, rate  # noqa: E402
from sr_codec.codecs import avif as A  # noqa: E402

rgb = np.load(photo)
rate.choose(rgb[:320, :320], max_bytes=2000)  # warm: gain table, learned downscaler
log = []
original = A.AvifCodec.encode_full


def logged(self, x, q=None):
    started = time.perf_counter()
    out = original(self, x, q)
    log.append((self.speed_for(*x.shape[:2]), x.shape[0] * x.shape[1], time.perf_counter() - started))
    return out


A.AvifCodec.encode_full = logged
started = time.perf_counter()
codecs.by_name("avif").as_plain_file().encode_file(rgb, 50)
plain = time.perf_counter() - started
log.clear()
profile = cProfile.Profile()
started = time.perf_counter()
profile.enable()
choice = rate.choose(rgb, max_bytes=int(bpp * rgb.shape[0] * rgb.shape[1] / 8))
profile.disable()
total = time.perf_counter() - started
stats = pstats.Stats(profile)


def self_time(pattern):
    calls = seconds = 0
    for (_, _, name), (_, ncalls, tottime, _, _) in stats.stats.items():
        if pattern in name:
            calls, seconds = calls + ncalls, seconds + tottime
    return [int(calls), round(seconds, 3)]


groups = collections.defaultdict(lambda: [0, 0.0])
full = rgb.shape[0] * rgb.shape[1]
for speed, pixels, seconds in log:
    kind = "full-size" if pixels == full else ("analysis (mosaic or photo)" if pixels <= 210_000 else "low-res of the photo")
    groups[f"speed {speed}, {kind}"][0] += 1
    groups[f"speed {speed}, {kind}"][1] += seconds
print(json.dumps({
    "root": root, "photo": photo, "bpp": bpp, "plain_avif_speed6_s": round(plain, 3), "choose_s": round(total, 3),
    "ratio": round(total / plain, 2), "scale": choice.scale, "quality": choice.quality, "sender": choice.sender,
    "bytes": choice.payload_bytes, "encodes": choice.encodes,
    "avif_encodes (calls, s)": {k: [v[0], round(v[1], 3)] for k, v in sorted(groups.items())},
    "not_encoding_s": round(total - sum(s for _, _, s in log), 3),
    "learned downscaler (LiteRT Invoke, AllocateTensors)": [self_time("Invoke"), self_time("AllocateTensors")],
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
}))
