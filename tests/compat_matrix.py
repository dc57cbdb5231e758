"""Render the compatibility matrix in docs/compatibility.md from the last test run.

Tests marked `@pytest.mark.compat(client, feature, tier)` (tests/integration) record their
outcome in pytest's cache; this writes them as the table between the `matrix` markers:

    .venv/bin/pytest tests/integration/test_agents.py tests/integration/test_responses.py \
        tests/integration/test_compat.py
    .venv/bin/python -m tests.compat_matrix

`cells()` lists the cells the tests declare (read from their source), which
tests/unit/test_compat_doc.py checks against the document, so a new cell cannot be left out.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "compatibility.md"
RESULTS = ROOT / ".pytest_cache" / "v" / "appliance" / "compat"
START, END = "<!-- matrix:start -->", "<!-- matrix:end -->"
MARK = {"passed": "pass", "failed": "FAIL", "skipped": "not run"}


def cells() -> list[tuple[str, str, str, str]]:
    """(client, feature, tier, test) for every compat mark in tests/integration; a feature
    with `{param}` is expanded over the test's parametrize values."""
    found = []
    for path in sorted((ROOT / "tests" / "integration").glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            params: dict[str, list[str]] = {}
            marks = []
            for decorator in node.decorator_list:
                if not isinstance(decorator, ast.Call):
                    continue
                name = ast.unparse(decorator.func)
                if name == "pytest.mark.compat":
                    marks.append([ast.literal_eval(a) for a in decorator.args])
                elif name == "pytest.mark.parametrize" and len(decorator.args) == 2:
                    try:
                        values = [ast.literal_eval(a) for a in decorator.args]
                    except ValueError:
                        continue  # values computed at run time: not a matrix parameter
                    params[str(values[0])] = [str(v) for v in values[1]]
            for client, feature, tier in marks:
                for expanded in _expand(str(feature), params):
                    found.append((client, expanded, tier, f"{path.name}::{node.name}"))
    return found


def _expand(feature: str, params: dict[str, list[str]]) -> list[str]:
    names = re.findall(r"{(\w+)}", feature)
    if not names:
        return [feature]
    return [feature.format(**{names[0]: value}) for value in params.get(names[0], [])]


def render(results: dict[str, dict[str, str]]) -> str:
    lines = [
        "| client | feature | tier | result | test |",
        "|---|---|---|---|---|",
    ]
    for client, feature, tier, test in sorted(cells()):
        outcome = results.get(f"{client}|{feature}|{tier}", {}).get("outcome", "")
        lines.append(
            f"| {client} | {feature} | {tier} | {MARK.get(outcome, 'not run')} | `{test}` |"
        )
    return "\n".join(lines)


def main() -> int:
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    text = DOC.read_text(encoding="utf-8")
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(f"{before}{START}\n{render(results)}\n{END}{after}", encoding="utf-8")
    print(f"wrote {len(cells())} cells to {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
