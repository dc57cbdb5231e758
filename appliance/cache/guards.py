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
from typing import Protocol

_WORD = re.compile(r"[A-Za-z0-9]+(?:['’.\-&+#][A-Za-z0-9]+)*[+#]*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+$")

_SPELLED = {
    w: str(i)
    for i, w in enumerate(
        [
            "zero",
            "_",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    if w != "_"
}
_SPELLED.update(
    {
        w: str(10 * i)
        for i, w in enumerate(
            ["_", "_", "_", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
        )
        if w != "_"
    }
)
_SPELLED.update(
    {
        "hundred": "100",
        "thousand": "1000",
        "million": "1e6",
        "billion": "1e9",
        "second": "2",
        "third": "3",
        "fourth": "4",
        "fifth": "5",
        "half": "0.5",
        "twice": "2",
        "double": "2",
        "triple": "3",
        "dozen": "12",
    }
)
# Month names count only when capitalised ("March" the month, "march" the verb; "DEC" the
# company is all caps); weekdays and relative days count in any case.
_MONTHS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_DAYS = frozenset(
    [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "today",
        "tomorrow",
        "yesterday",
    ]
)

_NEGATORS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "nothing",
        "nobody",
        "nowhere",
        "neither",
        "nor",
        "without",
        "cannot",
        "unable",
        "dont",
        "doesnt",
        "didnt",
        "isnt",
        "arent",
        "wasnt",
        "werent",
        "cant",
        "couldnt",
        "wont",
        "wouldnt",
        "shouldnt",
        "hasnt",
        "havent",
        "hadnt",
        "mustnt",
        "neednt",
        "aint",
    ]
)

# Polarity pairs: words whose swap flips the answer. General English, not fitted to any set.
_ANTONYMS = [
    ("on", "off"),
    ("enable", "disable"),
    ("include", "exclude"),
    ("allow", "deny"),
    ("allow", "block"),
    ("accept", "reject"),
    ("increase", "decrease"),
    ("add", "remove"),
    ("buy", "sell"),
    ("open", "close"),
    ("start", "stop"),
    ("before", "after"),
    ("above", "below"),
    ("more", "less"),
    ("most", "least"),
    ("max", "min"),
    ("maximum", "minimum"),
    ("high", "low"),
    ("higher", "lower"),
    ("highest", "lowest"),
    ("best", "worst"),
    ("better", "worse"),
    ("good", "bad"),
    ("big", "small"),
    ("bigger", "smaller"),
    ("biggest", "smallest"),
    ("large", "small"),
    ("largest", "smallest"),
    ("long", "short"),
    ("longer", "shorter"),
    ("fast", "slow"),
    ("faster", "slower"),
    ("hot", "cold"),
    ("true", "false"),
    ("yes", "no"),
    ("positive", "negative"),
    ("pro", "con"),
    ("pros", "cons"),
    ("win", "lose"),
    ("gain", "lose"),
    ("gain", "loss"),
    ("import", "export"),
    ("upload", "download"),
    ("input", "output"),
    ("push", "pull"),
    ("send", "receive"),
    ("ascending", "descending"),
    ("asc", "desc"),
    ("rich", "poor"),
    ("cheap", "expensive"),
    ("easy", "hard"),
    ("easy", "difficult"),
    ("strong", "weak"),
    ("early", "late"),
    ("first", "last"),
    ("new", "old"),
    ("young", "old"),
    ("male", "female"),
    ("man", "woman"),
    ("men", "women"),
    ("boy", "girl"),
    ("husband", "wife"),
    ("father", "mother"),
    ("son", "daughter"),
    ("brother", "sister"),
    ("north", "south"),
    ("east", "west"),
    ("left", "right"),
    ("up", "down"),
    ("inside", "outside"),
    ("love", "hate"),
    ("always", "never"),
    ("past", "future"),
    ("plus", "minus"),
    ("odd", "even"),
    ("rise", "fall"),
    ("borrow", "lend"),
    ("light", "dark"),
    ("light", "heavy"),
    ("black", "white"),
    ("success", "failure"),
    ("succeed", "fail"),
    ("pass", "fail"),
    ("safe", "dangerous"),
    ("legal", "banned"),
    ("private", "public"),
    ("online", "offline"),
    ("front", "back"),
    ("top", "bottom"),
    ("wet", "dry"),
    ("full", "empty"),
    ("arrive", "depart"),
    ("attack", "defend"),
    ("lock", "unlock"),
    ("mount", "unmount"),
]
# Prefix swaps that flip meaning across many words (encrypt/decrypt, import/export, ...).
_PREFIX_SWAPS = [
    ("en", "de"),
    ("in", "ex"),
    ("im", "ex"),
    ("in", "de"),
    ("pre", "post"),
    ("over", "under"),
    ("up", "down"),
    ("inter", "intra"),
    ("over", "under"),
]
# Prefixes that negate the stem they are glued to (safe/unsafe, legal/illegal, like/dislike).
_NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "non-", "anti", "anti-", "a")
_SUFFIX_SWAPS = [("ful", "less")]


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
    for index, pair in enumerate(_ANTONYMS):
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
        if token in _SPELLED:
            found.append(_SPELLED[token])
        elif token in _DAYS or (token in _MONTHS and word[:1].isupper() and not word.isupper()):
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
        t in _NEGATORS and not (t in ("not", "no") and i > 0 and tokens[i - 1] == "or")
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
            for prefix in _NEG_PREFIXES:
                if prefix + word in b:
                    return True
            for p1, p2 in _PREFIX_SWAPS:
                if word.startswith(p1) and len(word) - len(p1) >= 3 and p2 + word[len(p1) :] in b:
                    return True
            for s1, s2 in _SUFFIX_SWAPS:
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
    if config.guard_numbers and numbers(query_text) != numbers(candidate_text):
        return "numbers"
    if config.guard_negation and polarity_conflict(query_text, candidate_text):
        return "negation"
    if config.guard_entities and entity_conflict(query_text, candidate_text):
        return "entities"
    return None
