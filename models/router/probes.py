"""Out-of-domain probes: prompts the outcomes have nothing like, scored after every training.

They were written before the outcomes or any score were looked at and are never tuned against
(the trivial and hard sets in 1.1.0; the open-ended set in 2.0.0, in the style of MT-Bench's
eight categories but not taken from it). `train.py` records their scores in `router.json`
(`ood_probes`) and MODEL_CARD.md shows them; the unit tests check the recorded ones reproduce.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RUNTIME_SHARES = (0.70, 0.25, 0.05)  # appliance.runtime.default_shares(3), for the probe tiers

TRIVIAL_PROBES = (
    "hi",
    "thanks!",
    "what time is it in Paris?",
    "extract the date from: Meeting moved to 3 May",
    "translate 'cat' into French",
    "summarise this sentence: The council approved the new bike lanes after a long debate.",
    "good morning, how are you?",
    "what's the capital of Australia?",
    "fix the typo: 'recieve'",
    "give me a synonym for happy",
    "convert 5 km to miles",
    "ok",
)
HARD_PROBES = (
    "Prove that there are infinitely many primes p such that p is congruent to 3 mod 4. "
    "Give a complete proof and explain why each step is valid.",
    "Design a distributed rate limiter for a multi-region API gateway and give code: it must "
    "allow at most 1000 requests per minute per API key across all regions, tolerate the loss "
    "of one region, and add no more than 5 ms of latency. Explain the trade-offs.",
    "Prove that every finite integral domain is a field, then show by counterexample that the "
    "statement fails for infinite integral domains, and explain why the finiteness is needed.",
    "Write a Python function that parses a CSV file of transactions, groups them by customer, "
    "detects any customer whose spending in a rolling 7-day window exceeds three times their "
    "30-day median, and returns the alerts sorted by severity. Include unit tests and explain "
    "the time complexity of your approach.",
    "Five people (Ann, Ben, Cal, Dee, Eve) sit in a row. Ann is not at either end. Ben sits "
    "immediately to the right of Cal. Dee is two seats away from Eve. Eve is not next to Ann. "
    "Cal is not in seat 1. Work out every possible arrangement step by step, and prove that "
    "no others exist.",
    "Derive the closed form of the sum of k^2 * 2^k for k from 1 to n, prove it by induction, "
    "and then use it to compute the value for n = 10.",
    "design a distributed rate limiter and give code",
    "Our Postgres database has a table of 2 billion rows and queries joining it to a second "
    "table became 40x slower after an upgrade. First list the likely causes, then give a "
    "step-by-step plan to diagnose each one, and finally propose schema and index changes, "
    "with the SQL, that keep writes under 10 ms.",
)
# Open-ended requests by kind: the first four kinds are ones a weak chat model does about as
# well as a strong one, the last four need reasoning a weak model often gets wrong. The check
# is on the ordering of the two halves, not on tiers.
OPEN_PROBES: tuple[tuple[str, str], ...] = (
    ("writing", "Write a short, upbeat birthday message for my coworker Sam."),
    ("writing", "Draft a friendly email inviting the team to a picnic on Friday afternoon."),
    ("roleplay", "Pretend you are a pirate captain and greet your new crew."),
    ("roleplay", "Act as a travel agent and suggest a weekend trip to Lisbon."),
    ("extraction", "List the names of the people mentioned: Alice met Bob and Carol at noon."),
    ("extraction", "From this review, say whether it is positive: 'Great food, slow service.'"),
    ("humanities", "Briefly describe what the Renaissance was."),
    ("humanities", "Who wrote Pride and Prejudice, and what is it about?"),
    (
        "math",
        "A triangle has vertices at (0, 0), (4, 0) and (1, 3). Find its area and the radius "
        "of its circumscribed circle, showing the steps.",
    ),
    ("math", "How many integers between 1 and 1000 are divisible by 3 or 7 but not by both?"),
    (
        "reasoning",
        "If all bloops are razzies and some razzies are lazzies, must some bloops be lazzies? "
        "Explain why, and give a counterexample if not.",
    ),
    (
        "reasoning",
        "Three boxes are labelled apples, oranges and mixed, and every label is wrong. You may "
        "take one fruit from one box. Which box do you pick from, and how do you relabel all "
        "three?",
    ),
    (
        "coding",
        "Implement a function that returns the longest palindromic substring of a string in "
        "O(n^2) time, and explain how it works.",
    ),
    (
        "coding",
        "Find the bug: def mean(xs): return sum(xs) / len(xs) - 1. Then write tests that "
        "would have caught it.",
    ),
    (
        "stem",
        "Derive the escape velocity from the surface of a planet of mass M and radius R, and "
        "explain why it does not depend on the mass of the projectile.",
    ),
    (
        "stem",
        "Explain why the entropy of an isolated system cannot decrease, and analyse what "
        "happens to it when two gases at different temperatures mix.",
    ),
)
EASY_OPEN_KINDS = ("writing", "roleplay", "extraction", "humanities")


def probe_texts() -> list[tuple[str, str]]:
    """(kind, prompt) for every probe: trivial, hard, then the open-ended kinds."""
    return (
        [("trivial", t) for t in TRIVIAL_PROBES]
        + [("hard", t) for t in HARD_PROBES]
        + list(OPEN_PROBES)
    )


def score_probes(score_parts: Any, metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """Scores, blend internals and runtime tiers of the probes. `score_parts(texts)` returns
    the ONNX graph's outputs (score, head, ood_weight, prior) for the texts."""
    from appliance.router.policy import RoutingPolicy, ScoreProfile

    probes = probe_texts()
    texts = [t for _, t in probes]
    parts = score_parts(texts)
    policy = RoutingPolicy.by_shares(RUNTIME_SHARES, ScoreProfile.from_metadata(metadata))
    quantiles = np.array(metadata["score_quantiles"])
    out = []
    for i, (kind, text) in enumerate(probes):
        score = float(parts["score"][i])
        out.append(
            {
                "kind": kind,
                "prompt": text,
                "weight": round(float(parts["ood_weight"][i]), 4),
                "head": round(float(parts["head"][i]), 4),
                "prior": round(float(parts["prior"][i]), 4),
                "score": round(score, 4),
                "percentile": int(np.searchsorted(quantiles, score)),
                "tier": policy.tier(score),
            }
        )
    return out
