"""Reading a traffic log: OpenAI-style JSONL or CSV, plain or gzip, into `LogRecord`s.

It owns the accepted log shapes, the field aliases, format detection and the malformed-line
report. It must not embed, route or price anything (`simulate.py` does).

Real logs are messy, so one bad line never stops an audit: it becomes a `Malformed` entry with
its line number and the reason, and the report shows them. Accepted JSONL lines are
  - a chat request body: `{"model", "messages", ...}`;
  - a wrapper: `{"request" | "body": {...}, "response": {...}, "usage": {...},
    "timestamp" | "ts" | "created": epoch or ISO 8601, "client" | "client_id": ...,
    "latency_ms": ...}` (the OpenAI batch file's `body` fits here);
  - a bare prompt: `{"prompt": "..."}` (e.g. `outcomes.jsonl`), sent as one user message.
Outcome labels `weak_correct` / `strong_correct` are read from the top level when present.
CSV needs a `prompt` column; optional columns are listed in `CSV_COLUMNS`.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import msgspec

from appliance.schemas import ChatCompletionRequest, ChatMessage

LogFormat = Literal["auto", "openai-jsonl", "csv"]
CSV_COLUMNS = (
    "prompt",
    "system",
    "model",
    "timestamp",
    "client",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "response",
    "latency_ms",
    "weak_correct",
    "strong_correct",
)
_GZIP_MAGIC = b"\x1f\x8b"
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})


class ReadError(Exception):
    """The log as a whole cannot be read (missing file, CSV without a prompt column)."""


@dataclass
class LogRecord:
    """One past request and what the log says happened to it (None: not logged)."""

    line: int
    request: ChatCompletionRequest
    model: str = ""
    timestamp: float | None = None
    client: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int = 0
    response_text: str | None = None
    response: dict[str, Any] | None = None
    latency_ms: float | None = None
    weak_correct: bool | None = None
    strong_correct: bool | None = None


@dataclass(frozen=True)
class Malformed:
    line: int
    reason: str


@dataclass
class LogContents:
    records: list[LogRecord] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    format: str = ""


def read_log(path: Path, fmt: LogFormat = "auto") -> LogContents:
    """All records of `path` in timestamp order (stable; see `in_time_order`)."""
    if not path.is_file():
        raise ReadError(f"replay: {path}: no such file")
    with path.open("rb") as raw:
        is_gzip = raw.read(2) == _GZIP_MAGIC
    chosen = fmt if fmt != "auto" else _detect(path, is_gzip)
    opener = gzip.open if is_gzip else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as text:
        contents = _read_csv(text) if chosen == "csv" else _read_jsonl(text)
    contents.format = chosen + (" (gzip)" if is_gzip else "")
    contents.records = in_time_order(contents.records)
    return contents


def _detect(path: Path, is_gzip: bool) -> str:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "openai-jsonl"
    opener = gzip.open if is_gzip else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as text:
        for line in text:
            if line.strip():
                return "openai-jsonl" if line.lstrip().startswith("{") else "csv"
    return "openai-jsonl"


def in_time_order(records: list[LogRecord]) -> list[LogRecord]:
    """Sort by timestamp, stably. A record without one inherits the previous record's, so it
    stays beside its neighbours in file order instead of jumping to either end."""
    keyed: list[tuple[float, int, LogRecord]] = []
    last = float("-inf")
    for position, record in enumerate(records):
        if record.timestamp is not None:
            last = record.timestamp
        keyed.append((last, position, record))
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [record for _, _, record in keyed]


# -- JSONL ---------------------------------------------------------------------------------


def _read_jsonl(text: io.TextIOBase | Any) -> LogContents:
    contents = LogContents()
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            contents.malformed.append(
                Malformed(number, f"not JSON ({exc.msg}, column {exc.colno})")
            )
            continue
        try:
            contents.records.append(_record_from_json(number, obj))
        except ValueError as exc:
            contents.malformed.append(Malformed(number, str(exc)))
    return contents


def _record_from_json(number: int, obj: object) -> LogRecord:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    body = obj.get("request", obj.get("body", obj))
    if not isinstance(body, dict):
        raise ValueError("`request` is not an object")
    if "messages" not in body and isinstance(body.get("prompt"), str):
        body = {**body, "messages": [{"role": "user", "content": body["prompt"]}]}
    request = _decode_request(body)
    response = obj.get("response")
    response = response if isinstance(response, dict) else None
    usage = obj.get("usage") or (response or {}).get("usage") or {}
    if not isinstance(usage, dict):
        raise ValueError("`usage` is not an object")
    details = usage.get("prompt_tokens_details") or {}
    return LogRecord(
        line=number,
        request=request,
        model=str(body.get("model") or (response or {}).get("model") or ""),
        timestamp=_timestamp(
            _first(obj, "timestamp", "ts", "time", "created") or (response or {}).get("created")
        ),
        client=str(_first(obj, "client", "client_id", "user") or request.user or ""),
        prompt_tokens=_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        completion_tokens=_count(usage.get("completion_tokens"), "usage.completion_tokens"),
        cached_tokens=_count(details.get("cached_tokens"), "cached_tokens") or 0,
        response_text=_response_text(response),
        response=response,
        latency_ms=_number(_first(obj, "latency_ms", "duration_ms"), "latency_ms"),
        weak_correct=_flag(obj.get("weak_correct"), "weak_correct"),
        strong_correct=_flag(obj.get("strong_correct"), "strong_correct"),
    )


def _decode_request(body: dict[str, Any]) -> ChatCompletionRequest:
    try:
        request = msgspec.convert(body, ChatCompletionRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"not a chat request ({exc})") from None
    if not any(m.role == "user" and m.text().strip() for m in request.messages):
        raise ValueError("no user message with text")
    return request


def _response_text(response: dict[str, Any] | None) -> str | None:
    if not response:
        return None
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message") or {}
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else choices[0].get("text")


# -- CSV -----------------------------------------------------------------------------------


def _read_csv(text: Any) -> LogContents:
    contents = LogContents()
    reader = csv.DictReader(text)
    if not reader.fieldnames:
        return contents
    columns = {name.strip().lower(): name for name in reader.fieldnames}
    if "prompt" not in columns:
        raise ReadError(
            f"replay: CSV has no `prompt` column (columns: {', '.join(reader.fieldnames)})"
        )
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        try:
            contents.records.append(_record_from_csv(start, row, columns))
        except ValueError as exc:
            contents.malformed.append(Malformed(start, str(exc)))
    return contents


def _record_from_csv(number: int, row: dict[str, Any], columns: dict[str, str]) -> LogRecord:
    def cell(name: str) -> str:
        value = row.get(columns.get(name, ""), "")
        return value.strip() if isinstance(value, str) else ""

    if None in row:
        raise ValueError("more cells than columns")
    prompt = row.get(columns["prompt"]) or ""
    if not prompt.strip():
        raise ValueError("empty prompt")
    messages = [ChatMessage(role="user", content=prompt)]
    if cell("system"):
        messages.insert(0, ChatMessage(role="system", content=cell("system")))
    model = cell("model")
    response = cell("response")
    return LogRecord(
        line=number,
        request=ChatCompletionRequest(messages=messages, model=model or "auto"),
        model=model,
        timestamp=_timestamp(cell("timestamp") or None),
        client=cell("client"),
        prompt_tokens=_count(cell("prompt_tokens") or None, "prompt_tokens"),
        completion_tokens=_count(cell("completion_tokens") or None, "completion_tokens"),
        cached_tokens=_count(cell("cached_tokens") or None, "cached_tokens") or 0,
        response_text=response or None,
        latency_ms=_number(cell("latency_ms") or None, "latency_ms"),
        weak_correct=_flag(cell("weak_correct") or None, "weak_correct"),
        strong_correct=_flag(cell("strong_correct") or None, "strong_correct"),
    )


# -- field parsing ---------------------------------------------------------------------------


def _first(obj: dict[str, Any], *names: str) -> Any:
    return next((obj[n] for n in names if obj.get(n) not in (None, "")), None)


def _timestamp(value: object) -> float | None:
    """Epoch seconds (milliseconds if implausibly large) or ISO 8601 (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"timestamp: {value!r} is not a time")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"timestamp: {text!r} is neither epoch nor ISO 8601") from None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    return seconds / 1000.0 if seconds > 1e11 else seconds


def _number(value: object, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if number < 0:
        raise ValueError(f"{name}: {number} is negative")
    return number


def _count(value: object, name: str) -> int | None:
    number = _number(value, name)
    return None if number is None else int(number)


def _flag(value: object, name: str) -> bool | None:
    if value is None or value == "" or isinstance(value, bool):
        return value if isinstance(value, bool) else None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}: {value!r} is not true/false")
