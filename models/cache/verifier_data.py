"""Training, validation and test pairs for the cache verifier, split so nothing leaks.

It owns which real question feeds which split and how many rule pairs of each category are
made. It must not train or score anything.

Splits (every split is disjoint by source question; the split of a question is a hash of its
text, so a question and its rule variants never straddle two splits):
- train: QQP pairs outside the fixed 8,000-pair report sample (`pairs.qqp_sample`), plus rule
  pairs generated from those pairs' questions;
- val: MeanCache val pairs and rule pairs from MeanCache questions hashed to "val" — used to
  choose the operating point (loose cosine, verifier threshold);
- test: rule pairs from MeanCache questions hashed to "test" — the leave-one-category-out
  table is reported on it (and on the hand-written held-out traps, read only by calibrate.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from dataclasses import dataclass

from models.cache import pairs, rules


@dataclass(frozen=True)
class Example:
    a: str
    b: str
    same: bool
    category: str  # a rules category, "qqp", "meancache" or "identical"


def _bucket(text: str) -> str:
    digit = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) % 10
    return "val" if digit < 5 else "test"


def _jaccard(a: str, b: str) -> float:
    x = {t.lower() for t in rules.tokens(a) if t.isalnum()}
    y = {t.lower() for t in rules.tokens(b) if t.isalnum()}
    return len(x & y) / max(1, len(x | y))


def _generate(sources: list[str], category: str, n: int, rng: random.Random) -> list[Example]:
    """Up to n rule pairs of one category; the source is stored (`a`), the variant asked."""
    same = category in rules.SAME
    out: list[Example] = []
    generator = rules.GENERATORS[category]
    for text in sources:
        if len(out) >= n:
            break
        variant = generator(text, rng)
        if variant is None or variant.strip() == text.strip():
            continue
        a, b = (text, variant) if rng.random() < 0.5 else (variant, text)
        out.append(Example(a, b, same, category))
    return out


def _qqp_rows() -> list[dict[str, object]]:
    with gzip.open(pairs.DATA / "qqp_pairs.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    reported = {(p.a, p.b) for p in pairs.qqp_sample()}
    # MeanCache is Quora too: a question that also feeds validation or test stays out.
    held = {t for p in pairs.meancache_val() for t in (p.a, p.b)}
    return [
        r
        for r in rows
        if (r["a"], r["b"]) not in reported and r["a"] not in held and r["b"] not in held
    ]


def training_set(seed: int, *, per_rule: int = 1100, qqp: int = 4000) -> list[Example]:
    """QQP pairs (lexically close ones preferred: those are the ones a loose cosine lets
    through) plus rule pairs of every category. A leave-one-category-out model trains on
    this same list less one category's rule pairs."""
    rng = random.Random(seed)
    rows = _qqp_rows()
    rng.shuffle(rows)
    close = [r for r in rows if _jaccard(str(r["a"]), str(r["b"])) >= 0.3]
    chosen = close[:qqp]
    examples = [Example(str(r["a"]), str(r["b"]), bool(r["same_answer"]), "qqp") for r in chosen]
    sources = [str(r["a"]) for r in rows[qqp : qqp + 40_000] if len(str(r["a"])) < 160]
    for category in (*rules.DIFFERENT, *rules.SAME):
        rng.shuffle(sources)
        count = per_rule * (2 if category == "near_repeat" else 1)
        examples.extend(_generate(sources, category, count, rng))
    for text in sources[:200]:
        examples.append(Example(text, text, True, "identical"))
    rng.shuffle(examples)
    return examples


def _meancache_sources(bucket: str) -> list[str]:
    texts = sorted({t for p in pairs.meancache_val() for t in (p.a, p.b)})
    return [t for t in texts if _bucket(t) == bucket and 15 < len(t) < 160]


def rule_set(bucket: str, seed: int, per_category: int) -> list[Example]:
    """Rule pairs of every category from MeanCache questions of one bucket (val or test)."""
    rng = random.Random(seed)
    sources = _meancache_sources(bucket)
    out: list[Example] = []
    for category in (*rules.DIFFERENT, *rules.SAME):
        rng.shuffle(sources)
        out.extend(_generate(sources, category, per_category, rng))
    return out


def meancache_set(bucket: str, n: int, seed: int) -> list[Example]:
    """Real MeanCache pairs whose stored question falls in the bucket."""
    rows = [p for p in pairs.meancache_val() if _bucket(p.a) == bucket and _bucket(p.b) == bucket]
    random.Random(seed).shuffle(rows)
    return [Example(p.a, p.b, p.same_answer, "meancache") for p in rows[:n]]
