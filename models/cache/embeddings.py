"""Embed the dev pair texts once and keep them under /tmp, so calibration reruns are cheap.

It owns only the on-disk embedding cache for the evaluation scripts; it is not product code
and must not be imported by `appliance/`. Texts are embedded sorted by length so a batch pads
to similar widths (about 2x faster on 2 cores than arrival order).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from models.encoder import choice

CACHE_DIR = Path("/tmp/appliance_cache_emb")


def embed_cached(name: str, texts: list[str], batch: int = 64) -> np.ndarray:
    """Unit vectors for `texts`, read from /tmp when the same texts were embedded before
    (then no encoder is loaded, so a bench venv without onnxruntime can read them)."""
    digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{digest}{choice.cache_tag()}.npy"
    if path.exists():
        return np.load(path)
    encoder = choice.make_encoder()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        out[idx] = encoder.encode([texts[i] for i in idx])
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, out)
    tmp.replace(path)
    return out
