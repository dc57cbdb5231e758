"""The router head in numpy/scikit-learn, mirrored exactly by the ONNX graph in `export.py`.

Three parts (see MODEL_CARD.md for why):
- `TwoModelBoost`: gradient-boosted trees over the task features and the complexity count,
  one for P(strong correct) and one for P(weak correct); the expected gain is their
  difference. Rows are weighted by 1/sqrt(size of their group), so a big subject does not
  teach the trees its own quirks at the expense of the other subjects.
- `Distance` + `OodBlend`: how far a prompt is from the training prompts of its own format
  (the highest cosine similarity to a k-means centroid of their vectors; multiple-choice and
  open prompts separately) and the blend weight that follows from it.
- `Prior`: the complexity count mapped monotonically onto the head's score scale.
The final score is head + w * (prior - head), head = sigmoid((gain - centre) / scale).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from appliance.router.features import FEATURE_NAMES

PRIOR_KNOTS = 101  # quantile levels of the count -> score map
# Blend: w = 0.5 at this percentile of in-domain (held-out-group) max-similarity and
# w = OOD_LOW_WEIGHT at OOD_IN_PCT, so ~95% of prompts from unseen exam subjects are blended
# by under 5%.
OOD_HALF_PCT, OOD_IN_PCT, OOD_LOW_WEIGHT = 1.0, 5.0, 0.05
CHOICE_CENTROIDS, OPEN_CENTROIDS = 256, 64
OPTIONS_COLUMN = FEATURE_NAMES.index("options")


@dataclass(frozen=True)
class BoostParams:
    """One point of the pre-declared hyper-parameter grid."""

    max_depth: int
    max_iter: int
    learning_rate: float = 0.05
    min_samples_leaf: int = 100
    group_weight_power: float = 0.5  # row weight = group size ** -power

    def label(self) -> str:
        return (
            f"depth {self.max_depth}, {self.max_iter} trees, lr {self.learning_rate}, "
            f"leaf >= {self.min_samples_leaf}, weight n_group^-{self.group_weight_power}"
        )


# Declared before the grouped CV ran; the inner grouped split picks one per outer fold.
BOOST_GRID: tuple[BoostParams, ...] = (
    BoostParams(max_depth=2, max_iter=300),
    BoostParams(max_depth=3, max_iter=200),
    BoostParams(max_depth=2, max_iter=300, group_weight_power=1.0),
    BoostParams(max_depth=3, max_iter=200, group_weight_power=0.0),
)


def group_weights(groups: np.ndarray, power: float) -> np.ndarray:
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    w = counts[inverse].astype(np.float64) ** -power
    return w / w.mean()


@dataclass
class TwoModelBoost:
    """P(strong correct) - P(weak correct) from two gradient-boosted classifiers."""

    params: BoostParams
    models: list[object] = field(default_factory=list)  # [strong, weak]

    def fit(
        self, x: np.ndarray, strong: np.ndarray, weak: np.ndarray, groups: np.ndarray
    ) -> TwoModelBoost:
        from sklearn.ensemble import HistGradientBoostingClassifier

        w = group_weights(groups, self.params.group_weight_power)
        self.models = [
            HistGradientBoostingClassifier(
                max_depth=self.params.max_depth,
                max_iter=self.params.max_iter,
                learning_rate=self.params.learning_rate,
                min_samples_leaf=self.params.min_samples_leaf,
                early_stopping=False,
                random_state=0,
            ).fit(x, y, sample_weight=w)
            for y in (strong, weak)
        ]
        return self

    def gain(self, x: np.ndarray) -> np.ndarray:
        p_strong, p_weak = (m.predict_proba(x)[:, 1] for m in self.models)  # type: ignore[attr-defined]
        return np.asarray(p_strong - p_weak, dtype=np.float64)


class Centroids:
    """k-means centroids of the training vectors (unit length), for the distance."""

    def __init__(self, vectors: np.ndarray, size: int, seed: int = 0) -> None:
        from sklearn.cluster import KMeans

        size = min(size, vectors.shape[0])
        centres = KMeans(size, n_init=1, random_state=seed).fit(vectors).cluster_centers_
        self.centres = (centres / np.linalg.norm(centres, axis=1, keepdims=True)).astype(np.float32)

    def max_similarity(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray((vectors @ self.centres.T).max(axis=1), dtype=np.float64)


def is_multiple_choice(inputs: np.ndarray) -> np.ndarray:
    """Rows whose prompt has answer options (the `options` task feature is set)."""
    return np.asarray(inputs[:, OPTIONS_COLUMN] > 0)


class Distance:
    """Similarity to the training prompts *of the same format*: the head reads the shape of a
    task, so a multiple-choice prompt is in domain when it resembles the multiple-choice
    training prompts and an open prompt when it resembles the open ones (the word problems),
    whatever the other format holds. -1 where the training rows have no prompt of a format."""

    def __init__(self, vectors: np.ndarray, inputs: np.ndarray) -> None:
        mc = is_multiple_choice(inputs)
        self.choice = Centroids(vectors[mc], CHOICE_CENTROIDS) if mc.any() else None
        self.open = Centroids(vectors[~mc], OPEN_CENTROIDS) if (~mc).any() else None

    def max_similarity(self, vectors: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        mc = is_multiple_choice(inputs)
        out = np.full(vectors.shape[0], -1.0)
        for rows, centroids in ((mc, self.choice), (~mc, self.open)):
            if centroids is not None and rows.any():
                out[rows] = centroids.max_similarity(vectors[rows])
        return out


class OodBlend:
    """w = sigmoid((s_half - maxsim) / width), one (s_half, width) per format, calibrated on
    the similarity of in-domain prompts the centroids were fitted without."""

    def __init__(self, in_domain_maxsim: np.ndarray, multiple_choice: np.ndarray) -> None:
        self.params = {
            fmt: self._fit(in_domain_maxsim[multiple_choice == fmt]) for fmt in (True, False)
        }

    @staticmethod
    def _fit(maxsim: np.ndarray) -> tuple[float, float]:
        s_half = float(np.percentile(maxsim, OOD_HALF_PCT))
        s_in = float(np.percentile(maxsim, OOD_IN_PCT))
        return s_half, (s_in - s_half) / float(np.log((1 - OOD_LOW_WEIGHT) / OOD_LOW_WEIGHT))

    def weight(self, maxsim: np.ndarray, multiple_choice: np.ndarray) -> np.ndarray:
        out = np.zeros(maxsim.shape[0])
        for fmt, (s_half, width) in self.params.items():
            rows = multiple_choice == fmt
            out[rows] = 1.0 / (1.0 + np.exp(-(s_half - maxsim[rows]) / width))
        return out


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


@dataclass
class Head:
    """The whole scoring function; `export.py` writes the same computation as ONNX."""

    boost: TwoModelBoost
    distance: Distance
    blend: OodBlend
    centre: float = 0.0
    scale: float = 1.0
    prior: Prior | None = None

    def calibrate(self, gains: np.ndarray) -> None:
        self.centre, self.scale = float(np.mean(gains)), float(np.std(gains) or 1.0)

    def head_score(self, inputs: np.ndarray) -> np.ndarray:
        z = (self.boost.gain(inputs) - self.centre) / self.scale
        return np.asarray(1.0 / (1.0 + np.exp(-z)))

    def parts(self, vectors: np.ndarray, inputs: np.ndarray) -> dict[str, np.ndarray]:
        """score, head, ood_weight, prior; `inputs` = task features + complexity column."""
        assert self.prior is not None
        head = self.head_score(inputs)
        maxsim = self.distance.max_similarity(vectors, inputs)
        w = self.blend.weight(maxsim, is_multiple_choice(inputs))
        prior = self.prior(inputs[:, -1])
        return {"score": head + w * (prior - head), "head": head, "ood_weight": w, "prior": prior}
