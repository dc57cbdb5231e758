"""The complexity count: the router's a-priori prior for prompts unlike its training data.

It owns one number per prompt, in "complexity units", that says how much a request demands
without any outcome label behind it. The head only knows exam questions and word problems (see
`models/router/MODEL_CARD.md`); far from them its output is arbitrary, so the ONNX graph blends
it toward a prior computed from this count as the prompt moves away from the training data. It
must not be fitted to outcomes: the parts and weights below were fixed before any score was
looked at, and `router.json` records them so a model trained with another count fails at load.

The count is a checklist with diminishing returns: each part is log2(1 + occurrences), so the
first occurrence of a demand adds a unit and each doubling one more, and length adds one unit per
doubling beyond about one sentence (20 words), capped at 3 units (~140 words) so a long paste
does not count as hard by itself. The parts are general structure and task demands, not
phrases of particular prompts:
  length       log2(1 + words / 20), at most 3
  sentences    extra sentences or clauses beyond the first (. ! ? ;)
  questions    extra question marks beyond the first (several things asked at once)
  reasoning    demands for reasoning: prove, derive, show that, explain why/how, justify,
               step by step, analyse, compare, trade-off, design, optimise, counterexample, ...
  sequence     ordering of sub-tasks: first, then, next, finally, after that, ...
  constraints  must, at most/least, no more than, exactly, without, ensure, tolerate, ...
  code         code fences and code-like lines, or a request to write code
  math         operators, equations and LaTeX commands
  list_items   numbered or bulleted lines
  light_task   requests a weak model does about as well as a strong one: transforming given
               text (extract, translate, summarise, rephrase, fix the typo, classify, convert),
               short creative or social writing (a poem, story, email, slogan, greeting) and
               role-play; it weighs -1 (version 2.0.0 added it)
The size parts (length, sentences) are indirect evidence and weigh half a unit; the demand
parts weigh one. The text is normalised as the gateway scores it (whitespace collapsed), and
multiple-choice scaffolding (the options, a trailing "Answer:") is removed first: it is exam
formatting, not a demand. `train.py` maps the count to a score by
matching quantiles on the training prompts, inside the ONNX graph; this function is the only
definition, shared by training and serving.
"""

from __future__ import annotations

import math
import re

import numpy as np

from appliance.router.features import CODE, MATH, normalised, split_options

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
    "light_task",
)
COMPLEXITY_WEIGHTS: tuple[float, ...] = (0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0)

_SENTENCE_END = re.compile(r"[.!?;]+(?=\s|$)")
# The demand lists match the lower-cased text (cheaper than IGNORECASE over long alternations).
_REASONING = re.compile(
    r"\b(?:prove|proves|proof|derive|derivation|show that|explain (?:why|how)|justify"
    r"|step[- ]by[- ]step|reason(?:ing)? about|analy[sz]e|analysis of|compare|contrast"
    r"|trade-?offs?|design|architect(?:ure)?|optimi[sz]e|counter-?example|induction"
    r"|rigorous(?:ly)?|edge cases?|diagnose|debug|evaluate|critique)\b",
)
_SEQUENCE = re.compile(
    r"\b(?:first|firstly|second|secondly|then|next|finally|after that|afterwards"
    r"|subsequently|followed by|before that)\b",
)
_CONSTRAINT = re.compile(
    r"\b(?:must|must not|should not|shouldn't|at most|at least|no more than|no fewer than"
    r"|no less than|exactly|without|ensure|guarantee|tolerate|constraints?|requirements?"
    r"|limit(?:ed)? to)\b",
)
_CODE_REQUEST = re.compile(
    r"\b(?:write|implement|give|provide|generate|build|create|refactor|fix)\b[^.?!\n]{0,60}?"
    r"\b(?:code|function|program|script|class|module|query|sql|api|algorithm|tests?)\b",
)
# Numbered or bulleted items, inline (the serving path collapses line breaks); "-" is left out
# because inline it is more often a dash than a bullet.
_LIST_ITEM = re.compile(r"(?:^|(?<=\s))(?:\d{1,2}[.)]|[*•])\s+\S")
_LIGHT_TASK = re.compile(
    r"\b(?:extract|translate|summari[sz]e|summary of|rephrase|paraphrase|reword|proofread"
    r"|fix the (?:typo|spelling|grammar)|correct the (?:typo|spelling|grammar)|classify"
    r"|categori[sz]e|convert|synonyms?|antonyms?|(?:a|an|short|brief) (?:poem|haiku|limerick"
    r"|story|song|email|letter|tweet|slogan|caption|toast|greeting|thank-you note)"
    r"|pretend (?:to be|you are)|act as|role-?play|imagine you are|hi|hello|hey|thanks"
    r"|thank you|good (?:morning|afternoon|evening))\b",
)


def _units(count: int) -> float:
    return math.log2(1 + count)


def complexity_parts(text: str) -> list[float]:
    """The parts of the complexity count of one prompt, in `COMPLEXITY_PARTS` order
    (unweighted)."""
    text, _ = split_options(normalised(text))
    lower = text.lower()
    words = len(text.split())
    sentences = len([s for s in _SENTENCE_END.split(text) if s.strip()])
    return [
        min(math.log2(1 + words / 20.0), 3.0),
        _units(max(sentences - 1, 0)),
        _units(max(text.count("?") - 1, 0)),
        _units(len(_REASONING.findall(lower))),
        _units(len(_SEQUENCE.findall(lower))),
        _units(len(_CONSTRAINT.findall(lower))),
        _units(len(CODE.findall(text)) + len(_CODE_REQUEST.findall(lower))),
        _units(len(MATH.findall(text))),
        _units(len(_LIST_ITEM.findall(text))),
        _units(len(_LIGHT_TASK.findall(lower))),
    ]


def complexity_count(texts: list[str]) -> np.ndarray:
    """Complexity count (weighted sum of the parts) of a batch, shape (len(texts), 1), float32."""
    out = np.zeros((len(texts), 1), dtype=np.float32)
    for row, text in enumerate(texts):
        parts = complexity_parts(text)
        out[row, 0] = sum(w * x for w, x in zip(COMPLEXITY_WEIGHTS, parts, strict=True))
    return out
