"""The shape of the code, held by tests (docs/architecture.md): the import contracts in
pyproject.toml (layers and the nevers), no import cycle between parts, no god-files."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MAX_LINES = 400


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _part(module: str) -> str:
    """`appliance.cache.index` -> `cache`; `tui.screens.main` -> `tui`."""
    pieces = module.split(".")
    return pieces[0] if pieces[0] == "tui" or len(pieces) == 1 else pieces[1]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for vertex in list(edges):
        if vertex not in index:
            visit(vertex)
    return found


def test_no_import_cycle_between_parts() -> None:
    graph = grimp.build_graph("appliance", "tui", cache_dir=None)
    edges: dict[str, set[str]] = defaultdict(set)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _part(module), _part(imported)
            if a != b:
                edges[a].add(b)
                edges[b]
    assert _cycles(edges) == []


def test_a_part_cycle_is_detected() -> None:
    """The cycle finder itself: a two-part loop behind a third part is found."""
    edges: dict[str, set[str]] = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"b"}})
    assert _cycles(edges) == [["b", "c"]]


def test_no_module_over_400_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for tree in ("appliance", "tui")
        for path in (ROOT / tree).rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
