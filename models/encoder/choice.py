"""Which encoder the evaluation scripts embed with: the shipped one, or a candidate model file
named by APPLIANCE_EVAL_ENCODER, so a new encoder is judged by the very scripts that
calibrated the shipped one (models/cache/calibrate.py, train_verifier.py, models/router/).

It owns that choice and the tag that keeps each encoder's cached vectors apart (the vector
caches under /tmp are keyed by the texts; without the tag a candidate would read the shipped
encoder's vectors). It is evaluation tooling: `appliance/` never reads the variable, so the
daemon always runs the encoder its thresholds were calibrated on.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

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
