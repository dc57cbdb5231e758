"""Multi-turn traps through the real `SemanticCache` with real keys (`scope.build_key`).

It owns the conversation protocol and its report table; it must not choose thresholds. For
each conversation [system, user, assistant, question] the answer to `question` is stored,
then, in one shared cache:
- same context, a variant of the question (near repeat or paraphrase): should hit;
- the same conversation going on, [..., question, answer, variant] (asked again): should hit;
- another context, the same question: must miss;
- the same context, another question: must miss;
- the same conversation going on with another question: must miss.
Dev conversations: contextual_followups (MeanCache), with rule variants of the follow-up
(near repeat always, a paraphrase where the rule applies). Held-out: the hand-written
conversations in traps/heldout_conversations.jsonl.
"""

from __future__ import annotations

import dataclasses
import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.cache.scope import build_key
from appliance.cache.semantic import SemanticCache
from appliance.cache.verifier import CANDIDATE_THRESHOLD, VERIFIER_THRESHOLD, Verifier
from appliance.config import CacheConfig
from appliance.text import normalise_text
from models.cache import pairs, rules
from models.cache.embeddings import embed_cached

HELDOUT = Path(__file__).resolve().parent / "traps" / "heldout_conversations.jsonl"
SYSTEM = "You are a helpful assistant."


class TunedConfig(CacheConfig, kw_only=True):
    """CacheConfig plus the verifier keys the lead adds to config.py (same names)."""

    candidate_threshold: float = CANDIDATE_THRESHOLD
    verifier_threshold: float = VERIFIER_THRESHOLD


@dataclass
class Conversation:
    system: str
    context: list[str]  # alternating user, assistant
    question: str
    answer: str
    variants: list[str]
    other_context: list[str]
    other_question: str


def _messages(system: str, turns: list[str]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = [{"role": "system", "content": system}]
    for i, turn in enumerate(turns):
        out.append({"role": "user" if i % 2 == 0 else "assistant", "content": turn})
    return out


def dev_conversations(seed: int = 5) -> list[Conversation]:
    rows = pairs.contextual()
    rng = random.Random(seed)
    out = []
    for i, r in enumerate(rows):
        other = rows[(i + 1) % len(rows)]
        variants = [v for v in (rules.near_repeat(r["follow_up"], rng),) if v]
        para = rules.paraphrase(r["follow_up"], rng)
        if para:
            variants.append(para)
        out.append(
            Conversation(
                SYSTEM,
                [r["main"], r["main_answer"]],
                r["follow_up"],
                r["follow_up_answer"],
                variants,
                [other["main"], other["main_answer"]],
                other["follow_up"],
            )
        )
    return out


def heldout_conversations() -> list[Conversation]:
    with open(HELDOUT, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [
        Conversation(
            r["system"],
            r["context"],
            r["question"],
            f"(answer to {r['question']})",
            [r["variant"]],
            r["other_context"],
            r["other_question"],
        )
        for r in rows
    ]


def run(
    convs: list[Conversation], name: str, config: CacheConfig, model: Path | None, parent: bool
) -> dict[str, float]:
    """Hit rates per kind of ask. `parent=False` keys requests as before this change (no
    link to the previous ask of the same conversation)."""
    texts = sorted(
        {normalise_text(t) for c in convs for t in (c.question, c.other_question, *c.variants)}
    )
    vectors = dict(zip(texts, embed_cached(f"conv-{name}", texts), strict=True))

    def vec(text: str) -> np.ndarray:
        return vectors[normalise_text(text)]

    counts = {
        k: [0, 0]
        for k in ("variant", "asked_again", "other_context", "other_question", "again_other")
    }
    verifier = None if model is None else Verifier(model)
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(Path(tmp), config, verifier=verifier)
        for c in convs:
            key = build_key("ns", "m", _messages(c.system, [*c.context, c.question]), {})
            cache.store(cache.new_entry_id(), key, vec(c.question), c.answer.encode())

        def ask(kind: str, turns: list[str], system: str, text: str) -> None:
            key = build_key("ns", "m", _messages(system, turns), {})
            if not parent:
                key = dataclasses.replace(key, parent=None, parent_text="")
            counts[kind][0] += cache.lookup(key, vec(text)).outcome == "hit"
            counts[kind][1] += 1

        for c in convs:
            thread = [*c.context, c.question, c.answer]
            for v in c.variants:
                ask("variant", [*c.context, v], c.system, v)
                ask("asked_again", [*thread, v], c.system, v)
            ask("other_context", [*c.other_context, c.question], c.system, c.question)
            ask("other_question", [*c.context, c.other_question], c.system, c.other_question)
            ask("again_other", [*thread, c.other_question], c.system, c.other_question)
        cache.close()
    return {k: hit / max(1, n) for k, (hit, n) in counts.items()}


def report(
    model: Path, candidate: float, threshold: float, use_guards: bool, heldout: bool = True
) -> str:
    before = CacheConfig(index_save_interval_s=3600)
    after = TunedConfig(
        index_save_interval_s=3600,
        candidate_threshold=candidate,
        verifier_threshold=threshold,
        guard_numbers=use_guards,
        guard_negation=use_guards,
        guard_entities=use_guards,
    )
    lines = [
        "| conversations | cache | same context, variant (recall) | asked again in the same "
        "conversation (recall) | other context, same question (wrong) | same context, other "
        "question (wrong) | asked again, other question (wrong) |",
        "|---|---|---|---|---|---|---|",
    ]
    sets = [("dev", dev_conversations())]
    if heldout:
        sets.append(("held-out", heldout_conversations()))
    for name, convs in sets:
        for label, config, path in (
            ("before (0.94 + guards, old keys)", before, None),
            ("verifier", after, model),
        ):
            r = run(convs, name, config, path, parent=path is not None)
            lines.append(
                f"| {name} ({len(convs)}) | {label} | {100 * r['variant']:.1f}% | "
                f"{100 * r['asked_again']:.1f}% | {100 * r['other_context']:.1f}% | "
                f"{100 * r['other_question']:.1f}% | {100 * r['again_other']:.1f}% |"
            )
    return "\n".join(lines)
