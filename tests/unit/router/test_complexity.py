"""The complexity count (the out-of-domain prior's input): fixed parts and weights, pinned."""

from __future__ import annotations

from appliance.router.complexity import (
    COMPLEXITY_PARTS,
    COMPLEXITY_WEIGHTS,
    complexity_count,
    complexity_parts,
)

MCQ = "Why is the sky blue?\nA. Oceans\nB. Scattering\nC. Absorption\nD. Dust\nAnswer:"


def _count(text: str) -> float:
    return float(complexity_count([text])[0, 0])


def _part(text: str, name: str) -> float:
    return complexity_parts(text)[COMPLEXITY_PARTS.index(name)]


def test_complexity_parts_match_their_weights() -> None:
    assert len(COMPLEXITY_PARTS) == len(COMPLEXITY_WEIGHTS) == len(complexity_parts("hi"))
    assert complexity_count(["", "hi"]).shape == (2, 1)
    assert _count("") == 0.0


def test_demands_add_complexity_units() -> None:
    base = "Tell me about prime numbers."
    assert _count("Prove that there are infinitely many primes.") > _count(base) + 0.9
    assert (
        _count("Write a function that sorts a list, then explain why it works.")
        > _count("Sort this list.") + 2
    )
    assert _count("Answer in at most 50 words and without jargon.") > _count("Answer briefly.")


def test_demand_words_count_in_any_case() -> None:
    assert _part("PROVE it. Then DERIVE it.", "reasoning") == _part(
        "prove it. then derive it.", "reasoning"
    )
    assert _part("FIRST this, THEN that", "sequence") > 0


def test_light_tasks_subtract_a_unit() -> None:
    """Transforming given text, short social writing and role-play are what a weak model does
    about as well as a strong one."""
    assert _part("extract the date from: Meeting moved to 3 May", "light_task") == 1.0
    assert _part("Write a short poem about autumn.", "light_task") == 1.0
    assert _part("Pretend you are a pirate and greet me.", "light_task") == 1.0
    assert _part("Prove that the square root of 2 is irrational.", "light_task") == 0.0
    assert _count("translate this sentence") < _count("analyse this sentence")
    assert COMPLEXITY_WEIGHTS[COMPLEXITY_PARTS.index("light_task")] == -1.0


def test_length_alone_is_capped() -> None:
    paste = "The weather was fine. " * 400
    assert _count(paste) < 0.5 * 3.0 + 0.5 * 9.0 + 0.01  # length cap + log2 of 400 sentences


def test_multiple_choice_scaffolding_is_not_complexity() -> None:
    stem = "Why is the sky blue?"
    assert _count(MCQ) == _count(stem)
    assert _count(MCQ.replace("\n", " ")) == _count(stem)


def test_list_items_count_with_or_without_line_breaks() -> None:
    listed = "Plan the trip:\n1. book flights\n2. book a hotel\n3. pack"
    assert _part(listed, "list_items") == 2.0  # log2(1 + 3)
    assert _part(listed.replace("\n", " "), "list_items") == 2.0
    assert _part("It costs 3 - 4 dollars", "list_items") == 0.0
