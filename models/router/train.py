"""Train the router head, compare it with baselines on a held-out split, export ONNX.

Run from the repository root (training needs scikit-learn and onnx on top of the runtime deps):

    .venv/bin/pip install scikit-learn onnx
    .venv/bin/python models/router/train.py --data /path/to/router/outcomes.jsonl

It writes `models/router/router.onnx` and `models/router/router.json` and prints the held-out
metrics table for `MODEL_CARD.md`. The data is read from outside the package and never copied
into it; embeddings are cached under `--cache-dir` (keyed by the prompts' hash) so reruns skip
the ~10 minutes of encoding on two cores.

The model. On this data most of the signal is the topic: how much GPT-4 beats Mixtral differs
a lot by subject, and per-item differences are mostly noise (knowing each prompt's true source
subject alone gives APGR ~0.63). Linear heads and MLPs on the 384-d vector under-fit that
(APGR 0.55-0.60 in 5-fold CV), while a kNN average of the gain does better but would mean
shipping the training prompts' vectors. So the head is a prototype smoother: k-means
centroids of the training vectors, a softmax over cosine similarity to them, and a shrunken
mean gain (strong_correct - weak_correct) per centroid; several k-means seeds are averaged.
A ridge correction on the lexical features is fitted on cross-fitted residuals and kept only
if it raises cross-validated APGR. The expected gain is squashed by a logistic on its
training z-score into the [0, 1] complexity score, which keeps the ranking.

Out of domain. The outcomes are exam questions and word problems only, so on chat traffic the
head's output is arbitrary ("hi" scored like a median exam item). The graph therefore also
measures how far a prompt is from the training data (the mean over k-means seeds of the
maximum cosine similarity to a centroid, which the softmax already computes) and blends the
head's score toward a complexity prior as that similarity drops:

    score = head + w * (prior - head),   w = sigmoid((s_half - maxsim) / width)

`s_half` is the 1st percentile of the in-domain max-similarity and `width` puts w at 0.05 at
the 5th percentile; both come from cross-fitted (out-of-fold) similarities on the training
split, so they describe unseen in-domain prompts, not the centroids' own members. The prior is
`features.complexity_count` (a fixed-weight checklist of size and task demands) mapped by a
monotone piecewise-linear function that lines its quantiles up with the head's training-score
quantiles: a prompt as complex as the p-th percentile training prompt gets the head's p-th
percentile score. No outcome label is used by the prior or the blend.
"""

from __future__ import annotations

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

from appliance.router.features import (  # noqa: E402
    COMPLEXITY_PARTS,
    COMPLEXITY_WEIGHTS,
    FEATURE_NAMES,
    complexity_count,
    lexical_features,
)
from appliance.router.metrics import (  # noqa: E402
    RoutingMetrics,
    random_router_metrics,
    read_outcomes,
    routing_metrics,
)

VERSION = "1.1.0"
SPLIT_SEED = 20240601
HELDOUT_FRACTION = 0.2
CV_FOLDS = 5
# (prototypes, temperature) candidates; 5-fold CV on the training split picks one.
PROTOTYPE_GRID = ((256, 0.05), (512, 0.03), (512, 0.05), (512, 0.08), (1024, 0.03), (1024, 0.05))
SHRINKAGE = 5.0  # pseudo-count pulling thin prototypes to the global mean gain
SEEDS = (0, 1, 2)
KNN_K = (10, 30, 100, 300)
LR_C = (0.1, 1.0, 10.0)
LEX_ALPHAS = (10.0, 100.0, 1000.0)
DEFAULT_SHARES = (0.5, 0.4, 0.1)  # local / cloud / frontier, for router.json's default cut points
# Out-of-domain blend: w = 0.5 at this percentile of in-domain (out-of-fold) max-similarity and
# w = OOD_LOW_WEIGHT at OOD_IN_PCT, so ~95% of in-domain prompts are blended by under 5%.
OOD_HALF_PCT, OOD_IN_PCT, OOD_LOW_WEIGHT = 1.0, 5.0, 0.05
PRIOR_KNOTS = 101  # quantile levels of the count -> score map
RUNTIME_SHARES = (0.70, 0.25, 0.05)  # appliance.runtime.default_shares(3), for the probe tiers

# Out-of-domain probes, written before looking at the outcomes or any score and never tuned
# against: chat-like requests the training data has nothing like. train.py prints their scores
# and tiers under RUNTIME_SHARES; MODEL_CARD.md records them.
TRIVIAL_PROBES = (
    "hi",
    "thanks!",
    "what time is it in Paris?",
    "extract the date from: Meeting moved to 3 May",
    "translate 'cat' into French",
    "summarise this sentence: The council approved the new bike lanes after a long debate.",
    "good morning, how are you?",
    "what's the capital of Australia?",
    "fix the typo: 'recieve'",
    "give me a synonym for happy",
    "convert 5 km to miles",
    "ok",
)
HARD_PROBES = (
    "Prove that there are infinitely many primes p such that p is congruent to 3 mod 4. "
    "Give a complete proof and explain why each step is valid.",
    "Design a distributed rate limiter for a multi-region API gateway and give code: it must "
    "allow at most 1000 requests per minute per API key across all regions, tolerate the loss "
    "of one region, and add no more than 5 ms of latency. Explain the trade-offs.",
    "Prove that every finite integral domain is a field, then show by counterexample that the "
    "statement fails for infinite integral domains, and explain why the finiteness is needed.",
    "Write a Python function that parses a CSV file of transactions, groups them by customer, "
    "detects any customer whose spending in a rolling 7-day window exceeds three times their "
    "30-day median, and returns the alerts sorted by severity. Include unit tests and explain "
    "the time complexity of your approach.",
    "Five people (Ann, Ben, Cal, Dee, Eve) sit in a row. Ann is not at either end. Ben sits "
    "immediately to the right of Cal. Dee is two seats away from Eve. Eve is not next to Ann. "
    "Cal is not in seat 1. Work out every possible arrangement step by step, and prove that "
    "no others exist.",
    "Derive the closed form of the sum of k^2 * 2^k for k from 1 to n, prove it by induction, "
    "and then use it to compute the value for n = 10.",
    "design a distributed rate limiter and give code",
    "Our Postgres database has a table of 2 billion rows and queries joining it to a second "
    "table became 40x slower after an upgrade. First list the likely causes, then give a "
    "step-by-step plan to diagnose each one, and finally propose schema and index changes, "
    "with the SQL, that keep writes under 10 ms.",
)


def embed(prompts: list[str], cache_dir: Path) -> np.ndarray:
    """MiniLM vectors of the prompts, cached by their hash; batches are sorted by length so
    each pads little."""
    from appliance.embedding.encoder import Encoder

    digest = hashlib.sha256("\x00".join(prompts).encode()).hexdigest()[:16]
    path = cache_dir / f"embeddings-{digest}.npy"
    if path.exists():
        return np.load(path)
    encoder = Encoder(threads=2)
    order = np.argsort([len(p) for p in prompts])
    out = np.zeros((len(prompts), 384), dtype=np.float32)
    for start in range(0, len(prompts), 64):
        rows = order[start : start + 64]
        out[rows] = encoder.encode([prompts[i] for i in rows])
        print(f"  embedded {min(start + 64, len(prompts))}/{len(prompts)}", end="\r", flush=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def split_rows(sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed held-out split, stratified by source."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(sources))
    train, heldout = train_test_split(
        rows, test_size=HELDOUT_FRACTION, random_state=SPLIT_SEED, stratify=sources
    )
    return np.sort(train), np.sort(heldout)


class Prototypes:
    """Softmax-over-centroids smoother of the gain; one k-means seed."""

    def __init__(
        self, vectors: np.ndarray, gain: np.ndarray, seed: int, size: int, temperature: float
    ) -> None:
        from sklearn.cluster import KMeans

        self.temperature = temperature
        km = KMeans(size, n_init=1, random_state=seed).fit(vectors)
        centres = km.cluster_centers_
        self.centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)
        weights = self.assign(vectors)
        self.gain = (weights * gain[:, None]).sum(0) + SHRINKAGE * gain.mean()
        self.gain = (self.gain / (weights.sum(0) + SHRINKAGE)).astype(np.float32)

    def assign(self, vectors: np.ndarray) -> np.ndarray:
        z = vectors @ self.centres.T / self.temperature
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        return self.assign(vectors) @ self.gain

    def max_similarity(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors @ self.centres.T).max(axis=1)


class Prior:
    """Monotone piecewise-linear map of the complexity count onto the head's score scale.

    Knots are the count's quantiles on the training prompts, values the head's training-score
    quantiles at the same levels; tied count quantiles are merged (mean value). Flat outside.
    """

    def __init__(self, counts: np.ndarray, scores: np.ndarray) -> None:
        levels = np.linspace(0.0, 1.0, PRIOR_KNOTS)
        xq, yq = np.quantile(counts, levels), np.quantile(scores, levels)
        xs, inverse = np.unique(np.round(xq, 6), return_inverse=True)
        ys = np.array([yq[inverse == i].mean() for i in range(xs.size)])
        self.x = xs.astype(np.float32)
        self.y = np.maximum.accumulate(ys).astype(np.float32)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(counts, np.float64).reshape(-1), self.x, self.y)


class OodBlend:
    """w = sigmoid((s_half - maxsim) / width), calibrated on in-domain (out-of-fold) maxsim."""

    def __init__(self, in_domain_maxsim: np.ndarray) -> None:
        self.s_half = float(np.percentile(in_domain_maxsim, OOD_HALF_PCT))
        s_in = float(np.percentile(in_domain_maxsim, OOD_IN_PCT))
        self.width = (s_in - self.s_half) / float(np.log((1 - OOD_LOW_WEIGHT) / OOD_LOW_WEIGHT))

    def weight(self, maxsim: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.s_half - maxsim) / self.width))


class Head:
    """The full head in numpy, mirrored exactly by the exported ONNX graph."""

    def __init__(self, members: list[Prototypes], lex_weights: np.ndarray, lex_bias: float):
        self.members = members
        self.lex_weights = lex_weights.astype(np.float32)
        self.lex_bias = float(lex_bias)
        self.centre, self.scale = 0.0, 1.0
        self.prior: Prior | None = None
        self.blend: OodBlend | None = None

    def max_similarity(self, vectors: np.ndarray) -> np.ndarray:
        """Mean over seeds of the highest cosine similarity to a centroid."""
        return np.mean([m.max_similarity(vectors) for m in self.members], axis=0)

    def gain(self, vectors: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        proto = np.mean([m.predict(vectors) for m in self.members], axis=0)
        return proto + lexical @ self.lex_weights + self.lex_bias

    def calibrate(self, gains: np.ndarray) -> None:
        self.centre, self.scale = float(np.mean(gains)), float(np.std(gains) or 1.0)

    def head_score(self, vectors: np.ndarray, lexical: np.ndarray) -> np.ndarray:
        z = (self.gain(vectors, lexical) - self.centre) / self.scale
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, vectors: np.ndarray, lexical: np.ndarray, counts: np.ndarray) -> np.ndarray:
        head = self.head_score(vectors, lexical)
        if self.prior is None or self.blend is None:
            return head
        w = self.blend.weight(self.max_similarity(vectors))
        return head + w * (self.prior(counts) - head)


def fit_lexical(
    residual: np.ndarray, lexical: np.ndarray, alpha: float
) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=alpha).fit(lexical, residual)
    return model.coef_.astype(np.float32), float(model.intercept_)


def knn_scores(
    train_vecs: np.ndarray, train_gain: np.ndarray, vecs: np.ndarray, k: int
) -> np.ndarray:
    sims = vecs @ train_vecs.T
    nearest = np.argpartition(-sims, k, axis=1)[:, :k]
    return train_gain[nearest].mean(axis=1)


def lr_scores(train_vecs: np.ndarray, labels: np.ndarray, vecs: np.ndarray, c: float) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=3000).fit(train_vecs, labels)
    return model.predict_proba(vecs)[:, 1]


def export_onnx(head: Head, path: Path) -> None:
    """Build the graph with onnx.helper (no skl2onnx: the head is a handful of standard ops).

    MatMul -> Reshape -> Softmax -> weighted sum over prototypes -> + lexical -> logistic,
    then the out-of-domain blend: ReduceMax of the same logits (max similarity per seed, mean
    over seeds) -> logistic weight; the complexity count -> piecewise-linear prior (sum of
    clipped segments); score = head + w * (prior - head).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m, k = len(head.members), head.members[0].centres.shape[0]
    temperature = head.members[0].temperature
    centres = np.concatenate([p.centres for p in head.members]).T / temperature  # (384, m*k)
    gains = np.stack([p.gain for p in head.members]) / m  # (m, k); mean over members
    inits = [
        numpy_helper.from_array(centres.astype(np.float32), "centres"),
        numpy_helper.from_array(np.array([-1, m, k], dtype=np.int64), "shape"),
        numpy_helper.from_array(gains.astype(np.float32), "gains"),
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(head.lex_weights.reshape(-1, 1), "lex_w"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
        numpy_helper.from_array(np.array(head.lex_bias - head.centre, np.float32), "bias"),
        numpy_helper.from_array(np.array(1.0 / head.scale, np.float32), "inv_scale"),
    ]
    assert head.prior is not None and head.blend is not None
    px, py = head.prior.x, head.prior.y
    slopes = np.diff(py) / np.diff(px)
    # w = sigmoid(a * mean_max_logit + b), with max similarity = max logit * temperature.
    w_a = -temperature / head.blend.width
    w_b = head.blend.s_half / head.blend.width
    inits += [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array(w_a, np.float32), "w_a"),
        numpy_helper.from_array(np.array(w_b, np.float32), "w_b"),
        numpy_helper.from_array(px[:-1].astype(np.float32), "knot_lo"),
        numpy_helper.from_array(px[1:].astype(np.float32), "knot_hi"),
        numpy_helper.from_array(slopes.astype(np.float32), "slopes"),
        numpy_helper.from_array(np.array(py[0], np.float32), "prior0"),
    ]
    nodes = [
        helper.make_node("MatMul", ["embedding", "centres"], ["logits"]),
        helper.make_node("Reshape", ["logits", "shape"], ["logits3"]),
        helper.make_node("Softmax", ["logits3"], ["weights"], axis=2),
        helper.make_node("Mul", ["weights", "gains"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axes"], ["proto"], keepdims=0),
        helper.make_node("MatMul", ["lexical", "lex_w"], ["lex2"]),
        helper.make_node("Reshape", ["lex2", "flat"], ["lex"]),
        helper.make_node("Add", ["proto", "lex"], ["gain0"]),
        helper.make_node("Add", ["gain0", "bias"], ["gain"]),
        helper.make_node("Mul", ["gain", "inv_scale"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["head"]),
        # distance from the training data
        helper.make_node("ReduceMax", ["logits3"], ["max_logit"], axes=[2], keepdims=0),
        helper.make_node("ReduceMean", ["max_logit"], ["mean_max"], axes=[1], keepdims=0),
        helper.make_node("Mul", ["mean_max", "w_a"], ["wz0"]),
        helper.make_node("Add", ["wz0", "w_b"], ["wz"]),
        helper.make_node("Sigmoid", ["wz"], ["ood_weight"]),
        # complexity prior
        helper.make_node("Max", ["complexity", "knot_lo"], ["c_lo"]),
        helper.make_node("Min", ["c_lo", "knot_hi"], ["c_clip"]),
        helper.make_node("Sub", ["c_clip", "knot_lo"], ["c_seg"]),
        helper.make_node("Mul", ["c_seg", "slopes"], ["c_rise"]),
        helper.make_node("ReduceSum", ["c_rise", "axis1"], ["rise"], keepdims=0),
        helper.make_node("Add", ["rise", "prior0"], ["prior"]),
        # blend
        helper.make_node("Sub", ["prior", "head"], ["delta"]),
        helper.make_node("Mul", ["ood_weight", "delta"], ["shift"]),
        helper.make_node("Add", ["head", "shift"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "router_head",
        [
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 384]),
            helper.make_tensor_value_info("lexical", TensorProto.FLOAT, ["n", len(FEATURE_NAMES)]),
            helper.make_tensor_value_info("complexity", TensorProto.FLOAT, ["n", 1]),
        ],
        [
            helper.make_tensor_value_info("score", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("head", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("ood_weight", TensorProto.FLOAT, ["n"]),
            helper.make_tensor_value_info("prior", TensorProto.FLOAT, ["n"]),
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.doc_string = f"appliance router head {VERSION}: complexity score in [0, 1]"
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def score_probes(session: object, metadata: dict, head: Head) -> list[dict]:
    """Scores, blend internals and runtime tiers of the out-of-domain probes."""
    from appliance.embedding.encoder import Encoder
    from appliance.router.policy import RoutingPolicy, ScoreProfile

    texts = list(TRIVIAL_PROBES) + list(HARD_PROBES)
    vectors = Encoder(threads=2).encode(texts).astype(np.float32)
    score, head_score, weight, prior = session.run(  # type: ignore[attr-defined]
        ["score", "head", "ood_weight", "prior"],
        {
            "embedding": vectors,
            "lexical": lexical_features(texts),
            "complexity": complexity_count(texts),
        },
    )
    policy = RoutingPolicy.by_shares(RUNTIME_SHARES, ScoreProfile.from_metadata(metadata))
    quantiles = np.array(metadata["score_quantiles"])
    maxsim = head.max_similarity(vectors)
    out = []
    for i, text in enumerate(texts):
        out.append(
            {
                "kind": "trivial" if i < len(TRIVIAL_PROBES) else "hard",
                "prompt": text,
                "maxsim": round(float(maxsim[i]), 4),
                "weight": round(float(weight[i]), 4),
                "head": round(float(head_score[i]), 4),
                "prior": round(float(prior[i]), 4),
                "score": round(float(score[i]), 4),
                "percentile": int(np.searchsorted(quantiles, score[i])),
                "tier": policy.tier(float(score[i])),
            }
        )
    return out


def row(name: str, m: RoutingMetrics) -> dict[str, float | str]:
    return {
        "router": name,
        "apgr": round(m.apgr, 4),
        "cpt50": round(m.cpt50, 4),
        "cpt80": round(m.cpt80, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="outcomes JSONL")
    parser.add_argument("--out", type=Path, default=REPO / "models" / "router")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/appliance-router-cache"))
    args = parser.parse_args()
    started = time.time()

    data = read_outcomes(args.data)
    vecs = embed(data.prompts, args.cache_dir)
    lexical = lexical_features(data.prompts)
    counts = complexity_count(data.prompts)
    gain = data.strong_correct.astype(np.float64) - data.weak_correct
    win = data.strong_correct & ~data.weak_correct
    train, heldout = split_rows(data.sources)
    print(f"rows {len(gain)}: train {train.size}, held-out {heldout.size}")

    from sklearn.model_selection import StratifiedKFold

    folds = list(
        StratifiedKFold(CV_FOLDS, shuffle=True, random_state=0).split(
            train, np.array(data.sources)[train]
        )
    )

    def cv_apgr(oof: np.ndarray) -> float:
        return routing_metrics(oof, data.weak_correct[train], data.strong_correct[train]).apgr

    def cross_fit(fit_predict: object) -> np.ndarray:
        oof = np.zeros(train.size)
        for a, b in folds:
            oof[b] = fit_predict(train[a], train[b])  # type: ignore[operator]
        return oof

    # Baselines: pick their hyper-parameter by CV on the training split, as for ours.
    knn_k = max(
        KNN_K,
        key=lambda k: cv_apgr(cross_fit(lambda a, b: knn_scores(vecs[a], gain[a], vecs[b], k))),
    )
    lr_c = max(
        LR_C, key=lambda c: cv_apgr(cross_fit(lambda a, b: lr_scores(vecs[a], win[a], vecs[b], c)))
    )
    print(f"CV picks: kNN k={knn_k}, LR C={lr_c}")

    # Ours: cross-fitted prototype gains (one seed, for speed), then the lexical correction.
    best_proto: tuple[float, tuple[int, float], np.ndarray] | None = None
    for size, temperature in PROTOTYPE_GRID:
        oof = cross_fit(
            lambda a, b, n=size, t=temperature: Prototypes(
                vecs[a], gain[a], SEEDS[0], n, t
            ).predict(vecs[b])
        )
        print(f"CV APGR prototypes={size} temperature={temperature}: {cv_apgr(oof):.4f}")
        if best_proto is None or cv_apgr(oof) > best_proto[0]:
            best_proto = (cv_apgr(oof), (size, temperature), oof)
    assert best_proto is not None
    cv_plain, (size, temperature), proto_oof = best_proto
    best_alpha, best_cv, best_oof = None, cv_plain, proto_oof
    for alpha in LEX_ALPHAS:
        corrected = proto_oof.copy()
        for a, b in folds:
            w, c = fit_lexical(gain[train[a]] - proto_oof[a], lexical[train[a]], alpha)
            corrected[b] += lexical[train[b]] @ w + c
        if (score := cv_apgr(corrected)) > best_cv:
            best_alpha, best_cv, best_oof = alpha, score, corrected
    print(
        f"CV APGR prototypes {cv_plain:.4f}; with lexical correction {best_cv:.4f} "
        f"(alpha={best_alpha})"
    )

    members = [Prototypes(vecs[train], gain[train], seed, size, temperature) for seed in SEEDS]
    if best_alpha is None:
        lex_w, lex_b = np.zeros(len(FEATURE_NAMES), np.float32), 0.0
    else:
        lex_w, lex_b = fit_lexical(gain[train] - proto_oof, lexical[train], best_alpha)
    head = Head(members, lex_w, lex_b)
    head.calibrate(head.gain(vecs[train], lexical[train]))

    # Out-of-domain blend. In-domain max-similarity is measured out of fold (centroids fitted
    # without the row), because a training row is always close to its own centroid.
    oof_maxsim = cross_fit(
        lambda a, b: np.mean(
            [
                Prototypes(vecs[a], gain[a], seed, size, temperature).max_similarity(vecs[b])
                for seed in SEEDS
            ],
            axis=0,
        )
    )
    head.blend = OodBlend(oof_maxsim)
    head.prior = Prior(counts[train, 0], head.head_score(vecs[train], lexical[train]))
    # What the blend does in domain, in CV: the out-of-fold head scores, blended.
    oof_score = 1.0 / (1.0 + np.exp(-(best_oof - best_oof.mean()) / best_oof.std()))
    oof_prior = Prior(counts[train, 0], oof_score)
    oof_w = head.blend.weight(oof_maxsim)
    cv_blended = cv_apgr(oof_score + oof_w * (oof_prior(counts[train, 0]) - oof_score))
    print(
        f"OOD blend: s_half={head.blend.s_half:.4f} width={head.blend.width:.4f}; "
        f"CV APGR head {cv_apgr(oof_score):.4f}, blended {cv_blended:.4f}"
    )

    weak_h, strong_h = data.weak_correct[heldout], data.strong_correct[heldout]
    ours_train = head.score(vecs[train], lexical[train], counts[train])
    ours_h = head.score(vecs[heldout], lexical[heldout], counts[heldout])
    head_h = head.head_score(vecs[heldout], lexical[heldout])
    maxsim_h = head.max_similarity(vecs[heldout])
    w_h = head.blend.weight(maxsim_h)
    table = [
        row("random", random_router_metrics(weak_h, strong_h)),
        row(
            f"kNN (k={knn_k})",
            routing_metrics(
                knn_scores(vecs[train], gain[train], vecs[heldout], knn_k), weak_h, strong_h
            ),
        ),
        row(
            f"LogReg (C={lr_c})",
            routing_metrics(
                lr_scores(vecs[train], win[train], vecs[heldout], lr_c), weak_h, strong_h
            ),
        ),
        row("head alone (1.0.0 method, no OOD blend)", routing_metrics(head_h, weak_h, strong_h)),
        row("ours (head + OOD blend)", routing_metrics(ours_h, weak_h, strong_h)),
    ]

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "router.onnx"
    export_onnx(head, onnx_path)
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (onnx_h,) = session.run(
        ["score"],
        {"embedding": vecs[heldout], "lexical": lexical[heldout], "complexity": counts[heldout]},
    )
    drift = float(np.max(np.abs(onnx_h - ours_h)))
    if drift > 1e-4:
        raise SystemExit(f"ONNX export disagrees with numpy head by {drift}")

    all_scores = np.concatenate([ours_train, ours_h, head.prior.y])
    quantiles = np.quantile(ours_train, np.linspace(0, 1, 101))
    cumulative = np.cumsum(DEFAULT_SHARES)[:-1]
    metadata = {
        "version": VERSION,
        "trained": dt.date.today().isoformat(),
        "inputs": {
            "embedding": "MiniLM-L6 unit vector, 384 float32",
            "lexical": "appliance.router.features.lexical_features",
        },
        "output": "score: complexity in [0, 1]; higher = more likely only the strong model "
        "answers correctly",
        "lexical_features": list(FEATURE_NAMES),
        "complexity_parts": list(COMPLEXITY_PARTS),
        "complexity_weights": list(COMPLEXITY_WEIGHTS),
        "model": {
            "kind": "prototype smoother",
            "prototypes": size,
            "temperature": temperature,
            "shrinkage": SHRINKAGE,
            "seeds": list(SEEDS),
            "lexical_ridge_alpha": best_alpha,
            "ood_blend": {
                "distance": "mean over seeds of the max cosine similarity to a centroid",
                "weight": "sigmoid((s_half - maxsim) / width)",
                "s_half": round(head.blend.s_half, 6),
                "width": round(head.blend.width, 6),
                "calibration": f"w=0.5 at the {OOD_HALF_PCT:g}th and w={OOD_LOW_WEIGHT} at the "
                f"{OOD_IN_PCT:g}th percentile of out-of-fold in-domain maxsim (training split)",
                "heldout_maxsim_percentiles": {
                    str(q): round(float(np.percentile(maxsim_h, q)), 4) for q in (1, 5, 50)
                },
                "heldout_share_weight_over": {
                    str(t): round(float(np.mean(w_h > t)), 4) for t in (0.05, 0.5)
                },
                "prior_knots": [round(float(x), 4) for x in head.prior.x],
                "prior_values": [round(float(y), 6) for y in head.prior.y],
            },
        },
        "data": {
            "file": args.data.name,
            "rows": int(gain.size),
            "sha256": hashlib.sha256(args.data.read_bytes()).hexdigest(),
            "weak": "Mixtral-8x7B-Instruct",
            "strong": "GPT-4-1106",
            "target": "strong_correct - weak_correct",
        },
        "split": {
            "method": "sklearn train_test_split, stratified by source",
            "seed": SPLIT_SEED,
            "heldout_fraction": HELDOUT_FRACTION,
            "n_train": int(train.size),
            "n_heldout": int(heldout.size),
            "heldout_rows_sha256": hashlib.sha256(",".join(map(str, heldout)).encode()).hexdigest(),
        },
        "cv": {
            "folds": CV_FOLDS,
            "apgr_prototypes": round(cv_plain, 4),
            "apgr_selected": round(best_cv, 4),
            "apgr_head_oof_scores": round(cv_apgr(oof_score), 4),
            "apgr_with_ood_blend": round(cv_blended, 4),
        },
        "heldout_metrics": table,
        "score_range": [round(float(all_scores.min()), 6), round(float(all_scores.max()), 6)],
        "score_quantiles": [round(float(q), 6) for q in quantiles],
        "default_tier_shares": list(DEFAULT_SHARES),
        "default_cut_points": [round(float(np.quantile(ours_train, c)), 6) for c in cumulative],
    }
    metadata["ood_probes"] = score_probes(session, metadata, head)
    (args.out / "router.json").write_text(json.dumps(metadata, indent=2) + "\n")

    print(f"\nheld-out ({heldout.size} prompts), onnx drift {drift:.2e}")
    print("| router | APGR | CPT(50%) | CPT(80%) |\n|---|---|---|---|")
    for r in table:
        print(f"| {r['router']} | {r['apgr']:.3f} | {r['cpt50']:.1%} | {r['cpt80']:.1%} |")
    print(
        "\nOOD probes (written before training; tiers under shares "
        f"{list(RUNTIME_SHARES)} from score_quantiles)"
    )
    print("| kind | prompt | maxsim | w | head | prior | score | pct | tier |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in metadata["ood_probes"]:
        text = p["prompt"] if len(p["prompt"]) <= 60 else p["prompt"][:57] + "..."
        print(
            f"| {p['kind']} | {text} | {p['maxsim']:.3f} | {p['weight']:.2f} | {p['head']:.3f} "
            f"| {p['prior']:.3f} | {p['score']:.3f} | {p['percentile']} | {p['tier']} |"
        )
    print(f"done in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
