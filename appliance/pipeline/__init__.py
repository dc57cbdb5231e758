"""The request path. `chat.py` tells the chat story top to bottom; `text.py` the legacy text
one; both run the one escalation loop in `cascade.py`, relay streams with `relay.py`, and
settle with `accounting.py`. `Pipeline` is what the API layer holds: the assembled parts plus
one method per story. Nothing here knows HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from appliance.pipeline import chat as _chat
from appliance.pipeline import embeddings as _embeddings
from appliance.pipeline import responses as _responses
from appliance.pipeline import text as _text
from appliance.pipeline.chat import ChatReply
from appliance.pipeline.context import RequestContext
from appliance.pipeline.parts import Parts
from appliance.pipeline.responses import ResponsesReply, ResponseStore
from appliance.pipeline.text import TextReply
from appliance.schemas import ChatCompletionRequest, CompletionRequest
from appliance.schemas.responses import ResponsesRequest

__all__ = ["ChatReply", "Pipeline", "RequestContext", "ResponsesReply", "TextReply"]


@dataclass
class Pipeline(Parts):
    # Responses kept for `previous_response_id` (in memory, bounded: see responses.py).
    stored: ResponseStore = field(default_factory=ResponseStore)

    async def responses(self, req: ResponsesRequest, ctx: RequestContext) -> ResponsesReply:
        return await _responses.responses(self, req, ctx)

    async def chat(self, req: ChatCompletionRequest, ctx: RequestContext) -> ChatReply:
        return await _chat.chat(self, req, ctx)

    async def text(self, req: CompletionRequest, ctx: RequestContext) -> TextReply:
        return await _text.text(self, req, ctx)

    async def embeddings(
        self, texts: list[str], model: str, ctx: RequestContext
    ) -> tuple[np.ndarray, int]:
        return await _embeddings.embed(self, texts, model, ctx)
