"""Word lists the lexical guards read: numbers spelled out, calendar words, negators and
polarity pairs.

It owns only data: general English, not fitted to any evaluation set. It must not hold
logic; `guards.py` decides what the lists mean.
"""

from __future__ import annotations

SPELLED = {
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
SPELLED.update(
    {
        w: str(10 * i)
        for i, w in enumerate(
            ["_", "_", "_", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
        )
        if w != "_"
    }
)
SPELLED.update(
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
MONTHS = frozenset(
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
DAYS = frozenset(
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

NEGATORS = frozenset(
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
ANTONYMS = [
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
PREFIX_SWAPS = [
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
NEG_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "non-", "anti", "anti-", "a")
SUFFIX_SWAPS = [("ful", "less")]
