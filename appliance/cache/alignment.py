"""Token alignment of a stored and an asked question: what differs, and of what kind.

It owns turning two texts into a fixed feature vector for the verifier: the words of each
side are matched (same stem, a one-letter typo, two words written as one), and what is left
unmatched is sorted into kinds whose difference changes an answer (numbers and dates,
negation and polarity words, names, other content words) or does not (function words,
politeness, punctuation, case). It must not decide a hit: `verifier.py` weighs the features.

Why: a sentence embedding scores "ibuprofen for children" against "... for adults" at cosine
> 0.9; what tells them apart is that a content word on each side has no partner. Counting
what is left after alignment generalises across kinds of traps, where a list of trap kinds
does not.
"""

from __future__ import annotations

import re
import unicodedata

from appliance.cache import guards, lexicon

FEATURES = (
    "cosine",
    "meaningful_unmatched",
    "meaningful_max_side",
    "any_meaningful",
    "many_meaningful",
    "meaningful_matched_share",
    "numbers_differ",
    "polarity_conflict",
    "entity_conflict",
    "question_word_changed",
    "typos",
    "joined",
    "short",
    "only_form_differs",
)
# Kinds of unmatched word whose difference can change the answer. One shared count over all
# of them, rather than one count per kind, is deliberate: what is learned from names, numbers
# and negations then carries over to a kind of trap the training data never showed (a
# qualifier added, a unit, an audience), which is what leave-one-category-out measures.
# Function words left over are no feature: rewording adds them, but so does a qualifier
# ("for kids"), and a reward for them taught the model to accept added qualifiers.
_MEANINGFUL = ("content", "number", "polarity", "name")

_DIGIT = re.compile(r"\d")
_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_EXPAND = [
    # Specific forms first ("can't" -> "can not", not "ca not"); negations typed without the
    # apostrophe ("cant", "dont") are still negations.
    (re.compile(r"\bcan['’]?t\b|\bcannot\b", re.IGNORECASE), "can not"),
    (re.compile(r"\bwon['’]?t\b", re.IGNORECASE), "will not"),
    (
        re.compile(
            r"\b(do|does|did|is|are|was|were|could|would|should|has|have|had)nt\b", re.IGNORECASE
        ),
        r"\1 not",
    ),
    (re.compile(r"n['’]t\b", re.IGNORECASE), " not"),
    (re.compile(r"['’](re|ll|ve|m|d|s)\b", re.IGNORECASE), ""),
]
_POLAR: frozenset[str] = frozenset(w for pair in lexicon.ANTONYMS for w in pair)


def _polar_words() -> frozenset[str]:
    return _POLAR | lexicon.NEGATORS | {"with", "without", "before", "after", "not"}


_POLARITY = _polar_words()


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    return word


def _tokens(text: str) -> list[tuple[str, str, bool]]:
    """(original, lower-case stem, opens a sentence) per word, contractions expanded
    ("don't" -> do not)."""
    text = unicodedata.normalize("NFKC", text)
    for pattern, repl in _EXPAND:
        text = pattern.sub(repl, text)
    out = []
    end = 0
    for match in _TOKEN.finditer(text):
        opens = end == 0 or any(c in text[end : match.start()] for c in '.?!:;\n"(')
        out.append((match.group(0), _stem(match.group(0).lower()), opens))
        end = match.end()
    return out


def _one_typo(a: str, b: str) -> bool:
    """Within one edit (two for long words), letters only, same first letter (a typo
    rarely hits it, while "ethanol"/"methanol" differ exactly there), not a negating affix."""
    if a.isdigit() or b.isdigit() or min(len(a), len(b)) < 4 or a[0] != b[0]:
        return False
    if any(p + a == b or p + b == a for p in lexicon.NEG_PREFIXES):
        return False
    if {a, b} <= _POLARITY:
        return False
    limit = 2 if min(len(a), len(b)) >= 8 else 1
    if abs(len(a) - len(b)) > limit:
        return False
    # Edit distance with adjacent transpositions counted once ("teh"/"the" is one typo).
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i]
        for j in range(1, len(b) + 1):
            cost = min(
                rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            )
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cost = min(cost, rows[i - 2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1] <= limit


def _kind(original: str, stem: str, opens: bool) -> str:
    if _DIGIT.search(stem) or stem in lexicon.SPELLED or stem in lexicon.DAYS:
        return "number"
    if stem in lexicon.MONTHS and original[:1].isupper():
        return "number"
    if stem in _POLARITY or original.lower() in _POLARITY:
        return "polarity"
    if not opens and original[:1].isupper() and original not in ("I", "A"):
        return "name"
    if original[1:] != original[1:].lower():
        return "name"
    if stem in lexicon.QUESTION_WORDS:
        return "question"
    if original.lower() in lexicon.FUNCTION_WORDS or stem in lexicon.FUNCTION_WORDS:
        return "function"
    return "content"


def features(stored: str, asked: str, cosine: float) -> list[float]:
    """The FEATURES of one pair, in order."""
    a, b = _tokens(stored), _tokens(asked)
    left = {i: t[1] for i, t in enumerate(a)}
    right = {j: t[1] for j, t in enumerate(b)}
    for i, s in list(left.items()):  # same stem
        j = next((j for j, t in right.items() if t == s), None)
        if j is not None:
            del left[i], right[j]
    typos = 0
    for i in list(left):  # one-letter typos, judged on the words as typed (a stem of a
        word = a[i][0].lower()  # misspelt word can lose or keep a suffix its partner did not)
        j = next((j for j in right if _one_typo(word, b[j][0].lower())), None)
        if j is not None:
            del left[i], right[j]
            typos += 1
    joined = _join(left, right) + _join(right, left)
    all_a, all_b = [_kind(*t) for t in a], [_kind(*t) for t in b]
    mean_a = sum(all_a[i] in _MEANINGFUL for i in left)
    mean_b = sum(all_b[j] in _MEANINGFUL for j in right)
    total = sum(k in _MEANINGFUL for k in all_a + all_b)
    qa = {s for s in left.values() if s in lexicon.QUESTION_WORDS}
    qb = {s for s in right.values() if s in lexicon.QUESTION_WORDS}
    # "how do I" and "what is the way to" ask the same; "how did it begin" and "when did it
    # begin" do not: any other change of question word is a meaningful difference.
    if qa and qb and not (qa | qb) <= {"how", "what"}:
        mean_a, mean_b = mean_a + len(qa), mean_b + len(qb)
    numbers_differ = guards.numbers(stored) != guards.numbers(asked)
    polarity = guards.polarity_conflict(asked, stored)
    entity = guards.entity_conflict(asked, stored)
    # Nothing but case, punctuation, function words, typos and spacing differs.
    form_only = not (mean_a or mean_b or numbers_differ or polarity or entity)
    return [
        cosine,
        float(mean_a + mean_b),
        float(max(mean_a, mean_b)),
        float(mean_a + mean_b > 0),
        float(mean_a + mean_b >= 3),
        1.0 - (mean_a + mean_b) / max(1, total),
        float(numbers_differ),
        float(polarity),
        float(entity),
        float(bool(qa) and bool(qb)),
        float(typos),
        float(joined),
        float(min(len(a), len(b)) <= 4),
        float(form_only),
    ]


def _join(one: dict[int, str], other: dict[int, str]) -> int:
    """Two adjacent words on one side written as one on the other ("power bank"/"powerbank");
    matched words are removed from both. Returns how many were joined."""
    count = 0
    for i in sorted(one):
        if i in one and i + 1 in one:
            glued = one[i] + one[i + 1]
            j = next((j for j, t in other.items() if t in (glued, _stem(glued))), None)
            if j is not None:
                del one[i], one[i + 1], other[j]
                count += 1
    return count
