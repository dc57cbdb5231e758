"""Task features of a prompt: what it asks for, not what it is about. Shared by training and
serving.

It owns the one definition of the router head's non-embedding input. Training
(`models/router/train.py`) and the runtime classifier both call `task_features`, so the two
can never drift apart; `FEATURE_NAMES` is written into `router.json` and the classifier refuses
a model whose list differs. It must not look at the embedding or the model.

Why these. Under cross-validation that holds out whole subjects, the topic (which the 384-d
vector encodes) does not transfer: knowing which subjects the weak model fails says nothing
about a subject never seen. What transfers is the shape of the task: how long the question is,
whether it is multiple choice and what the options look like (numbers, "all of the above",
options that differ by a word), whether it asks for a calculation and how many numbers it
chains, whether it turns on a negation ("which is NOT"), whether it quotes a passage, code, or
a definition. A multiple-choice item is split into its stem and its options first, so option
text does not count as question length. Everything is computed on the text as the gateway
scores it (NFKC, whitespace collapsed), so line breaks never change a feature. Each value is
squashed to roughly [0, 1.5] so the numbers stay readable. Pure Python: about 0.1-0.3 ms for
an exam-sized prompt.
"""

from __future__ import annotations

import math
import re

import numpy as np

from appliance.text import normalise_text

FEATURE_NAMES: tuple[str, ...] = (
    "log_chars",
    "log_words",
    "stem_log_words",
    "stem_log_sentences",
    "options",
    "option_log_words",
    "option_spread",
    "option_numeric",
    "option_combination",
    "option_overlap",
    "negated_question",
    "statement_pair",
    "passage",
    "log_numbers",
    "log_distinct_numbers",
    "number_sentence_share",
    "math_symbols",
    "multi_step_cues",
    "calculation_verbs",
    "explanation_cues",
    "definition_cues",
    "blank",
    "units",
    "code_markers",
    "ends_with_question",
    "completion_stem",
    "mean_word_length",
    "long_word_share",
    "capital_share",
    "digit_share",
    "question_marks",
    "quotes",
    "years",
    "parentheses",
)

# Shared with `complexity.py` (the out-of-domain prior counts the same code and math markers).
MATH = re.compile(r"[=+*/^<>√∑∫π%±×÷]|\\frac|\\sqrt|\\int|\\sum|\b(?:sin|cos|log|ln|mod)\b")
# Code markers that survive collapsed whitespace (no line-end rules): fences, braces, arrows
# and keywords in their code shape ("class Foo:", not "a class of drugs").
CODE = re.compile(
    r"```|=>|#include|[{}]|\b(?:def \w+\(|class \w+[:(]|import \w+|return\b|function\b"
    r"|SELECT\b|console\.|print\()"
)

# An option marker ("A." or "(B)") at the start of the text or after a space: the serving path
# collapses line breaks, so options are found inline, as a run of consecutive letters.
_OPTION_MARK = re.compile(r"(?:^|(?<=\s))\(?([A-J])[.)](?=\s)")
_ANSWER_TAIL = re.compile(r"\s*Answer:?\s*$")
_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)*")
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+")
_LOWER_WORD = re.compile(r"[a-z]+")
_CAPITALISED = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+")
_NEGATED = re.compile(
    r"\b(?:NOT|EXCEPT|LEAST|FALSE|INCORRECT|not true|is false|incorrect|least likely|except)\b"
)
# The cue lists below match the lower-cased text (one `lower()` per prompt is far cheaper
# than IGNORECASE over long alternations).
_COMBINATION = re.compile(
    r"\b(?:i+ only|i+ and i+|i, ii|(?:all|none) of (?:the above|these)|both|neither)\b"
)
_STATEMENT_PAIR = re.compile(r"statement [12]|\|")
_PASSAGE = re.compile(
    r"refers to the following|following (?:passage|information|excerpt|text|table|data)"
    r"|read the|according to the"
)
_MULTI_STEP = re.compile(
    r"\b(?:how (?:many|much)|total|each|per|remaining|left|(?:more|less) than|times as|twice"
    r"|half|percent|ratio|average|altogether|in all|every)\b"
)
_CALCULATION = re.compile(
    r"\b(?:calculate|compute|find|solve|determine|evaluate|estimate|what is the value"
    r"|how (?:long|far|fast))\b"
)
_EXPLANATION = re.compile(
    r"\b(?:why|explain|reason|because|therefore|implies|best explains|most likely)\b"
)
_DEFINITION = re.compile(
    r"\b(?:is called|is known as|refers to|is defined as|term for|which of the following is a"
    r"|is an example of)\b"
)
_BLANK = re.compile(r"_{2,}|\bblank\b")
_UNITS = re.compile(
    r"\b(?:kg|g|m|km|cm|mm|s|ms|J|N|W|V|A|Hz|mol|L|mL|K|mph|miles|hours|minutes|dollars|cents"
    r"|years)\b|[$%°]"
)
_YEAR = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)\b")
_COMPLETION_ENDINGS = (":", "_", "that", "the", "to", "of", "is", "are", "was", "by")

# Scales chosen so a long exam question lands near 1: log1p(4000 chars) etc.
_LOG_CHARS = math.log1p(4000)
_LOG_WORDS = math.log1p(700)
_LOG_SENTENCES = math.log1p(40)
_LOG_NUMBERS = math.log1p(30)
_LOG_OPTION_WORDS = math.log1p(40)


def _log_scaled(count: float, scale: float) -> float:
    return min(math.log1p(count) / scale, 1.5)


def normalised(text: str) -> str:
    """The text as the gateway scores it (NFKC, whitespace collapsed: `appliance.text`), so the
    features are the same whether a prompt arrives through the pipeline, `router score` or
    training, with or without its line breaks."""
    return normalise_text(text)


def split_options(text: str) -> tuple[str, list[str]]:
    """(stem, option texts) of a multiple-choice item, (text, []) for anything else.

    The options are the longest chain of markers A, B, C, ... in order (the last such chain on
    ties); a marker with another letter is skipped, so "E. coli" inside option B neither ends
    the item nor starts an option. Works on normalised text (all options on one line) as well
    as on one option per line.
    """
    body = _ANSWER_TAIL.sub("", text)
    marks = list(_OPTION_MARK.finditer(body))
    best: list[re.Match[str]] = []
    for i, first in enumerate(marks):
        if first.group(1) != "A":
            continue
        chain = [first]
        for mark in marks[i + 1 :]:
            if ord(mark.group(1)) == ord(chain[-1].group(1)) + 1:
                chain.append(mark)
        if len(chain) >= max(len(best), 2):
            best = chain
    if not best:
        return text.strip(), []
    ends = [m.start() for m in best[1:]] + [len(body)]
    options = [body[m.end() : end].strip() for m, end in zip(best, ends, strict=True)]
    return body[: best[0].start()].strip(), options


def _option_features(options: list[str]) -> list[float]:
    if not options:
        return [0.0] * 6
    lengths = [len(o.split()) for o in options]
    mean = sum(lengths) / len(lengths)
    numeric = sum(1 for o in options if o and sum(c.isdigit() for c in o) / len(o) > 0.3)
    words = [set(_LOWER_WORD.findall(o.lower())) for o in options]
    pairs = [len(a & b) / max(len(a | b), 1) for i, a in enumerate(words) for b in words[i + 1 :]]
    return [
        min(len(options), 10) / 4.0,
        _log_scaled(mean, _LOG_OPTION_WORDS),
        min((max(lengths) - min(lengths)) / (mean + 1.0), 3.0),
        numeric / len(options),
        min(sum(1 for o in options if _COMBINATION.search(o.lower())), 2) / 2.0,
        sum(pairs) / len(pairs),
    ]


def prompt_features(text: str) -> list[float]:
    """The features of one prompt, in `FEATURE_NAMES` order."""
    text = normalised(text)
    stem, options = split_options(text)
    stem_words = len(stem.split())
    sentences = [s for s in _SENTENCE_END.split(stem) if s.strip()]
    numbers = _NUMBER.findall(stem)
    word_lengths = [len(w) for w in _WORD.findall(stem)]
    ending = stem.rstrip()
    lower, stem_lower = text.lower(), stem.lower()
    return [
        _log_scaled(len(text), _LOG_CHARS),
        _log_scaled(len(text.split()), _LOG_WORDS),
        _log_scaled(stem_words, _LOG_WORDS),
        _log_scaled(len(sentences), _LOG_SENTENCES),
        *_option_features(options),
        min(len(_NEGATED.findall(stem)), 2) / 2.0,
        float(bool(_STATEMENT_PAIR.search(lower))),
        float(bool(_PASSAGE.search(stem_lower))),
        _log_scaled(len(numbers), _LOG_NUMBERS),
        _log_scaled(len(set(numbers)), _LOG_NUMBERS),
        sum(1 for s in sentences if _NUMBER.search(s)) / len(sentences) if sentences else 0.0,
        min(len(MATH.findall(text)) / 10.0, 1.0),
        min(len(_MULTI_STEP.findall(stem_lower)) / 6.0, 1.0),
        min(len(_CALCULATION.findall(stem_lower)) / 3.0, 1.0),
        min(len(_EXPLANATION.findall(stem_lower)) / 3.0, 1.0),
        float(bool(_DEFINITION.search(stem_lower))),
        float(bool(_BLANK.search(stem_lower))),
        min(len(_UNITS.findall(stem)) / 6.0, 1.0),
        min(len(CODE.findall(text)) / 5.0, 1.0),
        float(ending.endswith("?")),
        float(ending.endswith(_COMPLETION_ENDINGS)),
        min(sum(word_lengths) / len(word_lengths) / 10.0, 1.5) if word_lengths else 0.0,
        sum(1 for n in word_lengths if n >= 9) / len(word_lengths) if word_lengths else 0.0,
        len(_CAPITALISED.findall(stem)) / (stem_words + 1.0),
        sum(ch.isdigit() for ch in stem) / (len(stem) + 1.0),
        min(text.count("?") / 3.0, 1.0),
        min((text.count('"') + text.count("“")) / 6.0, 1.0),
        min(len(_YEAR.findall(text)) / 3.0, 1.0),
        min(text.count("(") / 6.0, 1.0),
    ]


def task_features(texts: list[str]) -> np.ndarray:
    """Features of a batch, shape (len(texts), len(FEATURE_NAMES)), float32."""
    out = np.zeros((len(texts), len(FEATURE_NAMES)), dtype=np.float32)
    for row, text in enumerate(texts):
        out[row] = prompt_features(text)
    return out
