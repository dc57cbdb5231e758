"""`appliance router ...`: score prompts and evaluate the shipped router from the shell.

It owns the `router` command group: `router score` (JSONL prompts on stdin -> JSONL scores and
tiers on stdout) and `router eval FILE` (APGR/CPT on an outcomes file, beside a random router).
It must not hold routing logic of its own: scores come from `RouterClassifier`, tiers from
`policy.CutPoints`, metrics from `metrics.evaluate_file`, so what the shell shows is what the
gateway does. Heavy imports (onnxruntime, the encoder) happen inside the handlers, not at
import time, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from appliance.router.policy import CutPoints, ScoreProfile

if TYPE_CHECKING:
    import numpy as np

DEFAULT_TIERS = ("local", "cloud", "frontier")
BATCH = 64

# (texts) -> scores; the encoder + classifier in production, a stub in tests.
ScoreFn = Callable[[list[str]], "np.ndarray"]


def add_commands(subparsers: Any) -> None:
    """Register `router score` and `router eval` on an argparse subparsers object."""
    router = subparsers.add_parser("router", help="score prompts with the complexity router")
    commands = router.add_subparsers(dest="router_command", required=True)

    score = commands.add_parser("score", help='JSONL {"prompt": ...} on stdin -> scores')
    score.add_argument("--tiers", default=",".join(DEFAULT_TIERS), help="tier names, low to high")
    score.add_argument(
        "--cut-points", default=None, help="n-1 ascending scores (default: router.json's)"
    )
    score.add_argument("--model-dir", type=Path, default=None, help="router model directory")
    score.set_defaults(func=_score_command)

    evaluate = commands.add_parser("eval", help="APGR/CPT of the router on an outcomes JSONL")
    evaluate.add_argument("file", type=Path)
    evaluate.add_argument("--model-dir", type=Path, default=None, help="router model directory")
    evaluate.set_defaults(func=_eval_command)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m appliance.router.cli router score`)."""
    parser = argparse.ArgumentParser(prog="appliance")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def parse_cut_points(text: str | None, n_tiers: int, metadata: dict[str, Any]) -> CutPoints:
    """Cut points from `--cut-points` or router.json's defaults, validated against the model."""
    profile = ScoreProfile.from_metadata(metadata)
    if text is None:
        default = metadata.get("default_cut_points")
        if not isinstance(default, list) or len(default) != n_tiers - 1:
            raise ValueError(
                f"--cut-points: required for {n_tiers} tiers (no default in router.json)"
            )
        values = tuple(float(v) for v in default)
    else:
        try:
            values = tuple(float(v) for v in text.split(","))
        except ValueError as exc:
            raise ValueError(
                f"--cut-points: expected comma-separated numbers, got {text!r}"
            ) from exc
    cuts = CutPoints(values)
    cuts.validate(profile, key="--cut-points")
    if len(values) != n_tiers - 1:
        raise ValueError(f"--cut-points: {n_tiers} tiers need {n_tiers - 1} cut points")
    return cuts


def score_stream(
    lines: Iterable[str], out: IO[str], score_fn: ScoreFn, cuts: CutPoints, tiers: list[str]
) -> int:
    """Write one JSONL result per input line, in order; returns the number of bad lines.

    Bad lines get `{"error": ...}` in their place so the output stays aligned with the input.
    """
    errors = 0
    pending: list[tuple[int, str]] = []
    results: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            scores = score_fn([text for _, text in pending])
            for (slot, _), score in zip(pending, scores, strict=True):
                results[slot] = {"score": round(float(score), 6), "tier": tiers[cuts.tier(score)]}
            pending.clear()
        for result in results:
            out.write(json.dumps(result) + "\n")
        results.clear()
        out.flush()

    for line in lines:
        if not line.strip():
            continue
        results.append({})
        try:
            row = json.loads(line)
            prompt = row.get("prompt") if isinstance(row, dict) else None
            if not isinstance(prompt, str):
                raise ValueError('expected an object with a string "prompt"')
            pending.append((len(results) - 1, prompt))
        except (json.JSONDecodeError, ValueError) as exc:
            results[-1] = {"error": f"invalid input line: {exc}"}
            errors += 1
        if len(pending) >= BATCH:
            flush()
    flush()
    return errors


def shipped_score_fn(model_dir: Path | None) -> tuple[ScoreFn, dict[str, Any]]:
    """Encoder + classifier as one texts -> scores function, and the model's metadata."""
    from appliance.embedding.encoder import Encoder
    from appliance.router.classifier import RouterClassifier

    classifier = RouterClassifier.load(model_dir)
    encoder = Encoder()

    def score(texts: list[str]) -> np.ndarray:
        return classifier.score(encoder.encode(texts), texts)

    return score, classifier.metadata


def _score_command(args: argparse.Namespace) -> int:
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if len(tiers) < 2:
        raise ValueError("--tiers: need at least two tier names")
    score_fn, metadata = shipped_score_fn(args.model_dir)
    cuts = parse_cut_points(args.cut_points, len(tiers), metadata)
    score_stream(sys.stdin, sys.stdout, score_fn, cuts, tiers)
    return 0


def format_metrics_table(ours: Any, random: Any) -> str:
    """The `router eval` report: one row per router."""
    lines = [
        f"prompts: {ours.n}  weak quality: {ours.q_weak:.4f}  strong quality: {ours.q_strong:.4f}",
        f"{'router':<10} {'APGR':>7} {'CPT(50%)':>9} {'CPT(80%)':>9}",
    ]
    for name, m in (("random", random), ("router", ours)):
        lines.append(f"{name:<10} {m.apgr:>7.4f} {m.cpt50:>9.1%} {m.cpt80:>9.1%}")
    return "\n".join(lines)


def _eval_command(args: argparse.Namespace) -> int:
    from appliance.router.metrics import evaluate_file

    score_fn, _ = shipped_score_fn(args.model_dir)
    ours, random = evaluate_file(args.file, score_fn)
    print(format_metrics_table(ours, random))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
