"""The router's complexity classifier: a small ONNX head over the request's embedding.

It owns loading `models/router/router.onnx` with its `router.json` and turning (embedding,
text) pairs into a complexity score in [0, 1] (higher = needs a stronger model). It must not
embed text (the pipeline embeds once and shares the vector with the cache) and must not pick
tiers (that is `policy.py`).

The head's inputs are the 384-d MiniLM vector (used only to measure how far the prompt is from
the training prompts), `features.task_features(texts)` (what the prompt asks for: the head's
trees read these) and `complexity.complexity_count(texts)` (the out-of-domain prior's input:
the graph blends the head's score toward a prior from it as the prompt moves away from the
training data). Both feature definitions are recorded in `router.json` and checked here, so a
model trained with different features fails at load instead of scoring garbage.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from appliance.router.complexity import COMPLEXITY_PARTS, COMPLEXITY_WEIGHTS, complexity_count
from appliance.router.features import FEATURE_NAMES, task_features

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "router"
EMBEDDING_DIM = 384


class RouterClassifier:
    """Scores requests; thread-safe (onnxruntime allows concurrent `run` on one session)."""

    def __init__(self, session: ort.InferenceSession, metadata: dict[str, Any]) -> None:
        self._session = session
        self.metadata = metadata

    @classmethod
    def load(cls, model_dir: Path | None = None) -> RouterClassifier:
        """Load `router.onnx` + `router.json` from `model_dir` (default: the shipped model)."""
        directory = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
        metadata = json.loads((directory / "router.json").read_text(encoding="utf-8"))
        names = tuple(metadata.get("task_features", ()))
        if names != FEATURE_NAMES:
            raise ValueError(
                f"{directory / 'router.json'}: task_features {list(names)} do not match "
                f"this code's {list(FEATURE_NAMES)}; retrain with models/router/train.py"
            )
        parts = tuple(metadata.get("complexity_parts", ()))
        weights = tuple(float(w) for w in metadata.get("complexity_weights", ()))
        if parts != COMPLEXITY_PARTS or weights != COMPLEXITY_WEIGHTS:
            raise ValueError(
                f"{directory / 'router.json'}: complexity_parts/weights {list(parts)} "
                f"{list(weights)} do not match this code's {list(COMPLEXITY_PARTS)} "
                f"{list(COMPLEXITY_WEIGHTS)}; retrain with models/router/train.py"
            )
        opts = ort.SessionOptions()
        # The head is two small matrix products and a few hundred shallow trees; one thread
        # avoids pool hand-off costs that would dwarf the work, and leaves the cores to the
        # encoder.
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(
            str(directory / "router.onnx"), opts, providers=["CPUExecutionProvider"]
        )
        return cls(session, metadata)

    @property
    def version(self) -> str:
        return str(self.metadata.get("version", "unknown"))

    def score(self, vectors: np.ndarray, texts: list[str]) -> np.ndarray:
        """Complexity scores in [0, 1], shape (len(texts),), float64; one per (vector, text)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"vectors: expected shape (n, {EMBEDDING_DIM}), got {vectors.shape}")
        if vectors.shape[0] != len(texts):
            raise ValueError(f"got {vectors.shape[0]} vectors for {len(texts)} texts")
        if not texts:
            return np.zeros(0, dtype=np.float64)
        (scores,) = self._session.run(["score"], self._inputs(vectors, texts))
        return np.clip(np.asarray(scores, dtype=np.float64).reshape(-1), 0.0, 1.0)

    def explain(self, vectors: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
        """The graph's parts per request: `score`, the in-domain `head` score, the
        out-of-domain blend weight `ood_weight` (0 = in domain) and the complexity `prior`."""
        names = ["score", "head", "ood_weight", "prior"]
        outputs = self._session.run(names, self._inputs(vectors, texts))
        return {
            n: np.asarray(o, dtype=np.float64).reshape(-1)
            for n, o in zip(names, outputs, strict=True)
        }

    @staticmethod
    def _inputs(vectors: np.ndarray, texts: list[str]) -> dict[str, np.ndarray]:
        return {
            "embedding": np.asarray(vectors, dtype=np.float32),
            "features": task_features(texts),
            "complexity": complexity_count(texts),
        }
