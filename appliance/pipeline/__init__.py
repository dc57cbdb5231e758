"""The request path. `chat.py` tells the chat story top to bottom; `text.py` the legacy text
one; both run the one escalation loop in `cascade.py`, relay streams with `relay.py`, and
settle with `accounting.py`. `Pipeline` is what the API layer holds: the assembled parts plus
one method per story. Nothing here knows HTTP.
"""

from __future__ import annotations

import numpy as np

from appliance.pipeline import chat as _chat
from appliance.pipeline import embeddings as _embeddings
from appliance.pipeline import text as _text
from appliance.pipeline.chat import ChatReply
from appliance.pipeline.context import RequestContext
from appliance.pipeline.parts import Parts
from appliance.pipeline.text import TextReply
from appliance.schemas import ChatCompletionRequest, CompletionRequest, EmbeddingRequest

__all__ = ["ChatReply", "Pipeline", "RequestContext", "TextReply"]


class Pipeline(Parts):
    async def chat(self, req: ChatCompletionRequest, ctx: RequestContext) -> ChatReply:
        return await _chat.chat(self, req, ctx)

    async def text(self, req: CompletionRequest, ctx: RequestContext) -> TextReply:
        return await _text.text(self, req, ctx)

    async def embeddings(
        self, req: EmbeddingRequest, model: str, ctx: RequestContext
    ) -> tuple[np.ndarray, int]:
        return await _embeddings.embed(self, req, model, ctx)
