"""Token alignment: what is explained away (case, punctuation, typos, contractions, filler)
and what is left as a meaningful difference (a word, a number, a negation, a name)."""

from __future__ import annotations

import pytest

from appliance.cache.alignment import FEATURES, features


def feature(stored: str, asked: str, name: str) -> float:
    return features(stored, asked, 0.9)[FEATURES.index(name)]


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("How do I reset my password?", "how do i reset my password"),
        ("What is the capital of Australia?", "Hi, what's the capital of Australia? Thanks!"),
        ("How do I merge two dictionaries?", "How do I merge two dictionaires?"),  # transposed
        ("I can't log in to Outlook", "I cant log in to Outlook"),
        ("Can I bring a power bank?", "Can I bring a powerbank?"),
    ],
)
def test_only_the_form_differs(stored: str, asked: str) -> None:
    assert feature(stored, asked, "only_form_differs") == 1.0
    assert feature(stored, asked, "meaningful_unmatched") == 0.0


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("How long do I cook rice?", "How long do I cook wild rice?"),
        ("What is the boiling point of ethanol?", "What is the boiling point of methanol?"),
        ("Is the museum open on Monday?", "Is the museum open on Sunday?"),
        ("Why is my laptop charging?", "Why is my laptop not charging?"),
        ("I can log in to Outlook", "I cant log in to Outlook"),
        ("How did the universe begin?", "When did the universe begin?"),
    ],
)
def test_a_meaningful_difference_remains(stored: str, asked: str) -> None:
    assert feature(stored, asked, "only_form_differs") == 0.0
    assert feature(stored, asked, "meaningful_unmatched") >= 1.0


def test_how_and_what_templates_ask_the_same() -> None:
    assert (
        feature(
            "How do I reverse a list?", "What is the way to reverse a list?", "only_form_differs"
        )
        == 1.0
    )
