"""Measure what the router head adds per request over the shared embedding.

    .venv/bin/python models/router/latency.py --data /path/to/router/outcomes.jsonl

One request at a time through `RouterClassifier.score` (task features + complexity count in
Python, then the ONNX graph on one onnxruntime thread), on a fixed sample of the outcomes'
prompts and on the out-of-domain probes; prints p50/p90/p99 in ms and the split between the
Python features and the graph. The vectors are random unit vectors: the graph's cost does not
depend on their values, and the encoder is not what is being measured.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from probes import probe_texts  # noqa: E402

from appliance.router.classifier import RouterClassifier  # noqa: E402
from appliance.router.complexity import complexity_count  # noqa: E402
from appliance.router.features import task_features  # noqa: E402
from appliance.router.metrics import read_outcomes  # noqa: E402


def percentiles(ms: list[float]) -> str:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return f"p50 {p50:.3f} ms  p90 {p90:.3f} ms  p99 {p99:.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    prompts = read_outcomes(args.data).prompts
    texts = random.Random(0).sample(prompts, min(args.sample, len(prompts)))
    texts += [t for _, t in probe_texts()]
    classifier = RouterClassifier.load()
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i in range(50):  # warm-up
        classifier.score(vectors[i : i + 1], texts[i : i + 1])
    total, features = [], []
    for i, text in enumerate(texts):
        start = time.perf_counter()
        classifier.score(vectors[i : i + 1], [text])
        total.append((time.perf_counter() - start) * 1e3)
        start = time.perf_counter()
        task_features([text])
        complexity_count([text])
        features.append((time.perf_counter() - start) * 1e3)
    print(f"{len(texts)} requests, one at a time")
    print(f"score() total           {percentiles(total)}")
    print(f"  of which features     {percentiles(features)}")
    start = time.perf_counter()
    for i in range(0, len(texts), 64):
        classifier.score(vectors[i : i + 64], texts[i : i + 64])
    batched = (time.perf_counter() - start) * 1e3 / len(texts)
    print(f"batched 64 at a time    {batched:.3f} ms per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
