"""Multi-turn keys through the real cache: a repeat or rewording of the same question hits
under the same system prompt and earlier turns, including when it is asked again later in
the same conversation; under any other context it never does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache

Embed = Callable[[str], np.ndarray]
QUESTION = "What is its population?"


def chat(topic: str, *turns: str) -> CacheKey:
    messages: list[dict[str, object]] = [
        {"role": "system", "content": "You are a travel guide."},
        {"role": "user", "content": f"Tell me about {topic}."},
        {"role": "assistant", "content": f"{topic} is a large city."},
    ]
    for i, turn in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": turn})
    return build_key("ns", "m", messages, {"temperature": 0})


def store(cache: SemanticCache, embed: Embed) -> str:
    entry_id = cache.new_entry_id()
    cache.store(entry_id, chat("Lisbon", QUESTION), embed(QUESTION), b"about 550,000")
    return entry_id


def test_a_retyped_follow_up_in_the_same_context_hits(
    verified: SemanticCache, embed: Embed
) -> None:
    entry_id = store(verified, embed)
    retyped = "what is its population"
    got = verified.lookup(chat("Lisbon", retyped), embed(retyped))
    assert (got.outcome, got.entry_id) == ("hit", entry_id)


def test_the_same_follow_up_after_another_context_never_hits(
    verified: SemanticCache, embed: Embed
) -> None:
    store(verified, embed)
    assert verified.lookup(chat("Oslo", QUESTION), embed(QUESTION)).outcome == "miss"


def test_asked_again_later_in_the_same_conversation_hits(
    verified: SemanticCache, embed: Embed
) -> None:
    entry_id = store(verified, embed)
    again = chat("Lisbon", QUESTION, "about 550,000", QUESTION)
    exact = verified.lookup_exact(again)
    assert exact is not None and (exact.tier, exact.entry_id) == ("exact", entry_id)
    retyped = "What is its population??"
    got = verified.lookup(chat("Lisbon", QUESTION, "about 550,000", retyped), embed(retyped))
    assert (got.outcome, got.tier, got.entry_id) == ("hit", "semantic", entry_id)


def test_another_question_asked_later_in_the_conversation_misses(
    verified: SemanticCache, embed: Embed
) -> None:
    store(verified, embed)
    other = "What is its area?"
    got = verified.lookup(chat("Lisbon", QUESTION, "about 550,000", other), embed(other))
    assert got.outcome == "miss"


def test_parent_scope_only_when_the_previous_turns_are_one_exchange() -> None:
    key = chat("Lisbon", QUESTION, "about 550,000", QUESTION)
    assert key.parent == chat("Lisbon", QUESTION).scope
    assert key.parent_text == QUESTION
    assert chat("Lisbon", QUESTION).parent is not None  # [user, assistant] before it
    tool = build_key(
        "ns",
        "m",
        [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "user", "content": "Weather?"},
        ],
        {},
    )
    assert tool.parent is None
    single = build_key("ns", "m", [{"role": "user", "content": QUESTION}], {})
    assert single.parent is None and single.parent_text == ""


def test_the_verifier_picks_the_candidate_that_answers_among_close_ones(
    verified: SemanticCache, embed: Embed
) -> None:
    def single(text: str) -> CacheKey:
        return build_key("ns", "m", [{"role": "user", "content": text}], {})

    for text in ("What is the status of order 48213?", "What is the status of order 48231?"):
        verified.store(verified.new_entry_id(), single(text), embed(text), text.encode())
    asked = "what is the status of order 48231"
    got = verified.lookup(single(asked), embed(asked))
    assert got.outcome == "hit" and got.response == b"What is the status of order 48231?"
    trap = "What is the status of order 48321?"
    assert verified.lookup(single(trap), embed(trap)).outcome == "miss"
    # The guards screen first (the numbers differ), so the verifier saw only the right one.
    stats = verified.stats()
    assert stats["verified"] == 1 and stats["blocked"] == {"numbers": 1}
