"""The benchmarks' own modules import one another without cycles (read from the source with ``ast``)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _module(path: Path) -> str:
    parts = list(path.relative_to(BENCHMARKS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in BENCHMARKS.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):  # imports inside functions count too
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    package = name.rsplit(".", node.level)[0] if path.name != "__init__.py" else name
                    base = f"{package}.{node.module}"
                found |= {f"{base}.{a.name}" for a in node.names} | {base}
        graph[name] = {m for m in found if m in modules and m != name and m != "benchmarks"}
    return graph


def test_benchmark_modules_have_no_import_cycle():
    graph = _graph()
    assert "benchmarks.speed" in graph and "benchmarks.receiver" in graph
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []
