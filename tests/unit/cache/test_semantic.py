"""The facade end to end: real encoder, real hnswlib index and diskcache in a temp dir."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import numpy as np
import pytest

from appliance.cache.index import INDEX_FILE, SIDECAR_FILE
from appliance.cache.scope import CacheKey, build_key
from appliance.cache.semantic import SemanticCache
from appliance.config import CacheConfig
from appliance.embedding.encoder import Encoder

Embed = Callable[[str], np.ndarray]
QUIET = CacheConfig(index_save_interval_s=3600)  # saves only when a test asks


def key(
    text: str,
    *,
    ns: str = "ns",
    model: str = "m",
    system: str = "Be helpful.",
    temperature: float = 0.0,
) -> CacheKey:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    return build_key(ns, model, messages, {"temperature": temperature})


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[SemanticCache]:
    c = SemanticCache(tmp_path, QUIET)
    yield c
    c.close()


def put(cache: SemanticCache, embed: Embed, text: str, **scope: str) -> str:
    entry_id = cache.new_entry_id()
    cache.store(entry_id, key(text, **scope), embed(text), f"answer to {text}".encode())
    return entry_id


def ask(cache: SemanticCache, embed: Embed, text: str, **scope: str):  # type: ignore[no-untyped-def]
    return cache.lookup(key(text, **scope), embed(text))


def test_repeat_hits_the_exact_tier(cache: SemanticCache, embed: Embed) -> None:
    entry_id = put(cache, embed, "How do I reset my password?")
    got = ask(cache, embed, "How do I reset my password?")
    assert (got.outcome, got.tier, got.entry_id) == ("hit", "exact", entry_id)
    assert got.response == b"answer to How do I reset my password?"


def test_paraphrase_hits_the_semantic_tier(cache: SemanticCache, embed: Embed) -> None:
    entry_id = put(cache, embed, "How do I reset my password?")
    got = ask(cache, embed, "How can I reset my password?")
    assert (got.outcome, got.tier, got.entry_id) == ("hit", "semantic", entry_id)
    assert got.similarity is not None and got.similarity >= QUIET.threshold


def test_unrelated_question_misses_and_reports_similarity(
    cache: SemanticCache, embed: Embed
) -> None:
    put(cache, embed, "How do I reset my password?")
    got = ask(cache, embed, "What is the boiling point of water?")
    assert got.outcome == "miss" and got.similarity is not None and got.similarity < 0.5


@pytest.mark.parametrize(
    ("stored", "asked", "guard"),
    [
        ("What is the status of order 48213?", "What is the status of order 48231?", "numbers"),
        ("Turn on the kitchen lights", "Turn off the kitchen lights", "negation"),
        ("How do I enable two-factor login?", "How do I disable two-factor login?", "negation"),
        (
            "Is AWS cheaper than GCP for storage?",
            "Is AWS cheaper than Azure for storage?",
            "entities",
        ),
    ],
)
def test_guard_blocks_its_trap(
    cache: SemanticCache, embed: Embed, stored: str, asked: str, guard: str
) -> None:
    # A permissive threshold, so the trap is a candidate and only its guard stands in the way.
    cache.config = msgspec.structs.replace(QUIET, threshold=0.8)
    put(cache, embed, stored)
    got = ask(cache, embed, asked)
    assert got.similarity is not None and got.similarity >= 0.8
    assert got.outcome == "miss"
    assert got.blocked_by == guard
    assert cache.stats()["blocked"] == {guard: 1}


def test_blocked_best_candidate_does_not_hide_a_valid_one(
    cache: SemanticCache, embed: Embed
) -> None:
    cache.config = msgspec.structs.replace(QUIET, threshold=0.85)
    put(cache, embed, "What is the status of order 48213?")
    right = put(cache, embed, "What is the status of order 48231?")
    got = ask(cache, embed, "what's the status of my order 48231")
    assert got.outcome == "hit" and got.entry_id == right


@pytest.mark.parametrize(
    "other", [{"ns": "tenant-b"}, {"model": "gpt-x"}, {"system": "Answer in French."}]
)
def test_other_scope_never_hits(cache: SemanticCache, embed: Embed, other: dict[str, str]) -> None:
    put(cache, embed, "How do I reset my password?")
    assert ask(cache, embed, "How do I reset my password?", **other).outcome == "miss"
    assert ask(cache, embed, "How can I reset my password?", **other).outcome == "miss"


def test_follow_up_in_another_thread_never_hits(cache: SemanticCache, embed: Embed) -> None:
    def thread(topic: str) -> CacheKey:
        return build_key(
            "ns",
            "m",
            [
                {"role": "user", "content": f"Tell me about {topic}."},
                {"role": "assistant", "content": f"{topic} is a city."},
                {"role": "user", "content": "What about its population?"},
            ],
            {},
        )

    vector = embed("What about its population?")
    cache.store(cache.new_entry_id(), thread("Paris"), vector, b"2.1 million")
    assert cache.lookup(thread("Paris"), vector).outcome == "hit"
    assert cache.lookup(thread("Rome"), vector).outcome == "miss"


def test_threshold_is_read_live_from_config(cache: SemanticCache, embed: Embed) -> None:
    put(cache, embed, "How do I reset my password?")
    assert ask(cache, embed, "How can I reset my password?").outcome == "hit"
    cache.config = msgspec.structs.replace(QUIET, threshold=0.999)
    assert ask(cache, embed, "How can I reset my password?").outcome == "miss"
    cache.config = msgspec.structs.replace(QUIET, enabled=False)
    assert ask(cache, embed, "How do I reset my password?").outcome == "miss"


def test_restart_keeps_entries(tmp_path: Path, embed: Embed) -> None:
    first = SemanticCache(tmp_path, QUIET)
    entry_id = put(first, embed, "How do I reset my password?")
    first.close()
    second = SemanticCache(tmp_path, QUIET)
    try:
        assert second.opened == "loaded"
        got = ask(second, embed, "How can I reset my password?")
        assert got.outcome == "hit" and got.entry_id == entry_id
    finally:
        second.close()


def test_entries_written_after_the_last_save_survive_a_crash(tmp_path: Path, embed: Embed) -> None:
    first = SemanticCache(tmp_path, QUIET)
    put(first, embed, "How do I reset my password?")
    first.save()
    late = put(first, embed, "Where can I download the invoice?")
    # Simulated crash: no close(), no final save; the saved index is now stale.
    second = SemanticCache(tmp_path, QUIET)
    try:
        assert second.opened == "repaired"
        got = ask(second, embed, "Where do I download my invoice?")
        assert got.outcome == "hit" and got.entry_id == late
        assert second.stats()["entries"] == 2
    finally:
        second.close()


@pytest.mark.parametrize("damage", ["missing", "corrupt", "sidecar"])
def test_missing_or_corrupted_index_is_rebuilt(tmp_path: Path, embed: Embed, damage: str) -> None:
    first = SemanticCache(tmp_path, QUIET)
    entry_id = put(first, embed, "How do I reset my password?")
    first.close()
    index_file = tmp_path / "index" / INDEX_FILE
    if damage == "missing":
        index_file.unlink()
    elif damage == "corrupt":
        index_file.write_bytes(b"\0" * index_file.stat().st_size)
    else:
        (tmp_path / "index" / SIDECAR_FILE).write_bytes(b"not msgpack")
    reports: list[tuple[int, int]] = []
    second = SemanticCache(tmp_path, QUIET, progress=lambda *p: reports.append(p))
    try:
        assert second.opened == "rebuilt"
        assert reports == [(1, 1)]  # progress ends with every entry indexed
        got = ask(second, embed, "How can I reset my password?")
        assert got.outcome == "hit" and got.entry_id == entry_id
    finally:
        second.close()


def test_ttl_is_absolute_and_not_refreshed_by_hits(tmp_path: Path, embed: Embed) -> None:
    config = msgspec.structs.replace(QUIET, ttl_days=0.6 / 86400)  # 0.6 s
    cache = SemanticCache(tmp_path, config)
    try:
        put(cache, embed, "How do I reset my password?")
        for _ in range(3):
            assert ask(cache, embed, "How do I reset my password?").outcome == "hit"
            time.sleep(0.15)
        time.sleep(0.3)
        assert ask(cache, embed, "How do I reset my password?").outcome == "miss"
        assert ask(cache, embed, "How can I reset my password?").outcome == "miss"
        cache.save()  # sweeps expired entries
        assert cache.stats()["entries"] == 0
    finally:
        cache.close()


def test_invalidate_by_entry_id(cache: SemanticCache, embed: Embed) -> None:
    doomed = put(cache, embed, "How do I reset my password?")
    put(cache, embed, "Where can I download the invoice?")
    assert cache.invalidate(entry_id=doomed) == 1
    assert ask(cache, embed, "How do I reset my password?").outcome == "miss"
    assert ask(cache, embed, "Where can I download the invoice?").outcome == "hit"


def test_invalidate_by_scope_leaves_other_scopes(cache: SemanticCache, embed: Embed) -> None:
    put(cache, embed, "How do I reset my password?", ns="a")
    put(cache, embed, "Where can I download the invoice?", ns="a")
    put(cache, embed, "How do I reset my password?", ns="b")
    assert cache.invalidate(scope=key("x", ns="a").scope) == 2
    assert ask(cache, embed, "How do I reset my password?", ns="a").outcome == "miss"
    assert ask(cache, embed, "How do I reset my password?", ns="b").outcome == "hit"


def test_invalidate_by_age(cache: SemanticCache, embed: Embed) -> None:
    put(cache, embed, "How do I reset my password?")
    time.sleep(0.3)
    put(cache, embed, "Where can I download the invoice?")
    assert cache.invalidate(older_than_s=0.15) == 1
    assert ask(cache, embed, "How do I reset my password?").outcome == "miss"
    assert ask(cache, embed, "Where can I download the invoice?").outcome == "hit"


def test_epoch_bump_invalidates_everything_and_persists(tmp_path: Path, embed: Embed) -> None:
    cache = SemanticCache(tmp_path, QUIET)
    put(cache, embed, "How do I reset my password?")
    assert cache.bump_epoch() == 1
    assert ask(cache, embed, "How do I reset my password?").outcome == "miss"
    put(cache, embed, "Where can I download the invoice?")
    cache.close()
    again = SemanticCache(tmp_path, QUIET)
    try:
        assert again.stats()["epoch"] == 1 and again.stats()["entries"] == 1
        assert ask(again, embed, "Where can I download the invoice?").outcome == "hit"
    finally:
        again.close()


def test_invalidate_everything(cache: SemanticCache, embed: Embed) -> None:
    put(cache, embed, "How do I reset my password?")
    put(cache, embed, "Where can I download the invoice?")
    assert cache.invalidate(everything=True) == 2
    assert cache.stats()["entries"] == 0
    assert ask(cache, embed, "How do I reset my password?").outcome == "miss"


def test_size_bound_evicts_the_least_recently_used(tmp_path: Path, embed: Embed) -> None:
    cache = SemanticCache(tmp_path, msgspec.structs.replace(QUIET, max_entries=3))
    try:
        put(cache, embed, "How do I reset my password?")
        put(cache, embed, "Where can I download the invoice?")
        put(cache, embed, "What is the capital of France?")
        assert ask(cache, embed, "How do I reset my password?").outcome == "hit"  # now recent
        put(cache, embed, "Why is the sky blue?")
        assert cache.stats()["entries"] == 3
        assert ask(cache, embed, "Where can I download the invoice?").outcome == "miss"
        for kept in (
            "How do I reset my password?",
            "What is the capital of France?",
            "Why is the sky blue?",
        ):
            assert ask(cache, embed, kept).outcome == "hit"
        assert cache.stats()["index_size"] == 3
    finally:
        cache.close()


def test_hit_counts_are_flushed_to_the_store(tmp_path: Path, embed: Embed) -> None:
    cache = SemanticCache(tmp_path, QUIET)
    entry_id = put(cache, embed, "How do I reset my password?")
    for _ in range(3):
        ask(cache, embed, "How can I reset my password?")
    cache.close()
    from appliance.cache.store import EntryStore

    store = EntryStore(tmp_path / "entries")
    entry = store.get(entry_id)
    assert entry is not None and entry.hits == 3
    store.close()


def test_storing_the_same_request_again_replaces_the_entry(
    cache: SemanticCache, embed: Embed
) -> None:
    put(cache, embed, "How do I reset my password?")
    newer = put(cache, embed, "How do I reset my password?")
    assert cache.stats()["entries"] == 1
    assert ask(cache, embed, "How do I reset my password?").entry_id == newer


def test_background_saver_writes_the_index(tmp_path: Path, embed: Embed) -> None:
    cache = SemanticCache(tmp_path, msgspec.structs.replace(QUIET, index_save_interval_s=0.1))
    try:
        put(cache, embed, "How do I reset my password?")
        deadline = time.time() + 5
        while cache.stats()["last_save"] is None and time.time() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "index" / INDEX_FILE).exists()
    finally:
        cache.close()


def test_texts_longer_than_the_encoder_window_only_hit_exactly(
    tmp_path: Path, encoder: Encoder
) -> None:
    """Two long prompts that differ only after the encoder's 256 word pieces get the same
    vector; serving one for the other would be a wrong hit, so only exact repeats may hit."""
    shared = "The committee reviewed the quarterly report in detail. " * 40
    first = shared + "Summarise the section about revenue."
    second = shared + "Summarise the section about staffing."
    assert not encoder.sees_whole(first)
    vectors = encoder.encode([first, second])
    assert float(vectors[0] @ vectors[1]) > 0.999  # the tails are invisible to the vector
    cache = SemanticCache(tmp_path, QUIET, sees_whole=encoder.sees_whole)
    try:
        cache.store(cache.new_entry_id(), key(first), vectors[0], b"{}")
        missed = cache.lookup(key(second), vectors[1])
        assert missed.outcome == "miss" and missed.blocked_by == "too_long"
        assert cache.lookup(key(first), vectors[0]).outcome == "hit"
    finally:
        cache.close()


def test_token_count_is_not_capped_by_the_window(encoder: Encoder) -> None:
    assert encoder.count_tokens("word " * 1000) == 1000


def test_a_rebuild_reports_progress_batch_by_batch(
    tmp_path: Path, embed: Embed, monkeypatch: pytest.MonkeyPatch
) -> None:
    import appliance.cache.rebuild as rebuild

    first = SemanticCache(tmp_path, QUIET)
    for text in ["How do I reset my password?", "Where is my invoice?", "Who won in 1998?"]:
        put(first, embed, text)
    first.close()
    (tmp_path / "index" / INDEX_FILE).unlink()
    monkeypatch.setattr(rebuild, "_BATCH", 2)
    reports: list[tuple[int, int]] = []
    second = SemanticCache(tmp_path, QUIET, progress=lambda *p: reports.append(p))
    try:
        assert second.opened == "rebuilt" and second.stats()["entries"] == 3
        assert reports == [(2, 3), (3, 3)]
    finally:
        second.close()
