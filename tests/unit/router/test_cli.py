"""`appliance router score|eval`: order kept, bad lines reported in place, real model end to end."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appliance.router.calibration import QualityCurve, cut_points_for_quality
from appliance.router.cli import add_commands, parse_cut_points, score_stream
from appliance.router.policy import CutPoints

REPO = Path(__file__).resolve().parents[3]
METADATA = {
    "score_quantiles": [0.0, 0.5, 1.0],
    "score_range": [0.01, 0.95],
    "quality_curve": {
        "share": [0.0, 0.25, 0.5, 0.75, 1.0],
        "threshold": [0.95, 0.7, 0.5, 0.3, 0.01],
        "quality": [0.85, 0.92, 0.96, 0.99, 1.0],
    },
    "default_quality_target": 0.95,
}


def _length_score(texts: list[str]) -> np.ndarray:
    return np.array([min(len(t) / 100, 1.0) for t in texts])


def test_scores_keep_input_order_across_batches() -> None:
    prompts = [f"{'x' * (i % 100)}" for i in range(150)]
    lines = [json.dumps({"prompt": p}) + "\n" for p in prompts]
    out = io.StringIO()
    errors = score_stream(lines, out, _length_score, CutPoints((0.3, 0.7)), ["a", "b", "c"])
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert errors == 0
    assert [r["score"] for r in results] == pytest.approx([len(p) / 100 for p in prompts])
    assert results[10]["tier"] == "a" and results[50]["tier"] == "b" and results[99]["tier"] == "c"


def test_bad_lines_get_an_error_in_place_and_the_rest_continue() -> None:
    lines = [
        '{"prompt": "ok"}\n',
        "{not json\n",
        '{"text": "no prompt"}\n',
        '["x"]\n',
        '{"prompt": "' + "y" * 90 + '"}\n',
    ]
    out = io.StringIO()
    errors = score_stream(lines, out, _length_score, CutPoints((0.3, 0.7)), ["a", "b", "c"])
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert errors == 3
    assert len(results) == 5
    assert "score" in results[0] and results[-1]["tier"] == "c"
    assert all("error" in r for r in results[1:4])


def test_cut_points_come_from_the_quality_target_unless_given() -> None:
    curve = QualityCurve.from_metadata(METADATA)
    default = parse_cut_points(None, 3, METADATA).values
    assert default == tuple(cut_points_for_quality(curve, 0.95, 3))
    stricter = parse_cut_points(None, 3, METADATA, quality_target=0.99).values
    assert stricter[1] < default[1]  # more traffic to the top tier
    assert parse_cut_points("0.4,0.8", 3, METADATA, quality_target=0.99).values == (0.4, 0.8)
    assert len(parse_cut_points(None, 2, METADATA).values) == 1
    with pytest.raises(ValueError, match="--quality-target"):
        parse_cut_points(None, 3, METADATA, quality_target=1.5)
    with pytest.raises(ValueError, match=r"--cut-points\[1\]: 0\.99 is above"):
        parse_cut_points("0.4,0.99", 3, METADATA)
    with pytest.raises(ValueError, match="3 tiers need 2"):
        parse_cut_points("0.5", 3, METADATA)
    with pytest.raises(ValueError, match="comma-separated"):
        parse_cut_points("low,high", 3, METADATA)


def test_commands_register_on_a_parent_parser() -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["router", "score", "--tiers", "a,b", "--cut-points", "0.5"])
    assert args.tiers == "a,b" and args.cut_points == "0.5" and callable(args.func)
    args = parser.parse_args(["router", "eval", "f.jsonl", "--tiers", "2", "--no-baselines"])
    assert args.file == Path("f.jsonl") and args.tiers == 2 and args.no_baselines
    args = parser.parse_args(["router", "score", "--quality-target", "0.9"])
    assert args.quality_target == 0.9 and args.cut_points is None


def test_score_command_runs_the_shipped_model_end_to_end() -> None:
    stdin = '{"prompt": "hi"}\nnot json\n{"prompt": "What is 12 * 7? Explain each step."}\n'
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.router.cli", "router", "score", "--tiers", "x,y,z"],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == 3 and "error" in results[1]
    for r in (results[0], results[2]):
        assert 0.0 <= r["score"] <= 1.0 and r["tier"] in {"x", "y", "z"}


def test_score_command_rejects_unreachable_cut_point() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.router.cli",
            "router",
            "score",
            "--cut-points",
            "0.5,1.0",
        ],
        input="",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "--cut-points[1]: 1.0 is above the highest score" in proc.stderr


def test_eval_command_prints_groups_baselines_and_the_curve(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    rows = [
        {
            "source": f"set{i % 3}",
            "prompt": f"Question {i}: what is {i} plus {i * 7}?" + " Explain." * (i % 5),
            "weak_correct": i % 4 != 0,
            "strong_correct": i % 7 != 0,
        }
        for i in range(90)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = subprocess.run(
        [sys.executable, "-m", "appliance.router.cli", "router", "eval", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
        check=True,
    )
    out = proc.stdout
    for name in ("random", "prompt length", "kNN-50", "logistic", "router (shipped)"):
        assert name in out, name
    assert "| set0 | 30 |" in out and "**pooled**" in out
    assert "Quality/cost curve" in out and "0.950" in out
    assert "in-sample" not in out
