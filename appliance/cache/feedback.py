"""Per-entry learning from feedback (vCache-style): an entry's own bar and when to drop it.

It owns the rules that turn a verdict into a new bar, and the small in-memory record of the
verifier score each entry was last served at. It must not search or serve: the facade
applies these rules under its write lock and persists the result in the store.

Why per entry: one global threshold is a compromise across all entries; an entry that was
served wrongly has shown that, for its neighbourhood, the compromise is too loose. Raising
only its bar to just above the score it was wrongly served at removes that mistake (and
anything the verifier is even less sure of) without costing recall anywhere else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from appliance.cache.store import Entry, EntryStore, Flag

# A raised bar sits this far above the score that was served wrongly.
MARGIN = 0.02
# An entry flagged wrong this many times is dropped: its neighbourhood is unreliable.
DROP_AFTER = 3
_CEILING = 0.999
# How many recent semantic serves remember their score.
_MEMORY = 10_000


@dataclass(frozen=True)
class FeedbackOutcome:
    """What a verdict did: `raised` (new `bar`), `dropped`, `kept` or `unknown` entry."""

    entry_id: str
    action: Literal["raised", "dropped", "kept", "unknown"]
    bar: float
    flags: int


@dataclass(frozen=True)
class FeedbackPolicy:
    margin: float = MARGIN
    drop_after: int = DROP_AFTER

    @classmethod
    def from_config(cls, config: object) -> FeedbackPolicy:
        """Read `cache.feedback_margin` and `cache.feedback_drop_after` when the config has
        them; the defaults otherwise."""
        return cls(
            float(getattr(config, "feedback_margin", MARGIN)),
            max(1, int(getattr(config, "feedback_drop_after", DROP_AFTER))),
        )


def raised_bar(current: float, served_score: float, policy: FeedbackPolicy) -> float:
    """The entry's new bar: never lower than before, just above the score that was wrong."""
    return min(_CEILING, max(current, served_score + policy.margin))


class ServedScores:
    """entry id -> verifier score of its latest semantic serve, the most recent `_MEMORY`.
    An entry missing here was served exactly, or before a restart: a wrong flag on it
    cannot be pinned on a wording, so the facade drops it."""

    def __init__(self) -> None:
        self._scores: dict[str, float] = {}

    def remember(self, entry_id: str, score: float | None) -> None:
        self._scores.pop(entry_id, None)
        if score is not None:
            self._scores[entry_id] = score
            if len(self._scores) > _MEMORY:
                self._scores.pop(next(iter(self._scores)))

    def pop(self, entry_id: str) -> float | None:
        return self._scores.pop(entry_id, None)


def record(
    store: EntryStore, entry: Entry, flags: int, bar: float, dropped: bool, reason: str
) -> FeedbackOutcome:
    """Log the verdict for the TUI (kept after a dropped entry is gone) and say what it did."""
    store.put_flag(
        Flag(entry.id, entry.text, entry.scope, flags, bar, dropped, time.time(), reason)
    )
    return FeedbackOutcome(entry.id, "dropped" if dropped else "raised", bar, flags)
