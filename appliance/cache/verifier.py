"""The candidate verifier: reads the asked and the stored question together and says how
likely the stored answer answers the asked question.

It owns loading the verifier's weights and scoring one query against a few candidates. It
must not search, store or decide a hit: the facade (`semantic.py`) compares the scores with
the thresholds.

Why: a sentence embedding puts "ibuprofen for children" next to "ibuprofen for adults" and
"why is my laptop charging" next to "... not charging" (cosine > 0.9); only something that
looks at both texts at once can weigh what differs. The model is a logistic regression over
the token alignment of the two texts (`alignment.py`: what is left unmatched, and of what
kind) and their cosine, trained by models/cache/train_verifier.py on QQP pairs and rule
traps (models/cache/verifier/MODEL_CARD.md). It runs only on candidates the index found
above the loose cosine, so a clear miss costs nothing; it is pure Python over a few dozen
words (tens of microseconds per candidate), never an LLM call and never leaves the process.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.cache.alignment import FEATURES, features

_MODEL = Path(__file__).resolve().parents[2] / "models" / "cache" / "verifier" / "verifier.json"

# Defaults of the knobs read from the cache config (see `VerifyPolicy.from_config`).
CANDIDATE_THRESHOLD = 0.60
VERIFIER_THRESHOLD = 0.65
MAX_CANDIDATES = 3


def default_model_path() -> Path:
    return _MODEL


@dataclass(frozen=True)
class VerifyPolicy:
    """`candidate_threshold`: the loose cosine above which the index's neighbours are
    verified; `verifier_threshold`: the probability a candidate needs to be served (an entry
    flagged wrong needs more, its own bar); `max_candidates`: how many are verified at most,
    in one batch."""

    candidate_threshold: float = CANDIDATE_THRESHOLD
    verifier_threshold: float = VERIFIER_THRESHOLD
    max_candidates: int = MAX_CANDIDATES

    @classmethod
    def from_config(cls, config: object) -> VerifyPolicy:
        """Read `cache.candidate_threshold`, `cache.verifier_threshold` and
        `cache.verifier_candidates`; a config without them gets the calibrated defaults."""
        return cls(
            float(getattr(config, "candidate_threshold", CANDIDATE_THRESHOLD)),
            float(getattr(config, "verifier_threshold", VERIFIER_THRESHOLD)),
            max(1, int(getattr(config, "verifier_candidates", MAX_CANDIDATES))),
        )


class Verifier:
    """Read-only after loading, so safe from any thread (its memo is an `lru_cache`, which
    is thread-safe)."""

    def __init__(self, model_path: Path | None = None) -> None:
        self.model_path = Path(model_path or default_model_path())
        model = json.loads(self.model_path.read_text(encoding="utf-8"))
        if tuple(model["features"]) != FEATURES:
            raise ValueError(
                f"{self.model_path}: trained on features {model['features']}, "
                f"this code computes {list(FEATURES)}"
            )
        self._weights = [float(w) for w in model["weights"]]
        self._bias = float(model["bias"])
        # The same wording asked again meets the same candidates at the same cosine (its
        # vector comes from the embedding memo): the alignment is half a semantic hit's CPU.
        self._probability = functools.lru_cache(maxsize=4096)(self._compute)

    def score(self, query: str, candidates: list[str], similarities: Sequence[float]) -> np.ndarray:
        """P(same answer) for `query` against each candidate (stored text), given each
        candidate's cosine to the query; shape (len(candidates),)."""
        return self.score_pairs([(c, query) for c in candidates], similarities)

    def score_pairs(
        self, pairs: Sequence[tuple[str, str]], similarities: Sequence[float]
    ) -> np.ndarray:
        """P(same answer) for each (stored, asked) pair with its cosine."""
        out = np.zeros(len(pairs), dtype=np.float32)
        for i, ((stored, asked), cosine) in enumerate(zip(pairs, similarities, strict=True)):
            out[i] = self._probability(stored, asked, float(cosine))
        return out

    def _compute(self, stored: str, asked: str, cosine: float) -> float:
        z = self._bias + sum(
            w * x for w, x in zip(self._weights, features(stored, asked, cosine), strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
