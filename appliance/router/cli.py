"""`appliance router ...`: score prompts and evaluate the shipped router from the shell.

It owns the `router` command group: `router score` (JSONL prompts on stdin -> JSONL scores and
tiers on stdout) and `router eval FILE` (APGR/CPT per group on an outcomes file, beside the
random, prompt-length, kNN-50 and logistic-regression baselines, and the quality/cost curve).
It must not hold routing logic of its own: scores come from `RouterClassifier`, tiers from
`policy.CutPoints`, cut points for a quality target from `calibration`, the report from
`evaluate`, so what the shell shows is what the gateway does. Heavy imports (onnxruntime, the
encoder) happen inside the handlers, not at import time, so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from appliance.router.calibration import QualityCurve, cut_points_for_quality
from appliance.router.policy import CutPoints, ScoreProfile

if TYPE_CHECKING:
    import numpy as np

DEFAULT_TIERS = ("local", "cloud", "frontier")
DEFAULT_QUALITY_TARGET = 0.95
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
        "--cut-points", default=None, help="n-1 ascending scores (wins over --quality-target)"
    )
    score.add_argument(
        "--quality-target",
        type=float,
        default=None,
        help="cut points that keep this share of all-frontier quality (default: router.json's "
        "default_quality_target, 0.95)",
    )
    score.add_argument("--model-dir", type=Path, default=None, help="router model directory")
    score.set_defaults(func=_score_command)

    evaluate = commands.add_parser(
        "eval", help="APGR/CPT per group vs baselines, and the quality/cost curve"
    )
    evaluate.add_argument("file", type=Path, help='outcomes JSONL (optional "source" = group)')
    evaluate.add_argument("--model-dir", type=Path, default=None, help="router model directory")
    evaluate.add_argument("--tiers", type=int, default=3, help="tiers for the curve's cut points")
    evaluate.add_argument(
        "--no-baselines", action="store_true", help="skip the kNN-50 and logistic baselines"
    )
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


def parse_cut_points(
    text: str | None,
    n_tiers: int,
    metadata: dict[str, Any],
    quality_target: float | None = None,
) -> CutPoints:
    """Cut points from `--cut-points` (wins), else from the quality target (given, else
    router.json's default) on router.json's quality curve, validated against the model."""
    profile = ScoreProfile.from_metadata(metadata)
    if text is None:
        target = quality_target
        if target is None:
            target = float(metadata.get("default_quality_target", DEFAULT_QUALITY_TARGET))
        try:
            curve = QualityCurve.from_metadata(metadata)
            values = tuple(cut_points_for_quality(curve, target, n_tiers))
        except ValueError as exc:
            raise ValueError(f"--quality-target: {exc}") from exc
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


class ShippedRouter:
    """The shipped encoder + classifier, as the gateway runs them."""

    def __init__(self, model_dir: Path | None) -> None:
        from appliance.embedding.encoder import Encoder
        from appliance.router.classifier import RouterClassifier

        self.classifier = RouterClassifier.load(model_dir)
        self.encoder = Encoder()

    def vectors(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        parts = [self.encoder.encode(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, 384), np.float32)

    def score(self, texts: list[str]) -> np.ndarray:
        return self.classifier.score(self.encoder.encode(texts), texts)


def shipped_score_fn(model_dir: Path | None) -> tuple[ScoreFn, dict[str, Any]]:
    """Encoder + classifier as one texts -> scores function, and the model's metadata."""
    router = ShippedRouter(model_dir)
    return router.score, router.classifier.metadata


def _score_command(args: argparse.Namespace) -> int:
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if len(tiers) < 2:
        raise ValueError("--tiers: need at least two tier names")
    score_fn, metadata = shipped_score_fn(args.model_dir)
    cuts = parse_cut_points(args.cut_points, len(tiers), metadata, args.quality_target)
    score_stream(sys.stdin, sys.stdout, score_fn, cuts, tiers)
    return 0


def _eval_command(args: argparse.Namespace) -> int:
    import hashlib

    from appliance.router.evaluate import curve_checks, evaluation_reports, format_evaluation
    from appliance.router.metrics import read_outcomes

    outcomes = read_outcomes(args.file)
    router = ShippedRouter(args.model_dir)
    vectors = router.vectors(outcomes.prompts)
    scores = router.classifier.score(vectors, outcomes.prompts)
    metadata = router.classifier.metadata
    reports = evaluation_reports(outcomes, scores, None if args.no_baselines else vectors)
    checks = curve_checks(
        QualityCurve.from_metadata(metadata),
        scores,
        outcomes.weak_correct,
        outcomes.strong_correct,
        args.tiers,
    )
    digest = hashlib.sha256(Path(args.file).read_bytes()).hexdigest()
    in_sample = digest == metadata.get("data", {}).get("sha256")
    print(format_evaluation(reports, checks, in_sample))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
