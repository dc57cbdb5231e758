"""Deciding among the candidates the index found: screen them, verify them, pick one.

It owns the `Lookup` result and the two steps after the neighbour search: the cheap lexical
screen (guards, the encoder-window check) and the verifier's decision. It must not search the
index or touch the store; the facade hands it (entry, cosine) pairs and applies the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from appliance.cache import guards
from appliance.cache.store import Entry
from appliance.cache.verifier import Verifier, VerifyPolicy

Candidate = tuple[Entry, float]


@dataclass
class Lookup:
    outcome: Literal["hit", "miss"]
    entry_id: str | None
    similarity: float | None
    response: bytes | None
    tier: Literal["exact", "semantic"] | None
    blocked_by: str | None
    # The verifier's probability for a semantic hit (or the best rejected candidate).
    score: float | None = None


def screen(
    text: str, candidates: list[Candidate], config: guards.GuardConfig, fits: Callable[[str], bool]
) -> tuple[list[Candidate], str | None]:
    """Candidates that pass the enabled guards and fit the encoder's window, in order, and
    the first reason one was blocked."""
    kept: list[Candidate] = []
    blocked: str | None = None
    for entry, similarity in candidates:
        reason = guards.check(text, entry.text, config)
        if reason is None and not fits(entry.text):
            reason = "too_long"
        if reason is None:
            kept.append((entry, similarity))
        blocked = blocked or reason
    return kept, blocked


def choose(
    verifier: Verifier,
    text: str,
    candidates: list[Candidate],
    policy: VerifyPolicy,
    best: float | None,
    blocked: str | None,
) -> Lookup:
    """One verifier run over the candidates; the most probable one that clears both the
    global threshold and its entry's own bar is served."""
    if not candidates:
        return Lookup("miss", None, best, None, None, blocked)
    scores = verifier.score(
        text, [entry.text for entry, _ in candidates], [sim for _, sim in candidates]
    )
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
    for i in order:
        entry, similarity = candidates[i]
        if scores[i] >= max(policy.verifier_threshold, entry.bar):
            return Lookup("hit", entry.id, similarity, None, "semantic", None, float(scores[i]))
    return Lookup("miss", None, best, None, None, blocked or "verifier", float(scores[order[0]]))
