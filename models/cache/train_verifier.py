"""Train the cache verifier (logistic regression over token-alignment features) in one command:

    .venv/bin/python models/cache/train_verifier.py [--loco-dir DIR] [--seed 13]

It owns the recipe and writes models/cache/verifier/verifier.json (feature names, weights,
bias, and what it was trained on). Data: `verifier_data.training_set` (QQP pairs outside the
report sample + rule pairs generated from QQP questions), each pair in both orders; its
cosine comes from the shipped encoder (embeddings cached under /tmp, see embeddings.py).
Seeded and deterministic: the fit is Newton's method on a convex loss, so the same data gives
the same weights. With --loco-dir, one more model per trap category, trained without that
category's rule pairs, goes to DIR/<category>/verifier.json (for calibrate.py, not shipped).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.cache.alignment import FEATURES, features  # noqa: E402
from appliance.text import normalise_text  # noqa: E402
from models.cache import rules, verifier_data  # noqa: E402
from models.cache.embeddings import embed_cached  # noqa: E402

OUT = ROOT / "models" / "cache" / "verifier" / "verifier.json"
L2 = 1e-2


def design(data: list[verifier_data.Example]) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels, each pair in both orders (the task is symmetric)."""
    texts = sorted({normalise_text(t) for e in data for t in (e.a, e.b)})
    vectors = embed_cached("train", texts)
    where = {t: i for i, t in enumerate(texts)}
    rows, labels = [], []
    for e in data:
        a, b = normalise_text(e.a), normalise_text(e.b)
        cosine = float(np.clip(vectors[where[a]] @ vectors[where[b]], 0.0, 1.0))
        rows += [features(a, b, cosine), features(b, a, cosine)]
        labels += [float(e.same)] * 2
    return np.asarray(rows, dtype=np.float64), np.asarray(labels)


def fit(x: np.ndarray, y: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, float, float]:
    """L2-regularised logistic regression by Newton's method, classes weighted equally
    (after the per-example `sample` weights). Returns weights, bias and the mean log loss."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    pos = float((sample * y).sum() / sample.sum())
    weight = sample * np.where(y > 0.5, 0.5 / pos, 0.5 / (1 - pos))
    beta = np.zeros(xb.shape[1])
    reg = L2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -50, 50)))
        grad = xb.T @ (weight * (p - y)) / len(y) + reg @ beta
        hess = (xb * (weight * p * (1 - p))[:, None]).T @ xb / len(y) + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    p = np.clip(1.0 / (1.0 + np.exp(-(xb @ beta))), 1e-9, 1 - 1e-9)
    loss = float(-(weight * (y * np.log(p) + (1 - y) * np.log(1 - p))).mean())
    return beta[:-1], float(beta[-1]), loss


def train(
    data: list[verifier_data.Example],
    x: np.ndarray,
    y: np.ndarray,
    leave_out: str | None,
    qqp_weight: float,
) -> dict[str, object]:
    keep = np.repeat([e.category != leave_out for e in data], 2)
    sample = np.repeat([qqp_weight if e.category == "qqp" else 1.0 for e in data], 2)
    weights, bias, loss = fit(x[keep], y[keep], sample[keep])
    counts: dict[str, int] = {}
    for e in data:
        if e.category != leave_out:
            key = f"{e.category}:{'same' if e.same else 'different'}"
            counts[key] = counts.get(key, 0) + 1
    return {
        "features": list(FEATURES),
        "weights": [round(float(w), 6) for w in weights],
        "bias": round(bias, 6),
        "meta": {
            "model": "logistic regression over appliance/cache/alignment.py features",
            "leave_out": leave_out,
            "pairs": int(keep.sum() // 2),
            "counts": dict(sorted(counts.items())),
            "l2": L2,
            "qqp_weight": qqp_weight,
            "train_log_loss": round(loss, 4),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--loco-dir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--per-rule", type=int, default=600)
    parser.add_argument("--qqp", type=int, default=2000)
    parser.add_argument(
        "--qqp-weight", type=float, default=1.0, help="weight of a QQP pair against a rule pair"
    )
    args = parser.parse_args()
    data = verifier_data.training_set(args.seed, per_rule=args.per_rule, qqp=args.qqp)
    x, y = design(data)
    runs: list[tuple[str | None, Path]] = [(None, args.out)]
    if args.loco_dir is not None:
        runs += [(c, args.loco_dir / c / "verifier.json") for c in (*rules.DIFFERENT, *rules.SAME)]
    for leave_out, out in runs:
        model = train(data, x, y, leave_out, args.qqp_weight)
        model["meta"]["seed"] = args.seed  # type: ignore[index]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
        print(out, json.dumps(dict(zip(FEATURES, model["weights"], strict=True))))  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
