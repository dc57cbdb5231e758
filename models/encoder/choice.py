"""Which encoder the evaluation scripts embed with: the daemon's default (the int8 build on
CPU), the packaged fp32 model (`APPLIANCE_EVAL_ENCODER=fp32`, what every threshold was first
calibrated on), or a candidate model file named by the variable, so a new encoder is judged by
the very scripts that calibrated the shipped one (models/cache/calibrate.py,
train_verifier.py, models/router/).

It owns that choice and the scripts' one vector cache (`cached_vectors`): files keyed by the
texts and tagged by the encoder, so one encoder never reads another's vectors. It is
evaluation tooling: `appliance/` never reads the variable.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

ENV = "APPLIANCE_EVAL_ENCODER"
FP32 = "fp32"


def candidate() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value and value != FP32 else None


def cache_tag() -> str:
    """'' for the packaged fp32 model (the tag its vector files always had), '-int8' for the
    daemon's default, '-<hash of the candidate's path>' for a candidate file."""
    path = candidate()
    if path is not None:
        return "-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    return "" if os.environ.get(ENV) == FP32 else "-int8"


def make_encoder(threads: int = 2) -> Any:
    from appliance.embedding.encoder import Encoder

    if os.environ.get(ENV) == FP32:
        return Encoder(threads=threads, precision="fp32")
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
