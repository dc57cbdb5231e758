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
