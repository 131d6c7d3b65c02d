"""The package's shape: layers that import only downwards, no import cycles (read from the source with ``ast``).

Every import counts, including those inside functions and under ``TYPE_CHECKING``: an import moved
into a function hides a cycle from Python, not from this test. The layers are documented in
docs/architecture.md; a new top-level module or subpackage gets a row in ``LAYERS`` below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sr_codec"
BENCHMARKS = PACKAGE.parent / "benchmarks"

#: Top-level module or subpackage of sr_codec -> its layer; a module may import its own layer and those below.
LAYERS: dict[str, int] = {
    # 0 core: the error classes and resource limits everything checks against
    "errors": 0, "limits": 0,
    # 1 wire bytes only (codec ids are ints)
    "format": 1,
    # 2 pixels: normalise, resample, image files, metrics and RD curves
    "imaging": 2,
    # 3 inner codecs, registered by name and wire id; alpha plane; degrade
    "codecs": 3,
    # 4 the model manifest (no TensorFlow)
    "zoo": 4,
    # 5 networks: the only layer importing Keras
    "nn": 5,
    # 6 decode, upscale, the network runtime
    "receiver": 6,
    # 7 encode, payload building, rate control (which models the receiver)
    "sender": 7,
    # 8 the public API: the package itself and the public sr_codec.rate facade
    "__init__": 8, "rate": 8,
    # 9 applications: may import anything below (add new ones here)
    "cli": 9, "__main__": 9, "train": 9, "export": 9, "demo": 9, "batch": 9, "serving": 9,
}
LAYER_NAMES = {0: "core", 1: "format", 2: "imaging", 3: "codecs", 4: "zoo", 5: "nn", 6: "receiver", 7: "sender",
               8: "api", 9: "application"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(name: str) -> bool:
    return (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()


def _exists(name: str) -> bool:
    base = PACKAGE.parent / Path(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imports(path: Path, top: str = "sr_codec") -> set[str]:
    """The ``top`` package's modules ``path`` imports (a ``from pkg import name`` of a submodule counts as that submodule)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == top}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != top:
                continue
            submodules = {f"{target}.{alias.name}" for alias in node.names if _exists(f"{target}.{alias.name}")}
            found |= submodules or {target}
            if len(submodules) < len(node.names):
                found.add(target)
    return {name for name in found if _exists(name) and name != module}


def _graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {_module_name(path): _imports(path, package.name) for path in package.rglob("*.py")}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle a depth-first walk of ``graph`` meets, as module paths."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def _layer(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in LAYERS:
        pytest.fail(f"sr_codec.{top} has no layer: add it to LAYERS in {__file__} and to docs/architecture.md")
    return LAYERS[top]


def test_every_module_has_a_layer():
    for module in _graph():
        _layer(module)


def test_imports_go_only_downwards():
    upward = [
        f"{module} ({LAYER_NAMES[_layer(module)]}) imports {target} ({LAYER_NAMES[_layer(target)]})"
        for module, targets in sorted(_graph().items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_benchmark_modules_have_no_import_cycle():
    graph = _graph(BENCHMARKS)
    assert "benchmarks.speed" in graph and "benchmarks.receiver" in graph
    cycles = _cycles(graph)
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_relative_function_level_and_submodule_imports(tmp_path):
    """The graph reader itself: imports inside functions and ``from . import submodule`` are edges."""
    graph = _graph()
    assert "sr_codec.sender.rate.choose" in graph["sr_codec.sender.encoder"]  # imported inside encode()
    assert "sr_codec.zoo.manifest" in graph["sr_codec.receiver.decoder"]  # from ..zoo import manifest
    assert "sr_codec.codecs.avif" in graph["sr_codec.codecs"]  # from . import avif, ...
    assert "sr_codec.format.payload" in graph["sr_codec.codecs.base"]


def test_keras_is_imported_only_by_nn():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n.split(".")[0] == "keras" for n in names) and not module.startswith(("sr_codec.nn", "sr_codec.train")):
                offenders.append(module)
    assert offenders == []


def test_the_psnr_formula_is_written_once():
    """``10 log10(peak^2 / mse)`` lives in :func:`sr_codec.imaging.metrics.psnr_from_mse`: every other PSNR
    (banded rate-control PSNR, training logs, benchmarks, tests) calls it, so no copy can drift."""
    tests = Path(__file__).resolve().parent
    owner = PACKAGE / "imaging" / "metrics.py"
    offenders = []
    for root in (PACKAGE, BENCHMARKS, tests):
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                called = node.func if isinstance(node, ast.Call) else None
                name = getattr(called, "attr", None) or getattr(called, "id", None)
                if name == "log10" and path != owner:
                    offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert offenders == [], "PSNR written again (use imaging.metrics.psnr / psnr_from_mse): " + ", ".join(offenders)
