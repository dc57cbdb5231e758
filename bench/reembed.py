"""What an encoder change costs at start-up: a cache of N entries made by the fp32 encoder,
opened with the int8 build, is embedded again from its texts and re-indexed
(`appliance/cache/reembed.py`), beside the same cache opened again with nothing to redo.

    .venv/bin/python bench/reembed.py [--entries 20000]

Measured on the 2-core box: 20,000 short entries in 36 s (553/s), about 3 minutes per 100k.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from appliance.cache.scope import build_key
from appliance.cache.semantic import SemanticCache
from appliance.cache.store import Entry
from appliance.config import CacheConfig
from appliance.embedding.encoder import Encoder

QUIET = CacheConfig(index_save_interval_s=3600)


def fill(directory: Path, encoder: Encoder, entries: int) -> None:
    """N distinct short questions, stored as the fp32 encoder's cache (one shared vector: the
    re-embed recomputes every one from its text anyway)."""
    cache = SemanticCache(directory, QUIET, vectors=encoder)
    texts = [f"How do I change the billing address on invoice {i} for customer {i % 997}?"
             for i in range(entries)]  # fmt: skip
    vector = np.asarray(encoder.encode(texts[:1])[0]).tobytes()
    rows = []
    for label, text in enumerate(texts):
        key = build_key("ns", "m", [{"role": "user", "content": text}], {"temperature": 0.0})
        rows.append(
            Entry(str(uuid.uuid4()), label, key.scope, key.exact, key.text, vector, b"x",
                  time.time(), 0)
        )  # fmt: skip
    cache._store.put_many(rows)
    cache.close()


def open_timed(directory: Path, encoder: Encoder) -> tuple[float, int, str]:
    began = time.monotonic()
    cache = SemanticCache(directory, QUIET, vectors=encoder)
    took = time.monotonic() - began
    redone, opened = cache.reembedded, cache.opened
    cache.close()
    return took, redone, opened


def main(entries: int) -> None:
    fp32, int8 = Encoder(precision="fp32"), Encoder()
    directory = Path(tempfile.mkdtemp(prefix="appliance-reembed-"))
    fill(directory, fp32, entries)
    for label in ("fp32 store opened on int8 (re-embed, rebuild)", "baseline: opened again"):
        took, redone, opened = open_timed(directory, int8)
        rate = f"{redone / took:,.0f} entries/s" if redone else "nothing to redo"
        print(f"{label:<48} {redone:>7,} re-embedded  index {opened:<8} {took:6.1f} s  {rate}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=20000)
    main(parser.parse_args().entries)
