"""Any OpenAI-compatible server (a cloud, vLLM, llama.cpp's server, another appliance).

Calls go through the stock `openai.AsyncOpenAI` client with SDK retries off: retrying and
escalating are the pipeline's job, and a hidden retry would double the latency of a failure.
The body sent is the client's own with the appliance's decisions overlaid
(`passthrough.py`), handed to the SDK as `extra_body` so fields it does not know pass
unchanged. Bodies are read raw and decoded with msgspec, which skips the SDK's pydantic
models on the hot path (this is most of the gateway's overhead budget). Closing a stream
closes its upstream response, which ends the upstream's generation.

The upstream's 400, 413 and 422 are the request's fault (`InvalidRequest`: returned to the
client, not escalated); connection failures, timeouts, 5xx, 429 and garbage are the tier's.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
import openai

from appliance.backends.base import BackendHealth
from appliance.backends.passthrough import request_body, stream_options
from appliance.config import TierConfig
from appliance.errors import (
    BackendError,
    BackendRateLimited,
    BackendTimeout,
    InvalidRequest,
)
from appliance.schemas import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Completion,
    CompletionRequest,
)


def _http_modules() -> list[Any]:
    """The HTTP libraries the SDK may be built on (httpx; httpx2 in openai 3.x). Their errors
    escape the SDK while a stream is being read, so they are caught by their own classes."""
    modules = []
    for name in ("httpx", "httpx2"):
        try:
            modules.append(importlib.import_module(name))
        except ImportError:
            continue
    return modules


_HTTP_ERRORS = tuple(m.HTTPError for m in _http_modules())
_HTTP_TIMEOUTS = tuple(m.TimeoutException for m in _http_modules())
_HTTP_TRANSPORT = tuple(m.TransportError for m in _http_modules())
_chunk_decoder = msgspec.json.Decoder(ChatCompletionChunk)
_completion_decoder = msgspec.json.Decoder(ChatCompletion)
_text_decoder = msgspec.json.Decoder(Completion)
T = TypeVar("T")


class MissingKey(Exception):
    """The tier's API key variable is unset: the tier is unavailable, not fatal."""


class OpenAIBackend:
    def __init__(self, tier: TierConfig, *, api_key: str | None = None) -> None:
        self.name = tier.name
        self.model = tier.model or tier.name
        self._tier = tier
        key = api_key
        if key is None and tier.api_key_env:
            key = os.environ.get(tier.api_key_env) or _credential(tier.api_key_env)
            if not key:
                raise MissingKey(f"environment variable {tier.api_key_env} is not set")
        self._client = openai.AsyncOpenAI(
            base_url=tier.base_url,
            api_key=key or "not-needed",
            max_retries=0,
            timeout=openai.Timeout(tier.timeout_s, connect=tier.connect_timeout_s),
        )

    async def start(self) -> None:
        return None

    def _body(self, req: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
        return request_body(req, self.model, self._tier.drop_fields)

    async def chat(self, req: ChatCompletionRequest) -> ChatCompletion:
        return await self._call(self._client.chat.completions, self._body(req), _completion_decoder)

    def stream(self, req: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        return self._stream(self._client.chat.completions, self._body(req), _chunk_decoder)

    async def text(self, req: CompletionRequest) -> Completion:
        return await self._call(self._client.completions, self._body(req), _text_decoder)

    def text_stream(self, req: CompletionRequest) -> AsyncIterator[Completion]:
        return self._stream(self._client.completions, self._body(req), _text_decoder)

    async def _call(
        self, resource: Any, body: dict[str, Any], decoder: msgspec.json.Decoder[T]
    ) -> T:
        body.pop("stream_options", None)
        body["stream"] = False
        try:
            async with asyncio.timeout(self._tier.timeout_s):
                raw = await resource.with_raw_response.create(**_sdk_arguments(body))
                content = raw.http_response.content
        except (openai.OpenAIError, TimeoutError) as exc:
            raise _translate(exc, self.name) from exc
        try:
            return decoder.decode(content)
        except msgspec.DecodeError as exc:
            raise BackendError(f"tier {self.name}: upstream sent an invalid response") from exc

    async def _stream(
        self, resource: Any, body: dict[str, Any], decoder: msgspec.json.Decoder[T]
    ) -> AsyncIterator[T]:
        body["stream"] = True
        # Always ask for usage: the ledger bills streams exactly, whatever the client asked.
        body["stream_options"] = stream_options(body)
        try:
            async with resource.with_streaming_response.create(**_sdk_arguments(body)) as response:
                async for line in response.iter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        yield decoder.decode(data)
                    except msgspec.DecodeError as exc:
                        raise BackendError(
                            f"tier {self.name}: upstream sent an invalid stream chunk"
                        ) from exc
        except (openai.OpenAIError, *_HTTP_ERRORS, TimeoutError) as exc:
            raise _translate(exc, self.name) from exc

    async def health(self) -> BackendHealth:
        return BackendHealth(state="up")

    async def close(self) -> None:
        await self._client.close()


def _sdk_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The SDK's required arguments by name, everything else as `extra_body`: the SDK
    rejects keyword arguments it does not know, and must not reshape the ones it does."""
    rest = dict(body)
    named: dict[str, Any] = {
        k: rest.pop(k) for k in ("model", "messages", "prompt", "stream") if k in rest
    }
    return {**named, "extra_body": rest}


def _credential(name: str) -> str | None:
    """A key delivered by systemd's LoadCredential= lands in $CREDENTIALS_DIRECTORY/<name>."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    try:
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            from email.utils import parsedate_to_datetime

            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _translate(exc: BaseException, tier: str) -> Exception:
    """Map the SDK's errors to ours; never echo the upstream's key-bearing request."""
    if isinstance(exc, (openai.APITimeoutError, TimeoutError, *_HTTP_TIMEOUTS)):
        return BackendTimeout(f"tier {tier}: upstream timed out")
    if isinstance(exc, (openai.APIConnectionError, *_HTTP_TRANSPORT)):
        return BackendError(f"tier {tier}: cannot reach upstream")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (402, 429):
            return BackendRateLimited(
                f"tier {tier}: upstream returned {status}",
                retry_after_s=_retry_after(exc.response.headers),
            )
        if status in (400, 413, 422):
            return InvalidRequest(f"tier {tier}: upstream rejected the request: {_message(exc)}")
        error = BackendError(f"tier {tier}: upstream returned {status}")
        error.kind = f"http_{status}"
        return error
    return BackendError(f"tier {tier}: {type(exc).__name__}")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])[:500]
    return f"HTTP {exc.status_code}"
