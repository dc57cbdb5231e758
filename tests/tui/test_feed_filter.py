"""The feed filter's rules, without a screen: keys, prefixes, either-of, free text."""

from __future__ import annotations

from tests.tui.recorded import recorded_events
from tui.feed_filter import FeedFilter

EVENTS = recorded_events()


def shown(text: str) -> list[str]:
    wanted = FeedFilter.parse(text)
    return [e.id for e in EVENTS if wanted.matches(e)]


def test_empty_filter_shows_everything() -> None:
    assert not FeedFilter.parse("   ")
    assert shown("") == [e.id for e in EVENTS]


def test_keys_compare_the_start_of_their_field_and_all_must_match() -> None:
    local = [e.id for e in EVENTS if e.tier == "local"]
    assert local and shown("tier:local") == local
    assert shown("TIER:loc") == local  # case-insensitive prefix
    both = [e.id for e in EVENTS if e.tier == "cache" and e.client == "notebooks"]
    assert both and shown("tier:cache client:notebooks") == both
    assert shown("cache:hit") == [e.id for e in EVENTS if e.cache == "hit"]


def test_the_same_key_twice_means_either() -> None:
    wanted = [e.id for e in EVENTS if e.tier in ("local", "mid")]
    assert shown("tier:local tier:mid") == wanted
    assert len(wanted) > len(shown("tier:local"))


def test_free_text_searches_the_row_and_combines_with_keys() -> None:
    assert shown("req-0007") == ["req-0007"]
    bot_hits = [e.id for e in EVENTS if e.client == "billing-bot" and e.cache == "hit"]
    assert bot_hits and shown("billing cache:hit") == bot_hits
    assert shown("nothing-like-this") == []


def test_an_unknown_key_is_searched_as_text_and_reported() -> None:
    wanted = FeedFilter.parse("teir:local")
    assert wanted.unknown == ("teir",) and wanted.words == ("teir:local",)
    assert shown("teir:local") == []
    assert FeedFilter.parse("  tier:local   x ").text == "tier:local x"
