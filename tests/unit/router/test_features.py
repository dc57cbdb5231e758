"""Lexical features: the same function feeds training and serving, so pin its behaviour."""

from __future__ import annotations

import numpy as np

from appliance.router.features import (
    COMPLEXITY_PARTS,
    COMPLEXITY_WEIGHTS,
    FEATURE_NAMES,
    complexity_count,
    complexity_parts,
    lexical_features,
    prompt_features,
)

GSM8K_STYLE = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May? First compute each "
    "month, then the total."
)
MCQ = "Why is the sky blue?\nA. Oceans\nB. Scattering\nC. Absorption\nD. Dust\nAnswer:"


def _f(text: str) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, prompt_features(text), strict=True))


def test_shape_and_dtype_match_the_names() -> None:
    out = lexical_features(["hi", GSM8K_STYLE, ""])
    assert out.shape == (3, len(FEATURE_NAMES))
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))


def test_empty_prompt_is_all_zero() -> None:
    assert not any(prompt_features(""))


def test_longer_prompt_has_larger_length_features() -> None:
    assert _f(GSM8K_STYLE)["log_chars"] > _f("hi")["log_chars"] > 0


def test_word_problem_counts_numbers_and_steps() -> None:
    f = _f(GSM8K_STYLE)
    assert f["log_numbers"] > 0
    assert f["multi_step_markers"] > _f("hi")["multi_step_markers"] == 0


def test_code_and_math_are_detected() -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    assert _f(code)["code_markers"] > 0
    assert _f("Solve x^2 + 3x = 10 and \\frac{1}{2}")["math_symbols"] > 0
    assert _f("Tell me a story about a cat.")["code_markers"] == 0


def test_multiple_choice_options_are_counted() -> None:
    assert _f(MCQ)["choice_options"] == 1.0
    assert _f(GSM8K_STYLE)["choice_options"] == 0.0


def test_features_stay_bounded_on_huge_input() -> None:
    out = lexical_features(["1 + 2 = 3? step then " * 5000])
    assert float(out.max()) <= 1.5


def _count(text: str) -> float:
    return float(complexity_count([text])[0, 0])


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


def test_length_alone_is_capped() -> None:
    paste = "The weather was fine. " * 400
    assert _count(paste) < 0.5 * 3.0 + 0.5 * 9.0 + 0.01  # length cap + log2 of 400 sentences


def test_multiple_choice_scaffolding_is_not_complexity() -> None:
    stem = "Why is the sky blue?"
    assert _count(MCQ) == _count(stem)
