"""Which encoder the evaluation scripts embed with: the shipped one, or a candidate model file
named by APPLIANCE_EVAL_ENCODER, so a new encoder is judged by the very scripts that
calibrated the shipped one (models/cache/calibrate.py, train_verifier.py, models/router/).

It owns that choice and the scripts' one vector cache (`cached_vectors`): files keyed by the
texts and tagged by the encoder, so a candidate never reads the shipped encoder's vectors. It
is evaluation tooling: `appliance/` never reads the variable, so the daemon always runs the
encoder its thresholds were calibrated on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

ENV = "APPLIANCE_EVAL_ENCODER"


def candidate() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def cache_tag() -> str:
    """'' for the shipped encoder; '-<hash of the candidate's path>' otherwise."""
    path = candidate()
    return (
        "" if path is None else "-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    )


def make_encoder(threads: int = 2) -> Any:
    from appliance.embedding.encoder import Encoder

    return Encoder(candidate(), threads=threads)


def cached_vectors(
    directory: Path, name: str, texts: list[str], *, progress: bool = False
) -> np.ndarray:
    """Unit vectors for `texts` from the chosen encoder, read from `directory` when the same
    texts were embedded by it before (then no encoder is loaded, so a bench venv without
    onnxruntime can read them). Batches of 64 sorted by length: padding is most of the cost."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = directory / f"{name}-{digest}{cache_tag()}.npy"
    if path.exists():
        return np.asarray(np.load(path))
    encoder = make_encoder()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(order), 64):
        rows = order[start : start + 64]
        out[rows] = encoder.encode([texts[i] for i in rows])
        if progress:
            print(f"  embedded {start + len(rows)}/{len(texts)}", end="\r", flush=True)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out
