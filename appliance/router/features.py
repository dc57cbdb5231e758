"""Cheap lexical features of a prompt, shared by training and serving.

It owns the one definition of the non-embedding inputs to the router head. Training
(`models/router/train.py`) and the runtime classifier both call `lexical_features`, so the two
can never drift apart; `FEATURE_NAMES` is written into `router.json` and the classifier refuses
a model whose list differs. It must not look at the embedding or the model.

The features are what a 384-d sentence vector hides: how long the prompt is (mean pooling
forgets length), how many numbers and operators it carries (arithmetic load), whether it reads
as code, whether it asks for several steps, and whether it is a multiple-choice item. Each is
squashed to roughly [0, 1] so no input dominates the head's first layer. Pure Python on purpose:
about 20 µs per prompt, far below the encoder's cost.
"""

from __future__ import annotations

import math
import re

import numpy as np

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "log_lines",
    "digit_share",
    "log_numbers",
    "math_symbols",
    "code_markers",
    "multi_step_markers",
    "question_marks",
    "choice_options",
)

_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)?")
_MATH = re.compile(r"[=+*/^<>√∑∫π%±×÷]|\\frac|\\sqrt|\\int|\\sum|\b(?:sin|cos|log|ln|mod)\b")
_CODE = re.compile(
    r"```|\bdef \w+\(|\bclass \w+|\bimport \w+|#include|\breturn\b|=>|\bfunction\b|[{};]\s*$"
    r"|\bSELECT\b|\bconsole\.|\bprint\(",
    re.MULTILINE,
)
_MULTI_STEP = re.compile(
    r"\b(?:step|steps|first|then|next|finally|after that|prove|proof|derive|show that|explain why"
    r"|calculate|compute|how many|how much|total|each|per|remaining|left over|in all)\b",
    re.IGNORECASE,
)
_CHOICE = re.compile(r"^\s*\(?[A-H][.)]\s", re.MULTILINE)

# Scales chosen so a long exam question lands near 1: log1p(4000 chars) etc.
_LOG_CHARS = math.log1p(4000)
_LOG_WORDS = math.log1p(700)
_LOG_LINES = math.log1p(60)
_LOG_NUMBERS = math.log1p(30)


def prompt_features(text: str) -> list[float]:
    """The features of one prompt, in `FEATURE_NAMES` order."""
    chars = len(text)
    words = len(text.split())
    lines = text.count("\n") + 1 if text else 0
    digits = sum(ch.isdigit() for ch in text)
    numbers = len(_NUMBER.findall(text))
    return [
        min(math.log1p(chars) / _LOG_CHARS, 1.5),
        min(math.log1p(words) / _LOG_WORDS, 1.5),
        min(math.log1p(lines) / _LOG_LINES, 1.5),
        digits / chars if chars else 0.0,
        min(math.log1p(numbers) / _LOG_NUMBERS, 1.5),
        min(len(_MATH.findall(text)) / 10.0, 1.0),
        min(len(_CODE.findall(text)) / 5.0, 1.0),
        min(len(_MULTI_STEP.findall(text)) / 6.0, 1.0),
        min(text.count("?") / 3.0, 1.0),
        min(len(_CHOICE.findall(text)) / 4.0, 1.0),
    ]


def lexical_features(texts: list[str]) -> np.ndarray:
    """Features of a batch, shape (len(texts), len(FEATURE_NAMES)), float32."""
    out = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float32)
    for row, text in enumerate(texts):
        out[row] = prompt_features(text)
    return out


# --- Complexity count: the out-of-domain prior ----------------------------------------------
#
# The head only knows exam questions and word problems (see MODEL_CARD.md). Far from them its
# output is arbitrary, so the ONNX graph blends it toward a prior computed from this count.
# The count is a checklist in "complexity units" with fixed, a-priori weights (all 1), not fitted
# to any outcome: each part is log2(1 + occurrences), so the first occurrence of a demand adds a
# unit and each doubling one more (diminishing returns), and length adds one unit per doubling
# beyond about one sentence (20 words), capped at 3 units (~140 words) so a long paste does not
# count as hard by itself. The parts are general structure and task demands, not phrases of
# particular prompts:
#   length       log2(1 + words / 20), at most 3
#   sentences    extra sentences or clauses beyond the first (. ! ? ; and line breaks)
#   questions    extra question marks beyond the first (several things asked at once)
#   reasoning    demands for reasoning: prove, derive, show that, explain why/how, justify,
#                step by step, analyse, compare, trade-off, design, optimise, counterexample, ...
#   sequence     ordering of sub-tasks: first, then, next, finally, after that, ...
#   constraints  must, at most/least, no more than, exactly, without, ensure, tolerate, ...
#   code         code fences and code-like lines, or a request to write code
#   math         operators, equations and LaTeX commands
#   list_items   numbered or bulleted lines
# The size parts (length, sentences) are indirect evidence and weigh half a unit; the demand
# parts weigh one. Multiple-choice scaffolding (lettered option lines, a bare "Answer:") is
# removed first: it is exam formatting, not a demand, and `choice_options` already sees it.
# `train.py` maps the count to a score by matching quantiles on the training prompts, inside
# the ONNX graph; this function is the only definition, shared by training and serving.
COMPLEXITY_PARTS: tuple[str, ...] = (
    "length",
    "sentences",
    "questions",
    "reasoning",
    "sequence",
    "constraints",
    "code",
    "math",
    "list_items",
)
_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)|\n+")
_REASONING = re.compile(
    r"\b(?:prove|proves|proof|derive|derivation|show that|explain (?:why|how)|justify"
    r"|step[- ]by[- ]step|reason(?:ing)? about|analy[sz]e|analysis of|compare|contrast"
    r"|trade-?offs?|design|architect(?:ure)?|optimi[sz]e|counter-?example|induction"
    r"|rigorous(?:ly)?|edge cases?|diagnose|debug|evaluate|critique)\b",
    re.IGNORECASE,
)
_SEQUENCE = re.compile(
    r"\b(?:first|firstly|second|secondly|then|next|finally|after that|afterwards"
    r"|subsequently|followed by|before that)\b",
    re.IGNORECASE,
)
_CONSTRAINT = re.compile(
    r"\b(?:must|must not|should not|shouldn't|at most|at least|no more than|no fewer than"
    r"|no less than|exactly|without|ensure|guarantee|tolerate|constraints?|requirements?"
    r"|limit(?:ed)? to)\b",
    re.IGNORECASE,
)
_CODE_REQUEST = re.compile(
    r"\b(?:write|implement|give|provide|generate|build|create|refactor|fix)\b[^.?!\n]{0,60}?"
    r"\b(?:code|function|program|script|class|module|query|sql|api|algorithm|tests?)\b",
    re.IGNORECASE,
)
_LIST_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+\S", re.MULTILINE)
_SCAFFOLD = re.compile(r"^\s*\(?[A-H][.)]\s.*$|^\s*Answer:?\s*$", re.MULTILINE)
COMPLEXITY_WEIGHTS: tuple[float, ...] = (0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def _units(count: int) -> float:
    return math.log2(1 + count)


def complexity_parts(text: str) -> list[float]:
    """The parts of the complexity count of one prompt, in `COMPLEXITY_PARTS` order
    (unweighted)."""
    text = _SCAFFOLD.sub("", text)
    words = len(text.split())
    sentences = len([s for s in _SENTENCE_END.split(text) if s.strip()])
    return [
        min(math.log2(1 + words / 20.0), 3.0),
        _units(max(sentences - 1, 0)),
        _units(max(text.count("?") - 1, 0)),
        _units(len(_REASONING.findall(text))),
        _units(len(_SEQUENCE.findall(text))),
        _units(len(_CONSTRAINT.findall(text))),
        _units(len(_CODE.findall(text)) + len(_CODE_REQUEST.findall(text))),
        _units(len(_MATH.findall(text))),
        _units(len(_LIST_ITEM.findall(text))),
    ]


def complexity_count(texts: list[str]) -> np.ndarray:
    """Complexity count (weighted sum of the parts) of a batch, shape (len(texts), 1), float32."""
    out = np.zeros((len(texts), 1), dtype=np.float32)
    for row, text in enumerate(texts):
        parts = complexity_parts(text)
        out[row, 0] = sum(w * x for w, x in zip(COMPLEXITY_WEIGHTS, parts, strict=True))
    return out
