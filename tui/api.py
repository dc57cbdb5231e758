"""What the TUI needs from the daemon: the async methods of `AdminClient`, as a Protocol.

`AdminClient` satisfies it as is; tests hand in a recorded in-memory stand-in instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from appliance.admin.messages import (
    ConfigPatch,
    FlaggedEntry,
    InvalidateRequest,
    InvalidateResult,
    LiveConfig,
    RequestEvent,
    RoutingPreview,
    Stats,
)


class AdminAPI(Protocol):
    url: str

    async def stats(self) -> Stats: ...
    async def config(self) -> LiveConfig: ...
    async def patch_config(self, patch: ConfigPatch) -> LiveConfig: ...
    async def invalidate(self, request: InvalidateRequest) -> InvalidateResult: ...
    async def routing_preview(self, quality_target: float) -> RoutingPreview | None: ...
    async def cache_flagged(self, limit: int = 50) -> list[FlaggedEntry]: ...
    async def recent(self, limit: int = 500) -> list[RequestEvent]: ...
    def events(self) -> AsyncIterator[RequestEvent]: ...
