"""Per-entry learning: flagged-wrong and no-cache re-asks raise an entry's own bar or drop it,
the bar survives a restart, and flagged entries are listed for the TUI."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache
from appliance.cache.verifier import Verifier

from .conftest import TunedConfig

Embed = Callable[[str], np.ndarray]
STORED = "How do I reset my password?"
REWORDED = "how can I reset my password"


def key(text: str) -> CacheKey:
    return build_key("ns", "m", [{"role": "user", "content": text}], {})


def put(cache: SemanticCache, embed: Embed, text: str) -> str:
    entry_id = cache.new_entry_id()
    cache.store(entry_id, key(text), embed(text), f"answer to {text}".encode())
    return entry_id


def ask(cache: SemanticCache, embed: Embed, text: str):  # type: ignore[no-untyped-def]
    return cache.lookup(key(text), embed(text))


def test_wrong_flag_after_a_semantic_hit_raises_only_that_entrys_bar(
    verified: SemanticCache, embed: Embed
) -> None:
    entry_id = put(verified, embed, STORED)
    first = ask(verified, embed, REWORDED)
    assert first.outcome == "hit" and first.tier == "semantic" and first.score is not None
    outcome = verified.feedback(entry_id, wrong=True)
    assert outcome.action == "raised" and outcome.flags == 1
    assert outcome.bar > first.score
    assert ask(verified, embed, REWORDED).outcome == "miss"
    assert ask(verified, embed, REWORDED).blocked_by == "verifier"
    # The exact question still hits: the answer was not judged wrong, the match was.
    assert ask(verified, embed, STORED).entry_id == entry_id
    flagged = verified.flagged()
    assert [(f.entry_id, f.flags, f.dropped, f.reason) for f in flagged] == [
        (entry_id, 1, False, "wrong")
    ]


def test_wrong_flag_after_an_exact_hit_drops_the_entry(
    verified: SemanticCache, embed: Embed
) -> None:
    entry_id = put(verified, embed, STORED)
    assert ask(verified, embed, STORED).tier == "exact"
    assert verified.feedback(entry_id, wrong=True).action == "dropped"
    assert ask(verified, embed, STORED).outcome == "miss"
    assert verified.flagged()[0].dropped
    assert verified.feedback(entry_id, wrong=True).action == "unknown"


def test_an_entry_flagged_repeatedly_is_dropped(verified: SemanticCache, embed: Embed) -> None:
    entry_id = put(verified, embed, STORED)
    actions = []
    for _ in range(3):
        verified.config = TunedConfig(index_save_interval_s=3600, verifier_threshold=0.05)
        ask(verified, embed, REWORDED)  # served again only while the bar allows it
        entry = verified.feedback(entry_id, wrong=True)
        actions.append(entry.action)
        if entry.action == "dropped":
            break
    assert actions[-1] == "dropped" and len(actions) <= 3


def test_right_feedback_keeps_the_entry_and_its_bar(verified: SemanticCache, embed: Embed) -> None:
    entry_id = put(verified, embed, STORED)
    ask(verified, embed, REWORDED)
    outcome = verified.feedback(entry_id, wrong=False)
    assert (outcome.action, outcome.bar, outcome.flags) == ("kept", 0.0, 0)
    assert ask(verified, embed, REWORDED).outcome == "hit"
    assert verified.flagged() == []


def test_no_cache_reask_of_a_reworded_question_raises_the_bar(
    verified: SemanticCache, embed: Embed
) -> None:
    entry_id = put(verified, embed, STORED)
    outcome = verified.reasked(key(REWORDED), embed(REWORDED))
    assert outcome is not None and outcome.entry_id == entry_id and outcome.action == "raised"
    assert ask(verified, embed, REWORDED).outcome == "miss"
    assert verified.flagged()[0].reason == "no-cache"
    # An exact repeat with no-cache changes nothing: the fresh answer replaces the entry.
    assert verified.reasked(key(STORED), embed(STORED)) is None


def test_the_bar_survives_a_restart(tmp_path: Path, verifier: Verifier, embed: Embed) -> None:
    config = TunedConfig(index_save_interval_s=3600)
    cache = SemanticCache(tmp_path, config, verifier=verifier)
    entry_id = put(cache, embed, STORED)
    ask(cache, embed, REWORDED)
    bar = cache.feedback(entry_id, wrong=True).bar
    cache.close()
    cache = SemanticCache(tmp_path, config, verifier=verifier)
    try:
        assert ask(cache, embed, REWORDED).outcome == "miss"
        assert cache.flagged()[0].bar == bar
        assert ask(cache, embed, STORED).outcome == "hit"
    finally:
        cache.close()
