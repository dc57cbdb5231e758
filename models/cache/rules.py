"""Rule generators of trap pairs for training and validating the cache verifier.

It owns turning one real question into a (stored, asked) pair of a known category: the
different-answer kinds (`entity`, `negation`, `number_date`, `scope`) and the same-answer kinds
(`near_repeat`, `paraphrase`). Each generator is general English, written without looking at
any evaluation pair; each returns None when the rule does not apply to the sentence.

Families map onto the four trap categories, so leaving a category out of training leaves out
every family that belongs to it:
- entity: swap a name or a member of a closed class (language, country, product, food, drug,
  animal, ...) for a sibling from the same class; swap a capitalised name for another one;
- negation: insert or remove a negation on the auxiliary, with/without, an antonym or a
  comparative-direction swap (more/less, best/worst, cheapest/most expensive);
- number_date: change a number, a year, a month, a weekday, a spelled-out number, a unit;
- scope: add, remove or replace a qualifier (audience, time frame, place, platform, a modifier
  before a noun) that narrows or widens what is asked.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

Generator = Callable[[str, random.Random], str | None]

DIFFERENT = ("entity", "negation", "number_date", "scope")
SAME = ("near_repeat", "paraphrase")

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+(?:[.,]\d+)*|\S")

# The word lists (closed classes, polarity pairs, qualifiers, templates) live in
# rule_words.json: general English, written without looking at any evaluation pair.
_WORDS = json.loads((Path(__file__).with_name("rule_words.json")).read_text(encoding="utf-8"))


def _pairs(joined: str) -> list[tuple[str, str]]:
    return [(a, b) for a, _, b in (p.partition("=") for p in joined.split("|"))]


CLASSES: dict[str, list[str]] = {k: v.split() for k, v in _WORDS["classes"].items()}
# Polarity pairs: swapping one for its partner flips the answer.
ANTONYMS = _pairs(_WORDS["antonyms"])
COMPARATIVES = _pairs(_WORDS["comparatives"])
_AUX_NEG = dict(_pairs(_WORDS["aux_negations"]))
_MONTHS = _WORDS["months"]
_DAYS = _WORDS["days"]
_SPELLED = _WORDS["spelled"].split()
UNITS = _pairs(_WORDS["units"])
# Qualifiers that narrow a question to a different population, time, place or platform.
QUALIFIERS: dict[str, list[str]] = {k: v.split("|") for k, v in _WORDS["qualifiers"].items()}
MODIFIERS = _WORDS["modifiers"].split()
_FILLERS_FRONT = _WORDS["fillers_front"].split("|")
_FILLERS_BACK = _WORDS["fillers_back"].split("|")
_CONTRACTIONS = _pairs(_WORDS["contractions"])
# Question templates that ask the same thing: "how do I X" in several words.
_HOW = _WORDS["how_templates"].split("|")
_WHAT = _WORDS["what_templates"].split("|")
SYNONYMS = _pairs(_WORDS["synonyms"])


def tokens(text: str) -> list[str]:
    return _WORD.findall(text)


def _member_index() -> dict[str, tuple[str, str]]:
    index: dict[str, tuple[str, str]] = {}
    for name, members in CLASSES.items():
        for member in members:
            index.setdefault(member.lower(), (name, member))
    return index


_MEMBERS = _member_index()


def _replace_word(text: str, old: str, new: str) -> str | None:
    pattern = re.compile(rf"(?<![\w.+#-]){re.escape(old)}(?![\w+#])", re.IGNORECASE)
    match = pattern.search(text)
    if match is None:
        return None
    found = match.group(0)
    if found[:1].isupper() and new[:1].islower() and match.start() == 0:
        new = new[:1].upper() + new[1:]
    return text[: match.start()] + new + text[match.end() :]


def _swap_pair(text: str, pairs: list[tuple[str, str]], rng: random.Random) -> str | None:
    options = []
    for a, b in pairs:
        for old, new in ((a, b), (b, a)):
            if re.search(rf"(?<![\w-]){re.escape(old)}(?![\w-])", text, re.IGNORECASE):
                options.append((old, new))
    if not options:
        return None
    old, new = rng.choice(options)
    return _replace_word(text, old, new)


# ----- different answer -------------------------------------------------------------------


def entity(text: str, rng: random.Random) -> str | None:
    """Swap a class member for a sibling, or a capitalised name for another name."""
    words = tokens(text)
    found = [
        (w, _MEMBERS[w.lower()])
        for i, w in enumerate(words)
        if w.lower() in _MEMBERS and _same_case(w, _MEMBERS[w.lower()][1], i)
    ]
    if found:
        word, (cls, _) = rng.choice(found)
        sibling = rng.choice([m for m in CLASSES[cls] if m.lower() != word.lower()])
        if word.islower() and cls not in ("prog_language", "tech", "planet"):
            sibling = sibling.lower()
        return _replace_word(text, word, sibling)
    names = [w for i, w in enumerate(words) if i > 0 and w[:1].isupper() and len(w) > 2]
    if names:
        cls = rng.choice(["city", "country", "company", "first_name", "tech"])
        return _replace_word(text, rng.choice(names), rng.choice(CLASSES[cls]))
    return None


def _same_case(word: str, member: str, position: int) -> bool:
    """A capitalised class member counts only when capitalised in the text and not first
    ("Mark" the name, not "mark" the verb nor "Go" opening a sentence); a lower-case one
    ("rice") counts in any case."""
    return member[:1].islower() or (word[:1].isupper() and position > 0)


def negation(text: str, rng: random.Random) -> str | None:
    """Negate or un-negate the question, or flip a polarity or comparative word."""
    choices: list[Callable[[], str | None]] = [
        lambda: _swap_pair(text, ANTONYMS, rng),
        lambda: _swap_pair(text, COMPARATIVES, rng),
        lambda: _swap_pair(
            text, [("with", "without"), ("always", "never"), ("can", "cannot")], rng
        ),
        lambda: _negate_aux(text, rng),
        lambda: _negate_verb(text, rng),
    ]
    rng.shuffle(choices)
    for choice in choices:
        out = choice()
        if out is not None and out != text:
            return out
    return None


def _negate_aux(text: str, rng: random.Random) -> str | None:
    """`does X work` -> `doesn't X work`, `isn't` -> `is`, `should I` -> `should I not`."""
    words = tokens(text)
    negs = {v: k for k, v in _AUX_NEG.items()}
    for w in words:
        if w.lower() in negs:
            return _replace_word(text, w, negs[w.lower()])
        if w.lower() == "not":
            return re.sub(r"\s+not\b", "", text, count=1)
    auxes = [w for w in words if w.lower() in _AUX_NEG]
    if not auxes:
        return None
    aux = rng.choice(auxes)
    return _replace_word(text, aux, _AUX_NEG[aux.lower()])


def _negate_verb(text: str, rng: random.Random) -> str | None:
    """`How do I X` -> `How do I avoid X-ing`-like: insert `not` / `never` after `I`/`you`."""
    match = re.search(r"\b(I|you|we|they|he|she|it)\s+(should|can|do|must|could)\b", text)
    if match is None:
        return None
    word = rng.choice(["not", "never"])
    return text[: match.end()] + f" {word}" + text[match.end() :]


def number_date(text: str, rng: random.Random) -> str | None:
    """Change a number, year, month, weekday, spelled-out number or unit."""
    numbers = list(re.finditer(r"\d+(?:[.,]\d+)*", text))
    if numbers and rng.random() < 0.8:
        match = rng.choice(numbers)
        return text[: match.start()] + _other_number(match.group(0), rng) + text[match.end() :]
    for group in (_MONTHS.split(), _DAYS.split(), _SPELLED):
        present = [w for w in group if re.search(rf"\b{w}\b", text, re.IGNORECASE)]
        if present:
            old = rng.choice(present)
            new = rng.choice([w for w in group if w != old])
            return _replace_word(text, old, new if old[:1].isupper() else new.lower())
    swapped = _swap_pair(text, UNITS, rng)
    if swapped is not None:
        return swapped
    if numbers:
        match = rng.choice(numbers)
        return text[: match.start()] + _other_number(match.group(0), rng) + text[match.end() :]
    return None


def _other_number(raw: str, rng: random.Random) -> str:
    digits = raw.replace(",", "")
    if "." in digits:
        if digits.count(".") > 1:  # a version such as 4.4.4: bump its last part
            head, _, last = digits.rpartition(".")
            return f"{head}.{int(last) + rng.choice([1, 2])}"
        value = float(digits)
        return f"{value * rng.choice([0.5, 2, 1.5, 3]):g}"
    value = int(digits)
    if 1900 <= value <= 2030:
        return str(value + rng.choice([-10, -5, -3, -2, -1, 1, 2, 3, 5]))
    if len(digits) >= 4 and rng.random() < 0.5:  # a transposed or retyped code
        chars = list(digits)
        i = rng.randrange(len(chars) - 1)
        if chars[i] != chars[i + 1]:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            return "".join(chars)
    new = value
    while new == value:
        new = rng.choice(
            [value + 1, value - 1, value * 2, value * 10, value + 5, max(0, value // 2), value + 3]
        )
    return str(max(new, 0)) if new != value else str(value + 1)


def scope(text: str, rng: random.Random) -> str | None:
    """Narrow, widen or move the question: add, drop or replace a qualifier or a modifier."""
    body = text.rstrip(" ?.!")
    tail = text[len(body) :] or "?"
    present = [
        (group, q)
        for group, quals in QUALIFIERS.items()
        for q in quals
        if re.search(rf"\b{re.escape(q)}\b", body, re.IGNORECASE)
    ]
    roll = rng.random()
    if present and roll < 0.5:
        group, q = rng.choice(present)
        if rng.random() < 0.5:  # widen: drop the qualifier
            return re.sub(rf"\s*\b{re.escape(q)}\b", "", body, count=1, flags=re.IGNORECASE) + tail
        other = rng.choice([x for x in QUALIFIERS[group] if x != q])
        return _replace_word(text, q, other)
    if roll < 0.8 or len(body.split()) < 4:
        group = rng.choice(list(QUALIFIERS))
        return f"{body} {rng.choice(QUALIFIERS[group])}{tail}"
    return _insert_modifier(text, rng)


def _insert_modifier(text: str, rng: random.Random) -> str | None:
    """`the best restaurants` -> `the best cheap restaurants`: a modifier before a noun."""
    words = list(
        re.finditer(r"\b(a|an|the|my|your|our|of|for|best|good|some)\s+([a-z]{4,})\b", text)
    )
    if not words:
        return None
    match = rng.choice(words)
    modifier = rng.choice(MODIFIERS)
    det = match.group(1)
    if det in ("a", "an"):
        det = "an" if modifier[0] in "aeiou" else "a"
    return text[: match.start()] + f"{det} {modifier} {match.group(2)}" + text[match.end() :]


# ----- same answer ------------------------------------------------------------------------


def near_repeat(text: str, rng: random.Random) -> str | None:
    """The same question retyped: case, punctuation, filler, a typo, a contraction."""
    out = text
    edits = rng.sample(
        [_case, _punct, _filler, _typo, _contract, _article, _space], k=rng.choice([1, 1, 2, 2, 3])
    )
    for edit in edits:
        changed = edit(out, rng)
        if changed is not None:
            out = changed
    return out if out != text else None


def _case(text: str, rng: random.Random) -> str:
    return rng.choice(
        [text.lower(), text.upper() if len(text) < 40 else text.lower(), text.capitalize()]
    )


def _punct(text: str, rng: random.Random) -> str:
    body = text.rstrip(" ?.!")
    return body + rng.choice(["", "??", "?!", ".", " ?", "..."])


def _filler(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        front = rng.choice(_FILLERS_FRONT)
        return front + (text[:1].lower() + text[1:] if not text[:2].isupper() else text)
    return text + rng.choice(_FILLERS_BACK)


def _typo(text: str, rng: random.Random) -> str | None:
    words = [m for m in re.finditer(r"\b[a-z]{5,}\b", text)]
    if not words:
        return None
    match = rng.choice(words)
    w = list(match.group(0))
    i = rng.randrange(1, len(w) - 1)
    kind = rng.random()
    if kind < 0.33:
        w[i], w[i + 1] = w[i + 1], w[i]
    elif kind < 0.66:
        del w[i]
    else:
        w.insert(i, w[i])
    return text[: match.start()] + "".join(w) + text[match.end() :]


def _contract(text: str, rng: random.Random) -> str | None:
    options = []
    for long, short in _CONTRACTIONS:
        if re.search(rf"\b{re.escape(long)}\b", text, re.IGNORECASE):
            options.append((long, short))
        if re.search(rf"\b{re.escape(short)}\b", text, re.IGNORECASE):
            options.append((short, long))
    if not options:
        return None
    old, new = rng.choice(options)
    return _replace_word(text, old, new)


def _article(text: str, rng: random.Random) -> str | None:
    match = re.search(r"\b(the|a|an|my)\s+", text)
    return None if match is None else text[: match.start()] + text[match.end() :]


def _space(text: str, rng: random.Random) -> str:
    return "  ".join(text.split(" ", 1)) if rng.random() < 0.5 else text + " "


def paraphrase(text: str, rng: random.Random) -> str | None:
    """A template or synonym rewording that asks the same thing."""
    how = re.match(
        r"^(how do i|how can i|how to|how should i|what is the best way to|what's the best way to|"
        r"how would i|is there a way to|what are the steps to)\s+(.+?)[?.!]*$",
        text.strip(),
        re.IGNORECASE,
    )
    if how is not None:
        template = rng.choice(_HOW)
        return template.format(x=how.group(2))
    what = re.match(r"^(what is|what's|what are)\s+(.+?)[?.!]*$", text.strip(), re.IGNORECASE)
    if what is not None and what.group(1).lower() != "what are":
        return rng.choice(_WHAT).format(x=what.group(2))
    return _swap_pair(text, SYNONYMS, rng)


GENERATORS: dict[str, Generator] = {
    "entity": entity,
    "negation": negation,
    "number_date": number_date,
    "scope": scope,
    "near_repeat": near_repeat,
    "paraphrase": paraphrase,
}
