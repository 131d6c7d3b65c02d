"""A receiver's install: size and time of the base install, cold start, CLI wall time.

``python -m benchmarks.receiver [--venv DIR] [--reuse] [--repeats N]``

* ``python -m venv DIR && DIR/bin/pip install <repo>`` (no extras): wall time, size of DIR, and
  whether ``import tensorflow`` fails there (it should: the base install has no TensorFlow).
* **cold start**: a new process of that venv's Python imports ``sr_codec`` and decodes a
  0.4 MP x4 payload (the default AVIF inner codec); the time from before the import to the
  decoded array, and the whole process's wall time. Median of ``--repeats``.
* **CLI**: wall time of ``DIR/bin/sr-codec decode payload out.png``, median of ``--repeats``,
  and whether it wrote anything on stderr.

``--reuse`` keeps an existing venv (its install figures come from the first run's record).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VENV = Path(tempfile.gettempdir()) / "venv-base"
RECORD = "sr_codec_install.json"
COLD_START = (
    "import json, sys, time\n"
    "t = time.perf_counter()\n"
    "import sr_codec\n"
    "out = sr_codec.decode(open(sys.argv[1], 'rb').read())\n"
    "t = time.perf_counter() - t\n"
    "print(json.dumps({'seconds': t, 'shape': list(out.shape), 'tensorflow_imported': 'tensorflow' in sys.modules}))\n"
)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def install(venv: Path, reuse: bool) -> dict:
    """Create ``venv`` and pip-install the repository without extras; the install's figures."""
    record = venv / RECORD
    if reuse and record.exists():
        return {**json.loads(record.read_text()), "reused": True}
    if venv.exists():
        shutil.rmtree(venv)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", str(REPO)],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if pip.returncode != 0:
        raise SystemExit(f"pip install failed: {pip.stderr.strip()[-500:]}")
    freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze", "--disable-pip-version-check"],
                            capture_output=True, text=True).stdout.splitlines()
    facts = {"venv": str(venv), "install_seconds": seconds, "venv_bytes": folder_bytes(venv),
             "packages": sorted(line.strip() for line in freeze
                                if line.strip() and not line.lower().startswith(("sr-codec", "sr_codec")))}
    record.write_text(json.dumps(facts, indent=1) + "\n")
    return {**facts, "reused": False}


def tensorflow_importable(venv: Path) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import tensorflow"],
                          capture_output=True, cwd=tempfile.gettempdir()).returncode == 0


def make_payload(path: Path) -> dict:
    """A 0.4 MP (730 x 548) photo at x4, AVIF: made with this interpreter's sr_codec."""
    import numpy as np

    import sr_codec
    from benchmarks.common.photos import make_photo

    photo = np.ascontiguousarray(make_photo(0.4))
    path.write_bytes(sr_codec.encode(photo, scale=4))
    return {"width": photo.shape[1], "height": photo.shape[0], "scale": 4, "payload_bytes": path.stat().st_size}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cold_starts(venv: Path, payload: Path, repeats: int) -> dict:
    """Import + first decode in new processes of the venv (run outside the repo, so the installed copy is used)."""
    inside, wall, cpu, last = [], [], [], {}
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run([str(venv / "bin" / "python"), "-c", COLD_START, str(payload)], capture_output=True,
                              text=True, cwd=tempfile.gettempdir())
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - start_cpu)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-300:]}
        last = json.loads(proc.stdout.strip().splitlines()[-1])
        inside.append(last["seconds"])
    return {"median_s": statistics.median(inside), "process_wall_median_s": statistics.median(wall),
            "process_cpu_median_s": statistics.median(cpu), "runs": inside, "tensorflow_imported": last["tensorflow_imported"], "stderr_empty": proc.stderr == ""}


def cli_decodes(venv: Path, payload: Path, repeats: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="sr_codec_cli_")) / "out.png"
    wall, cpu, stderr = [], [], ""
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run([str(venv / "bin" / "sr-codec"), "decode", str(payload), str(out)],
                              capture_output=True, text=True, cwd=tempfile.gettempdir())
        wall.append(time.perf_counter() - start)
        cpu.append(_children_cpu() - start_cpu)
        if proc.returncode != 0:
            return {"error": proc.stderr.strip()[-300:]}
        stderr += proc.stderr
    return {"median_s": statistics.median(wall), "cpu_median_s": statistics.median(cpu), "runs": wall,
            "stderr_empty": stderr == ""}


def run(venv: Path = DEFAULT_VENV, reuse: bool = False, repeats: int = 5) -> dict:
    facts = install(venv, reuse)
    payload = Path(tempfile.mkdtemp(prefix="sr_codec_cold_")) / "photo_0.4mp_x4.src"
    report = {"install": facts, "tensorflow_importable": tensorflow_importable(venv),
              "payload": make_payload(payload), "repeats": repeats}
    report["cold_start"] = cold_starts(venv, payload, repeats)
    report["cli"] = cli_decodes(venv, payload, repeats)
    return report


def markdown(report: dict) -> str:
    inst, cold, cli = report["install"], report["cold_start"], report["cli"]
    pay = report["payload"]
    litert = next((p for p in inst["packages"] if p.lower().startswith("ai-edge-litert")), "ai-edge-litert ?")
    lines = [
        "### Receiver: the base install (`pip install sr-codec`, no extras)",
        "",
        f"- Fresh venv + `pip install <repo>`: **{inst['venv_bytes'] / 2**20:.0f} MB**, "
        f"{inst['install_seconds']:.0f} s (wheels from PyPI, pip cache warm or cold as it was). "
        f"Packages: {', '.join(inst['packages'])}.",
        f"- `python -c \"import tensorflow\"` there: **{'works (!)' if report['tensorflow_importable'] else 'fails'}** "
        f"(interpreter: {litert}).",
    ]
    if "error" in cold:
        lines.append(f"- cold start: error {cold['error']}")
    else:
        lines.append(
            f"- Cold start, new process, `import sr_codec` + first `decode` of a {pay['width']} x {pay['height']} "
            f"(0.4 MP) x4 payload ({pay['payload_bytes']} bytes): **{1000 * cold['median_s']:.0f} ms** "
            f"(median of {len(cold['runs'])}; whole process incl. Python start-up "
            f"{1000 * cold['process_wall_median_s']:.0f} ms wall, {1000 * cold['process_cpu_median_s']:.0f} ms CPU "
            f"(user + system, all threads); TensorFlow imported: {cold['tensorflow_imported']}; "
            f"stderr empty: {cold['stderr_empty']}).")
    if "error" in cli:
        lines.append(f"- CLI: error {cli['error']}")
    else:
        lines.append(f"- `sr-codec decode photo.src out.png` of the same payload: **{1000 * cli['median_s']:.0f} ms** "
                     f"wall, {1000 * cli['cpu_median_s']:.0f} ms CPU (median of {len(cli['runs'])}; stderr empty: {cli['stderr_empty']}).")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.receiver", description=__doc__.split("\n\n")[0])
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    p.add_argument("--reuse", action="store_true", help="keep an existing venv")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    report = run(args.venv, args.reuse, args.repeats)
    print(json.dumps(report, indent=1))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
