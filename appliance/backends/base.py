"""The backend seam: one protocol every model server implements, nothing else.

Health tracking, circuit breaking and escalation wrap a backend (`backends/circuit.py`,
`pipeline/cascade.py`); they are not part of it. A backend raises only `errors.BackendError`
subclasses (or `InvalidRequest` when the upstream rejects the request itself), chained `from`
the library's own error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol

import msgspec

from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
)


class BackendHealth(msgspec.Struct, omit_defaults=True):
    state: Literal["up", "down", "loading"] = "up"
    detail: str = ""
    # Load signals the router reads (vLLM /metrics); None when the backend cannot tell.
    queue_depth: int | None = None
    running: int | None = None
    kv_cache_usage: float | None = None


class Backend(Protocol):
    name: str
    model: str

    async def start(self) -> None:
        """Load weights or open connections; called once in the app's lifespan."""

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion: ...

    def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks as OpenAI sends them; the last one carries `usage` when the backend knows it."""
        ...

    async def text(self, req: CompletionRequest) -> Completion:
        """Legacy `/v1/completions` (raw prompt, no chat template)."""
        ...

    def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]: ...

    async def health(self) -> BackendHealth: ...

    async def close(self) -> None: ...
