"""docs/compatibility.md lists every cell the integration tests declare (and no other)."""

from __future__ import annotations

from tests import compat_matrix


def test_every_declared_cell_is_in_the_document() -> None:
    text = compat_matrix.DOC.read_text(encoding="utf-8")
    table = text.split(compat_matrix.START)[1].split(compat_matrix.END)[0]
    lines = [line for line in table.splitlines() if line.startswith("|")][2:]  # no header
    rows = {tuple(c.strip() for c in line.strip("|").split("|")[:3]) for line in lines}
    declared = {(client, feature, tier) for client, feature, tier, _ in compat_matrix.cells()}
    assert declared, "no compat cells found"
    assert rows == declared, "run the integration tests, then python -m tests.compat_matrix"


def test_a_parametrized_cell_expands_over_its_values() -> None:
    assert compat_matrix._expand("loop ({api} model)", {"api": ["chat", "responses"]}) == [
        "loop (chat model)",
        "loop (responses model)",
    ]
