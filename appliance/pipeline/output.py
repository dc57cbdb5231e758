"""Output discipline: structured outputs validated against the requested schema, token caps.

A backend is asked to enforce the format (a grammar on llama.cpp, passthrough elsewhere), but
the answer is still checked here: a model that ignores the format must not reach the client
as a silent bad answer. An invalid answer raises `InvalidOutput`, which the pipeline treats
like any backend failure (escalate once; if still invalid, a clear error).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
import msgspec

from appliance.errors import InvalidOutput, InvalidRequest
from appliance.schemas import ChatCompletion, ChatCompletionRequest, ChatMessage


def wants_structured(req: ChatCompletionRequest) -> bool:
    kind = (req.response_format or {}).get("type")
    return kind in ("json_object", "json_schema")


def schema_of(req: ChatCompletionRequest) -> dict[str, Any] | None:
    fmt = req.response_format or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict):
            raise InvalidRequest(
                "response_format.json_schema must be an object", param="response_format"
            )
        schema = spec.get("schema", {})
        return schema if isinstance(schema, dict) else None
    if fmt.get("type") == "json_object":
        schema = fmt.get("schema")
        return schema if isinstance(schema, dict) else {"type": "object"}
    return None


def check_schema(req: ChatCompletionRequest) -> None:
    """Reject an unusable schema up front (400), not after paying for an answer."""
    schema = schema_of(req)
    if schema is None:
        return
    try:
        _validator(json.dumps(schema, sort_keys=True))
    except (jsonschema.SchemaError, TypeError, ValueError) as exc:
        raise InvalidRequest(
            f"response_format: invalid JSON schema: {exc}", param="response_format"
        ) from None


@lru_cache(maxsize=256)
def _validator(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_completion(req: ChatCompletionRequest, completion: ChatCompletion, tier: str) -> None:
    schema = schema_of(req)
    if schema is None:
        return
    validator = _validator(json.dumps(schema, sort_keys=True))
    for choice in completion.choices:
        text = choice.message.content or ""
        try:
            value = json.loads(text)
        except ValueError:
            raise InvalidOutput(f"tier {tier}: the answer is not valid JSON") from None
        error = next(iter(validator.iter_errors(value)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise InvalidOutput(
                f"tier {tier}: the answer does not match the schema at {where}: {error.message}"
            )


def with_terse_hint(req: ChatCompletionRequest, hint: str) -> ChatCompletionRequest:
    """Prepend the operator's terse hint as a system message (cheaper answers)."""
    if not hint:
        return req
    return msgspec.structs.replace(req, messages=[ChatMessage("system", hint), *req.messages])


def cap_tokens(req: ChatCompletionRequest, cap: int | None) -> ChatCompletionRequest:
    limit = req.token_limit
    if cap is not None and (limit is None or limit > cap):
        return msgspec.structs.replace(req, max_tokens=cap, max_completion_tokens=None)
    return req
