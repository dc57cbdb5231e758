"""Train the router head, measure it under grouped cross-validation against four baselines,
and export ONNX + router.json with the quality/cost curve. One command, seeded, reproducible:

    /work/venv-train/bin/python models/router/train.py \
        --data /path/to/router/outcomes.jsonl --cache-dir /path/to/cache

(any Python with the runtime deps plus scikit-learn and onnx will do). It writes
`models/router/router.onnx` and `router.json` and prints the tables for MODEL_CARD.md. The data
is read from outside the package and never copied into it; embeddings are cached under
`--cache-dir` (keyed by the prompts' hash) so reruns skip ~10 minutes of encoding on 2 cores.

Method (MODEL_CARD.md has the why): the head is two gradient-boosted tree models over
topic-free task features (`appliance.router.features`) and the complexity count, one for
P(strong correct) and one for P(weak correct); the score ranks by their difference. The
embedding only measures how far a prompt is from the training data, and far away the score
is blended toward the complexity prior. Everything is chosen by grouped CV: whole MMLU
subjects and GSM8K are held out (10 folds), and whole source families in a second scheme;
hyper-parameters come from an inner grouped split of each outer training set (nested).
"""

from __future__ import annotations

import os

# One thread per fit: on a shared box OpenMP oversubscription made each fit 3-5x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cv import (  # noqa: E402
    Data,
    FoldModel,
    blended_oof,
    fit_boost,
    grid_scores,
    head_oof,
    held_out_maxsim,
    nested_fold_models,
)
from export import export_onnx  # noqa: E402
from head import BOOST_GRID, Distance, Head, OodBlend, Prior, is_multiple_choice  # noqa: E402
from probes import EASY_OPEN_KINDS, score_probes  # noqa: E402
from report import print_report  # noqa: E402

from appliance.router.calibration import (  # noqa: E402
    build_curve,
    curve_rows,
    cut_points_for_quality,
)
from appliance.router.complexity import (  # noqa: E402
    COMPLEXITY_PARTS,
    COMPLEXITY_WEIGHTS,
    complexity_count,
)
from appliance.router.features import FEATURE_NAMES, task_features  # noqa: E402
from appliance.router.grouped import (  # noqa: E402
    Baselines,
    GroupedReport,
    assign_folds,
    fold_splits,
    grouped_report,
    percentile_in,
    source_family,
)
from appliance.router.metrics import read_outcomes  # noqa: E402
from models.encoder import choice  # noqa: E402

VERSION = "2.0.0"
SUBJECT_FOLDS = 10
DEFAULT_QUALITY_TARGET = 0.95
DEFAULT_TIERS = 3


def embed(prompts: list[str], cache_dir: Path) -> np.ndarray:
    """MiniLM vectors of the prompts, cached by their hash; batches sorted by length."""
    return choice.cached_vectors(cache_dir, "embeddings", prompts, progress=True)


def evaluate_scheme(
    name: str,
    data: Data,
    fold_groups: np.ndarray,
    blend: OodBlend,
    lengths: np.ndarray,
) -> tuple[dict[str, GroupedReport], dict[str, np.ndarray], list[FoldModel]]:
    """Nested grouped CV of ours and the baselines in the same folds, reported per group."""
    splits = fold_splits(assign_folds(fold_groups, SUBJECT_FOLDS))
    print(f"\n[{name}] {len(splits)} outer folds, nested model selection", flush=True)
    folds = nested_fold_models(data, splits, lambda s: print(s, flush=True))
    scores = Baselines(lengths, data.vectors, data.weak, data.strong).scores(splits)
    scores["ours: head only"] = head_oof(data, folds)
    scores["ours: shipped (head + OOD blend)"] = blended_oof(data, folds, blend)
    reports = {
        n: grouped_report(s, data.weak, data.strong, fold_groups, random_draws=n == "random")
        for n, s in scores.items()
    }
    return reports, scores, folds


def gsm8k_seen_check(data: Data, params: object, lengths: np.ndarray) -> dict[str, float]:
    """Supplementary: MMLU subjects still held out whole, but GSM8K items spread over the
    folds, the way the judged test has unseen GSM8K items from a seen source."""
    fold = assign_folds(data.groups, SUBJECT_FOLDS)
    gsm = np.flatnonzero(data.groups == "gsm8k")
    fold[gsm] = np.arange(gsm.size) % SUBJECT_FOLDS
    out = np.zeros(data.strong.size)
    for train, held in fold_splits(fold):
        model = fit_boost(data, train, params)  # type: ignore[arg-type]
        out[held] = percentile_in(model.gain(data.inputs[held]), model.gain(data.inputs[train]))
    report = grouped_report(out, data.weak, data.strong, data.groups)
    length = grouped_report(lengths.astype(float), data.weak, data.strong, data.groups)
    gsm_report, gsm_length = report.groups["gsm8k"], length.groups["gsm8k"]
    assert gsm_report is not None and gsm_length is not None
    return {
        "pooled_apgr": round(report.pooled.apgr, 4),
        "gsm8k_apgr": round(gsm_report.apgr, 4),
        "gsm8k_apgr_prompt_length": round(gsm_length.apgr, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="outcomes JSONL")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "router")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/appliance-router-cache"))
    args = parser.parse_args()
    started = time.time()

    outcomes = read_outcomes(args.data)
    vectors = embed(outcomes.prompts, args.cache_dir)
    features = task_features(outcomes.prompts)
    counts = complexity_count(outcomes.prompts)
    groups = np.array(outcomes.sources)
    data = Data(
        vectors,
        np.hstack([features, counts]).astype(np.float32),
        outcomes.strong_correct,
        outcomes.weak_correct,
        groups,
    )
    lengths = np.array([len(p) for p in outcomes.prompts], dtype=np.float64)
    print(f"rows {groups.size}, groups {np.unique(groups).size}", flush=True)

    # Out-of-domain calibration: similarity of each prompt to centroids fitted without its
    # group, so it describes prompts from unseen subjects. Uses no outcome label.
    maxsim = held_out_maxsim(data, SUBJECT_FOLDS)
    blend = OodBlend(maxsim, is_multiple_choice(data.inputs))

    subject, subject_scores, subject_folds = evaluate_scheme(
        "subjects held out", data, groups, blend, lengths
    )
    families = np.array([source_family(s) for s in outcomes.sources])
    family, _, _ = evaluate_scheme("source families held out", data, families, blend, lengths)

    print("\n[final] grid on all rows, subject-grouped folds", flush=True)
    final_scores = grid_scores(data, np.arange(groups.size), SUBJECT_FOLDS, print)
    params = max(BOOST_GRID, key=lambda p: final_scores[p])
    seen = gsm8k_seen_check(data, params, lengths)
    head = Head(
        fit_boost(data, np.arange(groups.size), params), Distance(vectors, data.inputs), blend
    )
    head.calibrate(head.boost.gain(data.inputs))
    head.prior = Prior(counts[:, 0], head.head_score(data.inputs))
    shipped = head.parts(vectors, data.inputs)["score"]
    # Out of domain a score moves toward the prior, whose values are head quantiles.
    reach = np.concatenate([shipped, head.prior.y])

    ours_oof = subject_scores["ours: shipped (head + OOD blend)"]
    curve = build_curve(ours_oof, data.weak, data.strong, shipped)
    default_cuts = cut_points_for_quality(curve, DEFAULT_QUALITY_TARGET, DEFAULT_TIERS)

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "router.onnx"
    export_onnx(head, len(FEATURE_NAMES), onnx_path, f"appliance router head {VERSION}")
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])

    def onnx_parts(vecs: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
        names = ["score", "head", "ood_weight", "prior"]
        outputs = session.run(
            names,
            {
                "embedding": vecs.astype(np.float32),
                "features": task_features(texts),
                "complexity": complexity_count(texts),
            },
        )
        return {n: np.asarray(o, np.float64) for n, o in zip(names, outputs, strict=True)}

    drift = float(np.max(np.abs(onnx_parts(vectors, outcomes.prompts)["score"] - shipped)))
    if drift > 1e-4:
        raise SystemExit(f"ONNX export disagrees with the numpy head by {drift}")

    def table(reports: dict[str, GroupedReport]) -> list[dict[str, object]]:
        return [
            {
                "router": n,
                "apgr": round(r.pooled.apgr, 4),
                "cpt50": round(r.pooled.cpt50, 4),
                "cpt80": round(r.pooled.cpt80, 4),
            }
            for n, r in reports.items()
        ]

    metadata: dict[str, object] = {
        "version": VERSION,
        "trained": dt.date.today().isoformat(),
        "inputs": {
            "embedding": "MiniLM-L6 unit vector, 384 float32 (only for the out-of-domain blend)",
            "features": "appliance.router.features.task_features",
            "complexity": "appliance.router.complexity.complexity_count",
        },
        "output": "score: complexity in [0, 1]; higher = more likely only the strong model "
        "answers correctly",
        "task_features": list(FEATURE_NAMES),
        "complexity_parts": list(COMPLEXITY_PARTS),
        "complexity_weights": list(COMPLEXITY_WEIGHTS),
        "model": {
            "kind": "two gradient-boosted tree models (P(strong correct), P(weak correct)) over "
            "task features + complexity count; score ranks by their difference",
            "params": params.label(),
            "grid": [p.label() for p in BOOST_GRID],
            "grid_grouped_apgr": [round(final_scores[p], 4) for p in BOOST_GRID],
            "head_centre": round(head.centre, 6),
            "head_scale": round(head.scale, 6),
            "ood_blend": {
                "distance": "max cosine similarity to k-means centroids of the training "
                "vectors of the same format (256 multiple-choice, 64 open)",
                "weight": "sigmoid((s_half - maxsim) / width), per format",
                "multiple_choice": {
                    "s_half": round(blend.params[True][0], 6),
                    "width": round(blend.params[True][1], 6),
                },
                "open": {
                    "s_half": round(blend.params[False][0], 6),
                    "width": round(blend.params[False][1], 6),
                },
                "calibration": "w=0.5 at the 1st and w=0.05 at the 5th percentile of the "
                "similarity of each prompt to centroids fitted without it (multiple choice: "
                "its whole subject held out; open: its item held out)",
                "prior_knots": [round(float(x), 4) for x in head.prior.x],
                "prior_values": [round(float(y), 6) for y in head.prior.y],
            },
        },
        "data": {
            "file": args.data.name,
            "rows": int(groups.size),
            "sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
            "weak": "Mixtral-8x7B-Instruct",
            "strong": "GPT-4-1106",
        },
        "grouped_cv": {
            "subjects_held_out": table(subject),
            "families_held_out": table(family),
            "outer_folds": SUBJECT_FOLDS,
            "fold_params": [f.params.label() for f in subject_folds],
            "gsm8k_items_seen_check": seen,
        },
        "quality_curve": {
            **curve.to_json(),
            "basis": "quality relative to all-strong vs share sent strong, from out-of-fold "
            "scores with whole subjects/GSM8K held out; thresholds = shipped-model score "
            "quantiles on the same prompts",
        },
        "default_quality_target": DEFAULT_QUALITY_TARGET,
        "score_range": [round(float(reach.min()), 6), round(float(reach.max()), 6)],
        "score_quantiles": [
            round(float(q), 6) for q in np.quantile(shipped, np.linspace(0, 1, 101))
        ],
        "default_cut_points": [round(c, 6) for c in default_cuts],
    }
    metadata["ood_probes"] = score_probes(lambda texts: onnx_parts(_encode(texts), texts), metadata)
    (args.out / "router.json").write_text(json.dumps(metadata, indent=2) + "\n")
    np.save(args.cache_dir / "oof-subjects-shipped.npy", ours_oof)
    np.save(args.cache_dir / "shipped-scores.npy", shipped)

    print_report(
        subject,
        family,
        curve_rows(curve, n_tiers=DEFAULT_TIERS),
        metadata,
        EASY_OPEN_KINDS,
    )
    print(f"onnx drift {drift:.2e}; done in {time.time() - started:.0f} s")
    return 0


def _encode(texts: list[str]) -> np.ndarray:
    return np.asarray(choice.make_encoder().encode(texts))


if __name__ == "__main__":
    raise SystemExit(main())
