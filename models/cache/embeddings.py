"""Embed the dev pair texts once and keep them under /tmp, so calibration reruns are cheap.

It owns only where the cache scripts keep their vectors; the vector cache itself (keyed by the
texts, tagged by the encoder) is `models/encoder/choice.py`'s, shared with the router's
scripts. It is not product code and must not be imported by `appliance/`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.encoder import choice

CACHE_DIR = Path("/tmp/appliance_cache_emb")


def embed_cached(name: str, texts: list[str]) -> np.ndarray:
    """Unit vectors for `texts`, read from /tmp when the same texts were embedded before."""
    return choice.cached_vectors(CACHE_DIR, name, texts)
