"""README.md says what the committed results files say, names real fields, and its test command is complete.

Every measured number of the README sits in a region that ``python -m benchmarks.readme`` renders from
files under docs/results/; a number with a unit of measurement outside those regions fails here.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from benchmarks import readme

REPO = Path(__file__).resolve().parents[1]
TEXT = (REPO / "README.md").read_text()

# A value with a unit of measurement: what a benchmark, not the code, decides.
MEASUREMENT = re.compile(r"(?<![\w.])[−+-]?\d[\d,]*(?:\.\d+)?\s?(?:dB|KB|kB|MB|GB|ms|%|bpp|s\b|files/s|photos/s)")
# Numbers with units that the code fixes (API constants, example arguments), not measurements.
CONSTANTS = {
    "30 dB",  # the API example's target_psnr=30.0
    "0.0625 bpp", "40 kB",  # scale="auto"'s default budget: 0.0625 bits per pixel, 1-40 kB (sr_codec.rate.default_budget)
}


def outside_regions(text: str) -> str:
    return readme.REGION.sub("", text)


def test_every_region_is_what_its_results_files_render():
    assert set(readme.regions(TEXT)) == set(readme.REGIONS), "a region without renderer, or a renderer without region"
    for name, body in readme.regions(TEXT).items():
        assert body == readme.REGIONS[name]() + "\n", f"README region {name} is stale: run python -m benchmarks.readme"
    assert readme.render(TEXT) == TEXT


def test_no_measured_number_outside_the_generated_regions():
    found = [m.group(0) for m in MEASUREMENT.finditer(outside_regions(TEXT))]
    stray = [value for value in found if value not in CONSTANTS]
    assert not stray, f"README numbers with no results file behind them (put them in a region): {stray}"


def test_the_checker_sees_numbers_and_regions():
    sample = ("x4 takes 1.71 KB at 25.92 dB, 280 ms, −11.4 %.\n"
              "<!-- results:speed begin (python -m benchmarks.readme) -->\n12 ms\n<!-- results:speed end -->\n")
    assert [m.group(0) for m in MEASUREMENT.finditer(outside_regions(sample))] == \
           ["1.71 KB", "25.92 dB", "280 ms", "−11.4 %"]
    assert readme.regions(sample) == {"speed": "12 ms\n"}


def test_the_numbers_are_the_files_numbers():
    """Spot checks against the raw files, beside the renderer: the default x4 payload and the rate control table."""
    x4 = readme.load("default_set/compressai/sr_codec-x4.json")["results"]
    i = x4["quality"].index(50)
    body = readme.regions(TEXT)["bandwidth_default"]
    assert f"| x4 (default) | {x4['bytes'][i] / 1000:.2f} KB | {x4['psnr-rgb'][i]:.2f} dB |" in body
    first = readme.load("bsd100_all/rate_control.json")["summary"][0]
    assert f"{first['modes']['fast']['mean_psnr']:.2f} dB" in readme.regions(TEXT)["rate_control"]


def test_the_api_section_names_real_payload_info_fields():
    from sr_codec.receiver.decoder import PayloadInfo

    fields = {f.name for f in dataclasses.fields(PayloadInfo)} | {
        name for name, value in vars(PayloadInfo).items() if isinstance(value, property)}
    for attribute in re.findall(r"\binfo\.(\w+)", TEXT):
        assert attribute in fields, f"README uses info.{attribute}"
    line = next(line for line in TEXT.splitlines() if "sr_codec.inspect(payload)" in line)
    listed = line.split("PayloadInfo:", 1)[1].split(",")
    for name in (item.strip() for item in listed):
        if name != "byte counts":
            assert name in fields, f"README's inspect() line lists {name!r}, which PayloadInfo does not have"


def test_quickstart_test_command_is_ci_s_and_installs_the_browser_tests_needs():
    block = TEXT.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    ci = (REPO / ".ci" / "run").read_text()
    assert "python -m pytest -q" in block and "python -m pytest -q" in ci
    assert '".[dev,bench,demo,scale]"' in block and '".[dev,bench,demo,scale]"' in ci
    assert "(cd web && npm ci)" in block and "chromium" in block


def test_browser_skip_messages_name_the_command(monkeypatch, tmp_path):
    """Without chromium or web/node_modules, the browser tests skip with the exact command to run."""
    pytest.importorskip("playwright.sync_api")
    from conftest import require_browser
    from sr_codec.demo import browser

    monkeypatch.setattr(browser, "chromium_path", lambda: None)
    with pytest.raises(pytest.skip.Exception, match=r"apt-get install -y chromium"):
        require_browser()
    monkeypatch.setattr(browser, "chromium_path", lambda: "/usr/bin/chromium")
    monkeypatch.setattr(browser, "WEB_DIR", tmp_path)
    with pytest.raises(pytest.skip.Exception, match=re.escape(f"(cd {tmp_path} && npm ci)")):
        require_browser()
