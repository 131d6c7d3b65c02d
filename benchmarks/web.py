"""Browser timings of the JavaScript sender and receiver (web/): a 2 MP photo in headless Chromium, WebAssembly.

    python -m benchmarks.web [--runs 5] [--budget 15606] [--out results/web_timings.json]

Measures, each as the median of ``--runs`` warm runs after one warm-up (the first run also loads the runtimes
and compiles the models; it is reported apart):

* **encode with maxBytes**: ``Encoder.encode(file, {maxBytes})`` of a 1632 x 1224 JPEG (scikit-image's astronaut,
  resized), in the page, from the File to the payload bytes;
* **decode x4**: ``Decoder.decode(payload)`` of that photo's x4 payload made by ``sr_codec.encode``.

Chromium runs with the flags of the browser tests (no GPU: WebAssembly; LiteRT.js and libavif threaded through
cross-origin isolation, ``navigator.hardwareConcurrency`` threads at most). The page's own stage timings say
what dominates. Python's ``sr_codec.encode(max_bytes=...)`` and ``sr_codec.decode`` of the same inputs are timed
in this process for scale.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

from sr_codec.demo import browser
from sr_codec.imaging.metrics import psnr

HEIGHT, WIDTH = 1224, 1632


def photo_jpeg() -> tuple[bytes, np.ndarray]:
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((WIDTH, HEIGHT), Image.BICUBIC)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92)
    return buf.getvalue(), np.asarray(image)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--budget", type=int, default=None, help="maxBytes (default: sr_codec.rate.default_budget)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    import sr_codec.rate
    from playwright.sync_api import sync_playwright

    jpeg, rgb = photo_jpeg()
    budget = args.budget or sr_codec.rate.default_budget(HEIGHT, WIDTH)
    payload_x4 = sr_codec.encode(rgb, scale=4)
    executable = browser.chromium_path()
    if executable is None:
        raise SystemExit("no chromium binary (apt-get install -y chromium)")
    server = browser.serve_directory(browser.REPO_ROOT)
    report: dict = {"photo": f"{WIDTH}x{HEIGHT} JPEG, {len(jpeg)} bytes", "budget": budget, "runs": args.runs}
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=executable, args=list(browser.CHROMIUM_FLAGS))
            page = chromium.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/web/test/encoder.html")
            page.wait_for_function("window.ready === true", timeout=60_000)
            report["browser"] = chromium.version
            report["threads"] = page.evaluate("navigator.hardwareConcurrency")
            report["cross_origin_isolated"] = page.evaluate("crossOriginIsolated")
            source = {"kind": "file", "name": "photo.jpg", "type": "image/jpeg", "data": base64.b64encode(jpeg).decode()}

            encodes = []
            for _ in range(args.runs + 1):
                result = page.evaluate("([i, o]) => window.encodeImage(i, o)", [source, {"maxBytes": budget}])
                if not result["ok"]:
                    raise SystemExit(f"encode failed: {result}")
                encodes.append(result)
            payload_js = base64.b64decode(encodes[-1]["payload"])
            warm = encodes[1:]
            report["encode"] = {
                "first_ms": encodes[0]["ms"], "median_ms": statistics.median(r["ms"] for r in warm),
                "all_ms": [r["ms"] for r in warm],
                "median_read_ms": statistics.median(r["timings"]["readMs"] for r in warm),
                "median_code_ms": statistics.median(r["timings"]["codeMs"] for r in warm),
                "stages_ms_median": {k: statistics.median(r["timings"][k] for r in warm) for k in warm[-1]["timings"]},
                "avif_encodes": warm[-1]["encodes"], "payload_bytes": len(payload_js), "scale": warm[-1]["scale"],
                "quality": warm[-1]["quality"], "sender": warm[-1]["sender"],
                "psnr_db": psnr(rgb, sr_codec.decode(payload_js)[..., :3]),
            }

            decodes = []
            b64 = base64.b64encode(payload_x4).decode()
            for _ in range(args.runs + 1):
                start = time.perf_counter()
                result = page.evaluate("(b) => window.decodePayload(b)", b64)
                if not result["ok"]:
                    raise SystemExit(f"decode failed: {result}")
                result["wall_ms"] = 1000 * (time.perf_counter() - start)
                decodes.append(result)
            warm = decodes[1:]
            report["decode_x4"] = {
                "payload_bytes": len(payload_x4), "first_ms": decodes[0]["timings"]["totalMs"],
                "median_ms": statistics.median(r["timings"]["totalMs"] for r in warm),
                "all_ms": [r["timings"]["totalMs"] for r in warm],
                "stages_ms_median": {k: statistics.median(r["timings"][k] for r in warm) for k in warm[-1]["timings"]},
            }
            chromium.close()
    finally:
        server.shutdown()

    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        sr_codec.encode(jpeg, max_bytes=budget)
        times.append(1000 * (time.perf_counter() - start))
    report["python_encode_median_ms"] = statistics.median(times)
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        sr_codec.decode(payload_x4)
        times.append(1000 * (time.perf_counter() - start))
    report["python_decode_x4_median_ms"] = statistics.median(times)

    print(json.dumps(report, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
