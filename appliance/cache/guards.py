"""Lexical guards that veto a semantically close candidate whose answer would be wrong.

It owns the checks run on the best candidate(s) before a semantic hit is served. It must not
look at similarities or the store: it compares two texts and names the first guard that
blocks, or returns None.

Sentence embeddings put "turn on the lights" and "turn off the lights" at cosine ~0.87 and
"order 48213" next to "order 48231" at ~0.97: the model encodes topic, not the details that
decide the answer. Each guard is a general rule, not a list fitted to the dev pairs:
- numbers: the multiset of numbers, dates and ID-like codes must match (spelled-out numbers
  two..ninety and month/weekday names count);
- negation: both texts negate, or neither; no antonym from a curated polarity lexicon
  (on/off, include/exclude, before/after, ...) or affix pair (safe/unsafe, encrypt/decrypt,
  useful/useless) may appear on one side opposite its partner on the other;
- entities: a name or code (capitalised mid-sentence, acronym, mixed case) present only on
  one side while the other side has its own unmatched name is a substitution (France/Germany).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from appliance.cache import lexicon

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.\-&+#][A-Za-z0-9]+)*[+#]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")


class GuardConfig(Protocol):
    guard_numbers: bool
    guard_negation: bool
    guard_entities: bool


def _inflections(word: str) -> set[str]:
    forms = {word, word + "s", word + "es", word + "d", word + "ed", word + "ing", word + "er"}
    if word.endswith("e"):
        forms.add(word[:-1] + "ing")
    if word.endswith("y"):
        forms.update({word[:-1] + "ies", word[:-1] + "ied"})
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou":
        forms.update({word + word[-1] + "ing", word + word[-1] + "ed"})
    return forms


def _build_polarity() -> dict[str, set[tuple[int, int]]]:
    """word form -> {(pair index, side)}; built per call site lazily, never at import."""
    table: dict[str, set[tuple[int, int]]] = {}
    for index, pair in enumerate(lexicon.ANTONYMS):
        for side, word in enumerate(pair):
            forms = {word} if len(word) <= 3 else _inflections(word)
            for form in forms:
                table.setdefault(form, set()).add((index, side))
    return table


_polarity: dict[str, set[tuple[int, int]]] | None = None


def _words(text: str) -> list[str]:
    return _WORD.findall(text.replace("’", "'"))


def _lower_tokens(text: str) -> list[str]:
    return [w.lower().replace("'", "") for w in _words(text)]


def numbers(text: str) -> list[str]:
    """Sorted numbers, spelled-out numbers, calendar words and digit-bearing codes in `text`."""
    found: list[str] = []
    for raw in _NUMBER.findall(text):
        # "48,213" is one number; "1,2,3" is three; "3.10" stays distinct from "3.1" (versions).
        parts = [raw.replace(",", "")] if _THOUSANDS.match(raw) else raw.split(",")
        for part in parts:
            found.append(part if "." in part else part.lstrip("0") or "0")
    for word in _words(text):
        token = word.lower().replace("'", "")
        if token in lexicon.SPELLED:
            found.append(lexicon.SPELLED[token])
        elif token in lexicon.DAYS or (
            token in lexicon.MONTHS and word[:1].isupper() and not word.isupper()
        ):
            found.append(token[:3])
    for word in _words(text):
        # Letter codes fused with digits ("A113", "B12-X") keep their letters too.
        if any(c.isdigit() for c in word) and any(c.isalpha() for c in word):
            letters = re.sub(r"(st|nd|rd|th)$", "", word.lower().replace("-", ""))
            letters = "".join(c for c in letters if c.isalpha())
            if letters:
                found.append("#" + letters)
    return sorted(found)


def _negated(tokens: list[str]) -> bool:
    """Any negator, ignoring the "... or not" tag, which asks both ways rather than negating."""
    return any(
        t in lexicon.NEGATORS and not (t in ("not", "no") and i > 0 and tokens[i - 1] == "or")
        for i, t in enumerate(tokens)
    )


def polarity_conflict(query: str, candidate: str) -> bool:
    global _polarity
    if _polarity is None:
        _polarity = _build_polarity()
    q_tokens, c_tokens = _lower_tokens(query), _lower_tokens(candidate)
    if _negated(q_tokens) != _negated(c_tokens):
        return True
    q_set, c_set = set(q_tokens), set(c_tokens)
    q_sides: dict[int, set[int]] = {}
    c_sides: dict[int, set[int]] = {}
    for tokens, sides in ((q_set, q_sides), (c_set, c_sides)):
        for token in tokens:
            for index, side in _polarity.get(token, ()):
                sides.setdefault(index, set()).add(side)
    for index in q_sides.keys() & c_sides.keys():
        if q_sides[index] != c_sides[index]:
            return True
    return _affix_conflict(q_set - c_set, c_set - q_set)


def _affix_conflict(only_q: set[str], only_c: set[str]) -> bool:
    for a, b in ((only_q, only_c), (only_c, only_q)):
        for word in a:
            if len(word) < 4:
                continue
            for prefix in lexicon.NEG_PREFIXES:
                if prefix + word in b:
                    return True
            for p1, p2 in lexicon.PREFIX_SWAPS:
                if word.startswith(p1) and len(word) - len(p1) >= 3 and p2 + word[len(p1) :] in b:
                    return True
            for s1, s2 in lexicon.SUFFIX_SWAPS:
                if word.endswith(s1) and word[: -len(s1)] + s2 in b:
                    return True
    return False


def entities(text: str) -> set[str]:
    """Lower-cased name-like tokens: capitalised mid-sentence, acronyms, mixed case."""
    found: set[str] = set()
    text = text.replace("’", "'")
    previous_end = 0
    for match in _WORD.finditer(text):
        gap = text[previous_end : match.start()]
        sentence_start = previous_end == 0 or any(c in gap for c in '.?!:\n"(')
        previous_end = match.end()
        core = match.group(0).split("'")[0]
        upper_inside = any(c.isupper() for c in core[1:])
        capitalised = core[:1].isupper()
        if core not in ("I", "A") and (upper_inside or (capitalised and not sentence_start)):
            found.add(core.lower())
    return found


def entity_conflict(query: str, candidate: str) -> bool:
    """A name on each side that the other side lacks: a substitution, not an elaboration.
    Matching is case-insensitive and also against the text with spaces removed, so
    "PlayStation" matches "play station"."""
    q_words, c_words = set(_lower_tokens(query)), set(_lower_tokens(candidate))
    q_flat, c_flat = _flat(query), _flat(candidate)
    only_q = {e for e in entities(query) if not _mentioned(e, c_words, c_flat)}
    only_c = {e for e in entities(candidate) if not _mentioned(e, q_words, q_flat)}
    return bool(only_q and only_c)


def _mentioned(entity: str, words: set[str], flat: str) -> bool:
    """Present on the other side, allowing one typo in longer names ("Hilary"/"Hillary")."""
    if entity in words or _flat(entity) in flat:
        return True
    return len(entity) >= 5 and any(
        abs(len(w) - len(entity)) <= 1 and _one_edit(entity, w) for w in words
    )


def _one_edit(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i + 1 :] == b[i + 1 :] if len(a) == len(b) else a[i:] == b[i + 1 :]


def _flat(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def check(query_text: str, candidate_text: str, config: GuardConfig) -> str | None:
    """The name of the first guard that blocks serving `candidate_text` for `query_text`."""
    if query_text == candidate_text:
        return None
    return _check(
        query_text,
        candidate_text,
        config.guard_numbers,
        config.guard_negation,
        config.guard_entities,
    )


# A popular question asked again in the same words meets the same candidates: its verdicts
# are remembered (a pure function of the two texts and the guards on), which is a third of
# a repeated semantic hit's CPU. Bounded: only texts inside the encoder's window get here.
@lru_cache(maxsize=4096)
def _check(
    query_text: str, candidate_text: str, on_numbers: bool, on_negation: bool, on_entities: bool
) -> str | None:
    if on_numbers and numbers(query_text) != numbers(candidate_text):
        return "numbers"
    if on_negation and polarity_conflict(query_text, candidate_text):
        return "negation"
    if on_entities and entity_conflict(query_text, candidate_text):
        return "entities"
    return None
