"""`/v1/embeddings` on the local encoder: bounded, accounted, budgeted like chat.

One request may hold at most `limits.embeddings_max_inputs` texts; each is embedded from its
first 256 word pieces (the encoder's window, as OpenAI-compatible local models do) in runs
whose memory is bounded (`embedding/encoder.py`), so a large batch costs time, not gigabytes.
The vectors come from the packaged fp32 model even where the cache runs the int8 build
(`Parts.published`): what a client stored keeps its meaning across that change.
Every call is a ledger row (tier `embeddings`, priced at the local encoder's price, zero by
default) and passes the same budget check as chat.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from appliance.errors import BudgetExceeded, InvalidRequest
from appliance.ledger.billing import EMBEDDINGS, Attempt
from appliance.pipeline.context import RequestContext
from appliance.pipeline.parts import Parts
from appliance.schemas import Usage

# The encoder's window in word pieces, [CLS] and [SEP] included.
_WINDOW = 256


async def embed(
    parts: Parts, texts: list[str], model: str, ctx: RequestContext
) -> tuple[np.ndarray, int]:
    """Vectors for `texts` and the tokens they cost."""
    ceiling = parts.config.limits.embeddings_max_inputs
    if not texts or len(texts) > ceiling:
        raise InvalidRequest(
            f"`input` must hold 1 to {ceiling} strings (limits.embeddings_max_inputs); "
            "send larger batches in several requests",
            param="input",
        )
    budgets = parts.accounting.budgets
    if budgets.is_exhausted(ctx.client) and parts.config.security.on_budget_exceeded == "reject":
        raise BudgetExceeded(f"Client '{ctx.client.name}' has reached its monthly budget")
    began = time.perf_counter()
    vectors = await (parts.published or parts.embedder).embed_many(texts)
    tokens = await asyncio.to_thread(
        lambda: sum(min(parts.count_tokens(t) + 2, _WINDOW) for t in texts)
    )
    attempt = Attempt(EMBEDDINGS, model, began, time.perf_counter() - began)
    attempt.usage = Usage(prompt_tokens=tokens, total_tokens=tokens)
    outcome = parts.accounting.outcome(
        ctx, model=model, cache="bypass", reason="local", attempts=[attempt], stream=False
    )
    await parts.accounting.record(outcome)
    return vectors, tokens
