"""The README's measured numbers, rendered from the committed results files: ``python -m benchmarks.readme``.

Every measured number in README.md sits in a generated region::

    <!-- results:NAME begin (python -m benchmarks.readme) -->
    ... text rendered by REGIONS[NAME] from files under docs/results/ ...
    <!-- results:NAME end -->

``python -m benchmarks.readme`` re-renders every region in place from the results files (after a benchmark
wrote new ones); ``--check`` only says whether README.md is up to date (exit 1 if not).
tests/test_readme_numbers.py checks the same, and that no measurement stands outside a region. To add
numbers to the README: write them to a results file with a documented command, add a renderer here and
its region there. Each renderer names the command that writes its files.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "results"
README = REPO / "README.md"

REGION = re.compile(r"(<!-- results:(?P<name>[a-z0-9_]+) begin[^>]*-->\n)(?P<body>.*?)(<!-- results:(?P=name) end -->)",
                    re.S)


# ------------------------------------------------------------------------------------------ formatting


def kb(num_bytes: float) -> str:
    """Bytes as the README writes them: KB = 1000 bytes, 2 decimals below 10 KB."""
    value = num_bytes / 1000
    return f"{value:.2f} KB" if value < 10 else f"{value:.1f} KB"


def signed(value: float, digits: int = 1, unit: str = " %") -> str:
    """``+1.2 %`` / ``−1.2 %`` (a true minus sign, as in print)."""
    text = f"{value:+.{digits}f}"
    return text.replace("-", "−") + unit


def mib(num_bytes: float) -> str:
    return f"{num_bytes / 2**20:.0f} MiB"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def load(path: str) -> dict:
    return json.loads((RESULTS / path).read_text())


# ------------------------------------------------------------------------------------------ bandwidth


class Curve:
    """One compressai-style JSON of benchmarks.bandwidth: mean bytes and RGB PSNR per setting."""

    def __init__(self, path: str):
        data = load(path)["results"]
        self.bytes, self.psnr, self.bpp = data["bytes"], data["psnr-rgb"], data["bpp"]
        self.ssimulacra2, self.butteraugli = data.get("ssimulacra2"), data.get("butteraugli")
        self.settings = data.get("quality") or data.get("target-bpp")

    def at(self, setting: float) -> tuple[float, float]:
        i = self.settings.index(setting)
        return self.bytes[i], self.psnr[i]


def _avif_cell(avif: Curve, num_bytes: float, psnr: float) -> str:
    from sr_codec.imaging.curves import interpolate_bytes_at_psnr

    same = interpolate_bytes_at_psnr(avif.bytes, avif.psnr, psnr)
    if same is not None:
        saving = (1 - num_bytes / same) * 100
        verdict = f"sr_codec saves {saving:.0f} %" if saving >= 0 else f"sr_codec needs {-saving:.0f} % more"
        return f"{kb(same)} ({verdict})"
    if psnr < min(avif.psnr):
        smallest = min(range(len(avif.bytes)), key=avif.bytes.__getitem__)
        return f"none this small: AVIF's smallest file (q{avif.settings[smallest]:g}) averages {kb(avif.bytes[smallest])}"
    return "none: above AVIF's measured range"


def bandwidth_default() -> str:
    """docs/results/default_set: ``python -m benchmarks.bandwidth --out docs/results/default_set``."""
    folder = "default_set/compressai"
    avif = Curve(f"{folder}/avif.json")
    rows = []
    for label, name, setting in (("x4 (default)", "sr_codec-x4", 50), ("x2", "sr_codec-x2", 50),
                                 ("x10", "sr_codec-x10", 50), ('`scale="auto"`, 0.12 bpp budget', "sr_codec-auto", 0.12)):
        num_bytes, psnr = Curve(f"{folder}/{name}.json").at(setting)
        rows.append(f"| {label} | {kb(num_bytes)} | {psnr:.2f} dB | {_avif_cell(avif, num_bytes, psnr)} |")
    return "\n".join([
        "**Bytes for the same picture** — `python -m benchmarks.bandwidth --out docs/results/default_set` (the built-in",
        "scikit-image photos; `rocket.jpg` is read with its ICC profile applied, as `encode` reads it;",
        "[full table](docs/results/default_set/bandwidth.md)), inner quality 50:",
        "![RD curves](docs/results/default_set/bandwidth_rd.png)",
        "",
        "| at the default settings | bytes | PSNR | AVIF file for the same PSNR |",
        "|---|---|---|---|",
        *rows,
    ])


def bandwidth_bsd100() -> str:
    """docs/results/bsd100_bandwidth: the command in its ``bandwidth_points.json`` meta (all 100 BSD100 photos);
    BD-rates on bpp by PSNR, SSIMULACRA2 and butteraugli, as benchmarks/bandwidth_report.py computes them."""
    from benchmarks.bandwidth_report import bd_rate_by

    meta = load("bsd100_bandwidth/bandwidth_points.json")["meta"]
    folder = "bsd100_bandwidth/compressai"
    auto, x4 = Curve(f"{folder}/sr_codec-auto.json"), Curve(f"{folder}/sr_codec-x4.json")
    rows = []
    for key, label in (("avif", "AVIF (speed 6)"), ("auto-rez", "AUTO-REZ"), ("webp", "WebP"), ("jpeg", "JPEG")):
        ref = Curve(f"{folder}/{key}.json")
        cells = [bd_rate_by(metric, ref, auto) for metric in ("psnr", "ssimulacra2", "butteraugli")]
        rows.append(f"| {label} | " + " | ".join("no overlap" if c is None else signed(c) for c in cells) + " |")
    x4_vs_avif = bd_rate_by("psnr", Curve(f"{folder}/avif.json"), x4)
    fixed = ("Fixed scales alone do not beat AVIF where AVIF can reach" if x4_vs_avif > 0 else
             "Fixed scales beat AVIF too") + f" (x4 {signed(x4_vs_avif, 0)} BD-rate by PSNR)"
    return "\n".join([
        f'**BSD100, all {len(meta["images"])} photos** — BD-rate of `scale="auto"` (rate control) against each '
        "full-resolution codec and AUTO-REZ (per photo the best shrink factor 1–6 + AVIF + Lanczos) at equal",
        "quality by three metrics; negative = fewer bytes for the same quality",
        f'(`{meta["command"]}`; [full table](docs/results/bsd100_bandwidth/bandwidth.md)):',
        "",
        "| against | by PSNR | by SSIMULACRA2 | by butteraugli |",
        "|---|---|---|---|",
        *rows,
        "",
        f"{fixed}; they win by existing below AVIF's floor.",
    ])


# ------------------------------------------------------------------------------------------ rate control


def rate_control() -> str:
    """docs/results/bsd100_all/rate_control.json: the command in its ``meta`` (that run's folder, committed)."""
    data = load("bsd100_all/rate_control.json")
    records = data["records"]
    pixels = statistics.median(r["height"] * r["width"] for r in records)
    rows, worse = [], 0
    for entry in data["summary"]:
        fast, avif, images = entry["modes"]["fast"], entry["classical"]["avif"], entry["images"]
        delta = avif["sr_codec_minus_codec"]["fast"]["mean_delta_db"]
        worse += avif["sr_codec_minus_codec"]["fast"]["worse"]
        budget = entry["bpp"] * pixels / 8
        budget_text = f"{budget:.0f} B" if budget < 1000 else kb(budget).replace(".00 ", " ")
        if avif["fits"] < images:
            ours = f"{fast['mean_psnr']:.2f} dB" + (f"; {signed(delta, 2, ' dB')} on the {avif['fits']} photos AVIF fits"
                                                    if avif["fits"] > 1 else "")
            theirs = f"fits {avif['fits']} of {images}"
        else:
            ours, theirs = f"{fast['mean_psnr']:.2f} dB ({signed(delta, 2, ' dB')})", f"{avif['mean_psnr']:.2f} dB"
        wins = "/".join(str(fast["scale_wins"].get(s, 0)) for s in ("1", "2", "4", "10"))
        rows.append(f"| {entry['bpp']:g} / {budget_text} | {ours} | {theirs} | {wins} | {fast['mean_seconds']:.2f} s |")
    command = data["meta"]["command"]  # as run; its --out folder was then committed as docs/results/bsd100_all
    guarantee = ("Never worse than AVIF at the same bytes on any photo and budget (the hull guarantee, also a test)."
                 if worse == 0 else f"Worse than AVIF at the same bytes on {worse} of the photo-budgets (fast mode; mode=\"best\" keeps the guarantee).")
    return "\n".join([
        f"**Byte budgets (rate control)** — `{command}` on all {data['meta']['images']} photos",
        "([table](docs/results/bsd100_all/rate_control.md)):",
        "",
        f"| budget (bpp / bytes per {pixels / 1e3:.0f} K-pixel photo) | sr_codec `max_bytes` | AVIF at the same bytes "
        "| scale chosen (x1/x2/x4/x10) | fast encode, mean |",
        "|---|---|---|---|---|",
        *rows,
        "",
        guarantee,
    ])


# ------------------------------------------------------------------------------------------ learned sender


def learned_sender() -> str:
    """docs/results/learned_sender/x4.json, x2.json: ``python -m benchmarks.learned_sender --data
    ../shared/data/val/BSD100 --scale 4`` (and ``--scale 2``)."""
    x4, x2 = load("learned_sender/x4.json"), load("learned_sender/x2.json")

    def fewer(d: dict) -> str:
        return f"{-d['bd_rate_pct']:.1f} % fewer" if d["bd_rate_pct"] < 0 else f"{d['bd_rate_pct']:.1f} % more"

    return "\n".join([
        "**Learned sender** — `python -m benchmarks.learned_sender --data ../shared/data/val/BSD100 --scale 4` (and",
        f"`--scale 2`; all {x4['photos']} {x4['data']} photos, AVIF q{x4['qualities'][0]}–{x4['qualities'][-1]}, whole "
        "payloads): at equal bytes the learned thumbnail + its upscaler need",
        f"**{fewer(x4)} bytes at x4** (BD-PSNR {signed(x4['bd_psnr_db'], 2, ' dB')}) and **{fewer(x2)} at x2** "
        f"({signed(x2['bd_psnr_db'], 2, ' dB')}) than the bicubic",
        f"thumbnail + the shipped upscaler; the thumbnail stays within {x4['thumb_psnr_db']:.1f} / "
        f"{x2['thumb_psnr_db']:.1f} dB (mean) of the bicubic one.",
    ])


SHARP_RUNS = (("bicubic", "sharp/sharp_look_bsd100.json"), ("default (auto)", "sharp/sharp_look_pair_bsd100.json"))
"""(sender, results file) of ``python -m benchmarks.sharp_look --sender bicubic`` / ``--sender auto`` on BSD100."""


def sharp_look() -> str:
    """docs/results/sharp/sharp_look_bsd100.json and sharp_look_pair_bsd100.json (``python -m benchmarks.sharp_look
    --sender bicubic`` / ``--sender auto``, BSD100 in two halves, then ``--merge``) and
    docs/results/sharp/blind_panel_*.json (``python -m benchmarks.sharp_panel``)."""
    rows = ["| sender | bpp | payloads with a twin | PSNR | SSIMULACRA2 | butteraugli (ratio) |",
            "|---|---|---|---|---|---|"]
    for sender, path in SHARP_RUNS:
        if not (RESULTS / path).exists():
            continue
        for bpp, e in load(path)["sets"]["BSD100"]["summary"].items():
            n = round(e["sharp_twin_share"] * e["photos"])
            if n:
                rows.append(f"| {sender} | {float(bpp):.2f} | {n} of {e['photos']} | "
                            f"{signed(e['psnr_sharp_minus_faithful_on_twin_routes'], 2, ' dB')} | "
                            f"{signed(e['ssimulacra2_sharp_minus_faithful_on_twin_routes'], 2, '')} | "
                            f"{e['butteraugli_ratio_on_twin_routes']:.2f}× |")
    panels = []
    for path in sorted((RESULTS / "sharp").glob("blind_panel_*.json")):
        d = json.loads(path.read_text())
        sc = d["score"]
        sender = re.search(r"--sender (\S+)", d["command"]).group(1)
        panels.append(f"{d['windows'].split(' ')[0]} windows ({sender} sender): sharp preferred "
                      f"as a photo in **{sc['sharp_preferred_as_photo']} of {sc['pairs']}** pairs, judged more "
                      f"faithful in {sc['sharp_judged_more_faithful']} of {sc['pairs']}")
    return "\n".join([
        "**The sharp look** (`decode(look=\"sharp\")` against the faithful decode of the same payloads; all 100 BSD100",
        "photos through rate control, `python -m benchmarks.sharp_look --sender bicubic` and `--sender auto` (what",
        "`encode` sends by default: the learned pairs); differences on the payloads whose route has a sharp twin):",
        "",
        *rows,
        "",
        "Blind viewer, 40 crop pairs each, original shown, looks in random order: " + "; ".join(panels) + ".",
    ])


# ------------------------------------------------------------------------------------------ SR quality


def _markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """``## heading`` -> the rows (cells) of the first table under it."""
    tables: dict[str, list[list[str]]] = {}
    heading = None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif heading and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            tables.setdefault(heading, []).append(cells)
    return tables


def sr_quality() -> str:
    """docs/results/sr_quality.md: the command on its first lines."""
    text = (RESULTS / "sr_quality.md").read_text()
    command = re.search(r"Command: `([^`]*)`", text).group(1)  # as run; its output was committed under docs/results
    tables = _markdown_tables(text)
    rows = []
    for scale in ("x2", "x4", "x10"):
        header, *body = tables[scale]
        for cells in body:
            rows.append(f"| {scale} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    check = re.search(r"Protocol check: (.*)", text).group(1)
    return "\n".join([
        "**Super-resolution quality** (Y-PSNR, the SR-paper protocol; in brackets the published value) —",
        f"`{command}` ([table](docs/results/sr_quality.md), [models](docs/models.md)). {check}",
        "",
        "| scale | method | Set5 | Set14 | BSD100 |",
        "|---|---|---|---|---|",
        *rows,
    ])


# ------------------------------------------------------------------------------------------ speed


def speed() -> str:
    """docs/results/speed.json: the command recorded in it (``python -m benchmarks.speed ...``)."""
    data = load("speed.json")
    cases = data["cases"]
    decodes = [c for c in cases if c["kind"] == "decode"]
    runtimes = list(dict.fromkeys(c["runtime"] for c in decodes))

    def label(runtime: str) -> str:
        precisions = sorted({c.get("precision") or runtime for c in decodes if c["runtime"] == runtime})
        return f"{runtime} ({', '.join(precisions)})"

    rows = []
    for mp in sorted({c["megapixels"] for c in decodes}):
        for scale in sorted({c["scale"] for c in decodes}):
            cells = []
            for runtime in runtimes:
                case = next((c for c in decodes if c["runtime"] == runtime and c["megapixels"] == mp
                             and c["scale"] == scale), None)
                cells.append(f"{ms(case['median_s'])}, {mib(case['peak_rss'])}" if case else "—")
            espcn = next((c for c in cases if c["kind"] == "espcn" and c["megapixels"] == mp and c["scale"] == scale),
                         None)
            cells.append(f"{ms(espcn['median_s'])}, {mib(espcn['peak_rss'])}" if espcn else "—")
            rows.append(f"| {mp:g} MP x{scale} | " + " | ".join(cells) + " |")
    load_average = max(data["load_average_before"][0], data["load_average_after"][0])
    return "\n".join([
        f"**Speed** — `{data['command']}` ([table](docs/results/speed.md)): decode time (median of "
        f"{data['repeats']}) and peak RSS",
        f"of a process, on a {data['machine']['cpu_count']}-core {data['machine']['machine']} machine at load average "
        f"up to {load_average:.1f}; `import sr_codec` {ms(data['import']['median_s'])} "
        f"(TensorFlow imported: {data['import']['tensorflow_imported']}).",
        "",
        "| output | " + " | ".join(label(r) for r in runtimes) + " | OpenCV ESPCN |",
        "|---|" + "---|" * (len(runtimes) + 1),
        *rows,
    ])


REGIONS: dict[str, Callable[[], str]] = {
    "bandwidth_default": bandwidth_default,
    "bandwidth_bsd100": bandwidth_bsd100,
    "rate_control": rate_control,
    "learned_sender": learned_sender,
    "sharp_look": sharp_look,
    "sr_quality": sr_quality,
    "speed": speed,
}


def render(text: str) -> str:
    """``text`` (README.md) with every region re-rendered; a region without a renderer is an error."""
    def one(match: re.Match) -> str:
        name = match.group("name")
        if name not in REGIONS:
            raise KeyError(f"README region {name!r} has no renderer in benchmarks/readme.py")
        return match.group(1) + REGIONS[name]().rstrip("\n") + "\n" + match.group(4)

    return REGION.sub(one, text)


def regions(text: str) -> dict[str, str]:
    return {m.group("name"): m.group("body") for m in REGION.finditer(text)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is not what the results give")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text()
    missing = set(REGIONS) - set(regions(text))
    if missing:
        print(f"README has no region for {sorted(missing)}", file=sys.stderr)
        return 1
    rendered = render(text)
    if args.check:
        if rendered != text:
            print(f"{args.readme} is out of date: run python -m benchmarks.readme", file=sys.stderr)
            return 1
        return 0
    if rendered != text:
        args.readme.write_text(rendered)
        print(f"updated {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
