"""APGR/CPT: the numbers the model card and `router eval` report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from appliance.router.metrics import (
    pgr_curve,
    random_router_metrics,
    read_outcomes,
    routing_metrics,
)


def _outcomes(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    weak = rng.random(n) < 0.6
    strong = weak | (rng.random(n) < 0.5)
    return weak, strong


def test_oracle_beats_random_and_recovers_gap_early() -> None:
    weak, strong = _outcomes()
    oracle = (strong & ~weak).astype(float)
    ours = routing_metrics(oracle, weak, strong)
    random = random_router_metrics(weak, strong)
    assert ours.apgr > 0.85 > 0.55 > random.apgr > 0.45
    gap_share = np.mean(strong & ~weak)
    assert ours.cpt50 == pytest.approx(gap_share / 2, abs=1e-3)
    assert ours.cpt80 == pytest.approx(gap_share * 0.8, abs=1e-3)


def test_inverted_oracle_is_worse_than_random() -> None:
    weak, strong = _outcomes()
    assert routing_metrics(-(strong & ~weak).astype(float), weak, strong).apgr < 0.3


def test_constant_scores_average_ties_to_the_random_diagonal() -> None:
    weak, strong = _outcomes()
    m = routing_metrics(np.zeros(weak.size), weak, strong)
    assert m.apgr == pytest.approx(0.5, abs=1e-9)
    assert m.cpt50 == pytest.approx(0.5, abs=1e-3)
    assert m.cpt80 == pytest.approx(0.8, abs=1e-3)


def test_curve_ends_at_zero_and_one() -> None:
    weak, strong = _outcomes(100)
    f, pgr = pgr_curve(np.linspace(0, 1, 100), weak, strong)
    assert f[0] == 0.0 and f[-1] == 1.0
    assert pgr[0] == pytest.approx(0.0) and pgr[-1] == pytest.approx(1.0)


def test_undefined_when_strong_is_not_better() -> None:
    weak = np.array([True, False, True])
    with pytest.raises(ValueError, match="undefined"):
        routing_metrics(np.array([0.1, 0.2, 0.3]), weak, weak)


def test_mismatched_lengths_are_rejected() -> None:
    with pytest.raises(ValueError, match="equal"):
        routing_metrics(np.zeros(3), np.zeros(2, bool), np.ones(3, bool))


def test_outcomes_file_errors_name_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "weak_correct": true, "strong_correct": true}\n{oops\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2"):
        read_outcomes(path)
    path.write_text('{"prompt": "a", "weak_correct": true}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: missing key 'strong_correct'"):
        read_outcomes(path)


def test_outcomes_keep_their_source_as_the_group(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    rows = [
        {"prompt": "a", "weak_correct": True, "strong_correct": True, "source": "mmlu/x"},
        {"prompt": "b", "weak_correct": False, "strong_correct": True},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    data = read_outcomes(path)
    assert data.sources == ["mmlu/x", ""]
    assert data.weak_correct.tolist() == [True, False]
