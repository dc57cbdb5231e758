"""The load benchmark in its short form: mixed hits, misses and streams at concurrency 32
must finish with zero errors. (Speed and memory numbers are printed by bench/load.py, not
asserted here.)"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import load


def test_short_mixed_load_has_no_errors(capsys: object) -> None:
    result = load.main(requests=300, concurrency=32, as_json=False)
    assert result["errors"] == 0
    classes = result["classes"]
    assert isinstance(classes, dict) and set(classes) == {
        "hit",
        "stream-hit",
        "miss",
        "stream-miss",
    }
