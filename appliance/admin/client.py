"""Async client for `/admin/*`, used by the TUI and by tests. Bearer token, msgspec decoding.

Connection problems surface as `AdminUnreachable` so a UI can show a banner and retry, and
4xx answers as `AdminError` carrying the daemon's message.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

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

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8080"


class AdminUnreachable(Exception):
    """The daemon did not answer (down, restarting, network)."""


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


def read_token(token_file: str | Path | None = None) -> str:
    """The admin token from a file, $APPLIANCE_ADMIN_TOKEN, or the usual places."""
    if env := os.environ.get("APPLIANCE_ADMIN_TOKEN"):
        return env.strip()
    candidates = (
        [Path(token_file)]
        if token_file
        else [Path("state/admin_token"), Path("/var/lib/appliance/admin_token")]
    )
    for path in candidates:
        try:
            return path.expanduser().read_text(encoding="utf-8").strip()
        except OSError:
            continue
    return ""


class AdminClient:
    def __init__(self, url: str = DEFAULT_URL, token: str = "", timeout_s: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"authorization": f"Bearer {token}"} if token else {},
            timeout=timeout_s,
        )

    async def _request(self, method: str, path: str, type_: type[T], body: Any = None) -> T:
        content = msgspec.json.encode(body) if body is not None else None
        try:
            response = await self._http.request(
                method,
                path,
                content=content,
                headers={"content-type": "application/json"} if content else None,
            )
        except httpx.HTTPError as exc:
            raise AdminUnreachable(f"{self.url}: {type(exc).__name__}") from exc
        if response.status_code >= 400:
            raise AdminError(response.status_code, _error_message(response))
        return msgspec.json.decode(response.content, type=type_)

    async def stats(self) -> Stats:
        return await self._request("GET", "/admin/stats", Stats)

    async def config(self) -> LiveConfig:
        return await self._request("GET", "/admin/config", LiveConfig)

    async def patch_config(self, patch: ConfigPatch) -> LiveConfig:
        return await self._request("PATCH", "/admin/config", LiveConfig, patch)

    async def invalidate(self, request: InvalidateRequest) -> InvalidateResult:
        return await self._request("POST", "/admin/cache/invalidate", InvalidateResult, request)

    async def routing_preview(self, quality_target: float) -> RoutingPreview | None:
        """None when there is nothing to route (a single tier)."""
        path = f"/admin/routing/preview?quality_target={quality_target}"
        return await self._request("GET", path, RoutingPreview | None)  # type: ignore[arg-type]

    async def cache_flagged(self, limit: int = 50) -> list[FlaggedEntry]:
        return await self._request("GET", f"/admin/cache/flagged?limit={limit}", list[FlaggedEntry])

    async def recent(self, limit: int = 500) -> list[RequestEvent]:
        return await self._request("GET", f"/admin/recent?limit={limit}", list[RequestEvent])

    async def events(self) -> AsyncIterator[RequestEvent]:
        """Follow `/admin/events` (SSE) until the connection drops."""
        try:
            async with self._http.stream("GET", "/admin/events", timeout=None) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise AdminError(response.status_code, _error_message(response))
                async for line in response.aiter_lines():
                    if line.startswith("data:"):
                        yield msgspec.json.decode(line[5:].strip(), type=RequestEvent)
        except httpx.HTTPError as exc:
            raise AdminUnreachable(f"{self.url}: {type(exc).__name__}") from exc

    async def close(self) -> None:
        await self._http.aclose()


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
