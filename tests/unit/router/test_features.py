"""Task features: the same function feeds training and serving, so pin its behaviour."""

from __future__ import annotations

import time

import numpy as np
import pytest

from appliance.router.features import (
    FEATURE_NAMES,
    prompt_features,
    split_options,
    task_features,
)
from appliance.text import normalise_text

GSM8K_STYLE = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May? First compute each "
    "month, then the total."
)
MCQ = "Why is the sky blue?\nA. Oceans\nB. Scattering\nC. Absorption\nD. Dust\nAnswer:"
NEGATED = (
    "Which of the following is NOT a prime number?\nA. 2\nB. 3\nC. 9\nD. None of the above\nAnswer:"
)


def _f(text: str) -> dict[str, float]:
    return dict(zip(FEATURE_NAMES, prompt_features(text), strict=True))


def test_shape_and_dtype_match_the_names() -> None:
    out = task_features(["hi", GSM8K_STYLE, "", MCQ])
    assert out.shape == (4, len(FEATURE_NAMES))
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_empty_prompt_is_all_zero() -> None:
    assert not any(prompt_features(""))


def test_options_are_split_from_the_stem() -> None:
    f = _f(MCQ)
    assert f["options"] == 1.0 and f["option_log_words"] > 0
    assert f["stem_log_words"] == _f("Why is the sky blue?")["stem_log_words"]
    assert f["log_words"] > f["stem_log_words"]
    assert f["ends_with_question"] == 1.0
    assert _f(GSM8K_STYLE)["options"] == 0.0
    # A single lettered line is not a multiple-choice item.
    assert _f("A. one thing only")["options"] == 0.0


def test_features_do_not_depend_on_line_breaks() -> None:
    """The gateway scores the normalised last turn (whitespace collapsed); `router score` and
    training see the raw text. Both must give the same features."""
    texts = [MCQ, NEGATED, GSM8K_STYLE, "```python\ndef f(x):\n    return {x: 1}\n```"]
    raw = task_features(texts)
    assert np.array_equal(raw, task_features([normalise_text(t) for t in texts]))
    assert np.array_equal(raw, task_features([t.replace("\n", "\r\n  ") for t in texts]))


def test_options_are_found_inline_and_past_stray_letters() -> None:
    stem, options = split_options(normalise_text(MCQ))
    assert stem == "Why is the sky blue?"
    assert options == ["Oceans", "Scattering", "Absorption", "Dust"]
    tricky = (
        "Which organisms came first?\nA. viruses\nB. bacteria such as E. coli\n"
        "C. Solution G. of salts\nD. plankton\nAnswer:"
    )
    assert split_options(tricky)[1] == [
        "viruses",
        "bacteria such as E. coli",
        "Solution G. of salts",
        "plankton",
    ]
    assert split_options("Pick A) red B) blue")[1] == ["red", "blue"]
    assert split_options("Dr. A. Smith wrote it.") == ("Dr. A. Smith wrote it.", [])


def test_question_type_and_option_structure() -> None:
    f = _f(NEGATED)
    assert f["negated_question"] > 0 and _f(MCQ)["negated_question"] == 0
    assert f["option_combination"] > 0 and _f(MCQ)["option_combination"] == 0
    assert f["option_numeric"] == pytest.approx(0.75)
    same = "Pick one.\nA. the red car\nB. the red bus\nC. the red van\nD. the red cab"
    assert _f(same)["option_overlap"] > _f(MCQ)["option_overlap"]


def test_word_problem_counts_numbers_and_steps() -> None:
    f = _f(GSM8K_STYLE)
    assert f["log_numbers"] > 0 and f["number_sentence_share"] > 0
    assert f["multi_step_cues"] > _f("hi")["multi_step_cues"] == 0
    assert f["capital_share"] > 0  # names mid-sentence (April, May, Natalia)


def test_code_math_and_passages_are_detected() -> None:
    code = "```python\ndef add(a, b):\n    return a + b\n```"
    assert _f(code)["code_markers"] > 0
    assert _f("Solve x^2 + 3x = 10 and \\frac{1}{2}")["math_symbols"] > 0
    assert _f("Tell me a story about a cat.")["code_markers"] == 0
    assert _f("This question refers to the following information. ...")["passage"] == 1.0
    assert _f("Statement 1 | Every group is abelian.")["statement_pair"] == 1.0
    assert _f("Explain why the sky is blue")["explanation_cues"] > 0


def test_cues_match_in_any_case() -> None:
    assert (
        _f("HOW MANY apples in TOTAL?")["multi_step_cues"]
        == _f("how many apples in total?")["multi_step_cues"]
    )


def test_features_stay_bounded_on_huge_input() -> None:
    out = task_features(["1 + 2 = 3? step then A. x\nB. y\n" * 5000])
    assert float(out.max()) <= 3.0


def test_features_are_cheap() -> None:
    texts = [MCQ, NEGATED, GSM8K_STYLE] * 100
    start = time.perf_counter()
    task_features(texts)
    # ~0.1 ms each on an idle core; generous for a loaded CI box.
    assert (time.perf_counter() - start) / len(texts) < 0.002
