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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Closed-class English words and politeness filler: a difference made only of these leaves
# the question's content as it was ("how do I ..." vs "how can I ...", "hi, ... thanks").
# Prepositions that change the answer by themselves (before/after, with/without) are not
# here: they are polarity words (ANTONYMS, NEGATORS).
FUNCTION_WORDS = _words(
    "a an the this that these those it its it's i me my mine we us our you your yours he him "
    "his she her they them their there here is are was were be been being am do does did doing "
    "done have has had having can could would will shall should may might must ought to of in "
    "on at by for from into onto about as than then so such and or but if also too very really "
    "just quite any some one ones way ways thing things kind kinds type sort please thanks thank "
    "hi hello hey dear sir madam ok okay well quick question questions help need want wondering "
    "wonder curious know tell explain describe give show let lets exactly actually basically "
    "simply briefly generally usually typically guys folks everyone anyone somebody someone "
    "possible possibly kindly idea ideas advice tips steps step procedure process method "
    "methods approach best good proper correct right correctly properly in order get got "
    "go going make making yes sure sorry excuse pardon cheers regards greetings appreciate "
    "appreciated advance much many lot lots anybody somebody everybody guess think pls plz thx "
    "ty u ur"
)
# What a question asks for; a change of question word usually changes the answer
# ("why is X" vs "when is X"), but "how do I" and "what's the way to" ask the same.
QUESTION_WORDS = _words("what which who whom whose when where why how whether")
