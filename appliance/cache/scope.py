"""What a cached answer is keyed on: its scope, its exact hash, and the text that is embedded.

It owns turning an OpenAI-style request (namespace, model, messages, answer-changing params)
into a `CacheKey`. It must not decide whether a request may be cached (`policy.py`) nor touch
the store.

Two requests may share an answer only if everything except the wording of the last user turn
is identical, so the scope fingerprints the system prompt, every earlier turn (user, assistant,
tool), non-text parts of the last turn (an image changes the answer), tools and every sampling
parameter. A follow-up such as "what about its population?" therefore lives in the scope of its
own thread and can never match the same words asked after a different conversation. Only the
last user turn is embedded: within one scope the earlier turns are identical by construction,
and folding them into the embedded text would only pull different follow-ups of one thread
closer together (a shared prefix inflates cosine similarity).

A question asked again later in the same conversation ([..., q, answer, q again]) has a scope
of its own (its earlier turns now hold the first ask), so it could never hit. The key
therefore also names the scope of the previous ask (`parent`: the fingerprint of the turns
before the previous user turn) and that turn's text: the facade may serve the entry stored
for exactly that previous question, in exactly that context, when the verifier says the new
turn asks the same thing. Anything else said in between (another question, a tool result, a
second exchange) gives no parent, so a follow-up whose meaning depends on intervening turns
is never matched across them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from appliance.text import normalise_text

# Request fields that never change the answer; everything else given in `params` is scoped,
# so a parameter we do not know yet is conservatively treated as answer-changing.
IGNORED_PARAMS = frozenset({"stream", "stream_options", "user", "metadata", "store", "timeout"})


@dataclass(frozen=True)
class CacheKey:
    """`scope`: namespace/model/fingerprint; `exact`: hash of scope + normalised last turn;
    `text`: the normalised last user turn, which is what gets embedded and verified;
    `parent`/`parent_text`: the scope and text of the same conversation's previous ask, when
    the turns just before the last one are exactly [that user turn, one assistant answer]."""

    scope: str
    exact: str
    text: str
    parent: str | None = None
    parent_text: str = ""


def exact_hash(scope: str, text: str) -> str:
    return hashlib.sha256(f"{scope}\x00{text}".encode()).hexdigest()


def content_text(content: object) -> str:
    """The text of a message `content`: a string, None, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [
            str(part.get("text", ""))
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
        return "\n".join(texts)
    return str(content)


def _non_text_parts(content: object) -> list[object]:
    if isinstance(content, list):
        return [p for p in content if not (isinstance(p, dict) and p.get("type") == "text")]
    return []


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _last_user_index(messages: list[dict[str, object]]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            return i
    return -1


def build_key(
    namespace: str, model: str, messages: list[dict[str, object]], params: dict[str, object]
) -> CacheKey:
    """Key a chat request. Messages before and after the last user turn, its non-text parts
    and the params (None values dropped, so an explicit null equals an omitted field) form
    the fingerprint; the last user turn's text is embedded."""
    last = _last_user_index(messages)
    scoped = {k: v for k, v in sorted(params.items()) if v is not None and k not in IGNORED_PARAMS}
    scope = _scope(namespace, model, messages, last, scoped)
    text = normalise_text(content_text(messages[last].get("content"))) if last >= 0 else ""
    parent, parent_text = None, ""
    previous = last - 2
    if (
        previous >= 0
        and last == len(messages) - 1
        and messages[previous].get("role") == "user"
        and messages[previous + 1].get("role") == "assistant"
        and not messages[previous + 1].get("tool_calls")
    ):
        parent = _scope(namespace, model, messages[: previous + 1], previous, scoped)
        parent_text = normalise_text(content_text(messages[previous].get("content")))
    return CacheKey(scope, exact_hash(scope, text), text, parent, parent_text)


def _scope(
    namespace: str,
    model: str,
    messages: list[dict[str, object]],
    last: int,
    scoped: dict[str, object],
) -> str:
    context: list[object] = []
    for i, message in enumerate(messages):
        if i == last:
            context.append({"last_user_parts": _non_text_parts(message.get("content"))})
            extra = {k: v for k, v in message.items() if k not in ("role", "content")}
            if extra:
                context.append({"last_user_fields": extra})
            continue
        entry = {k: v for k, v in message.items() if k != "content" and v is not None}
        entry["content"] = normalise_text(content_text(message.get("content")))
        parts = _non_text_parts(message.get("content"))
        if parts:
            entry["parts"] = parts
        context.append(entry)
    fingerprint = hashlib.sha256(
        _canonical({"context": context, "params": scoped}).encode("utf-8")
    ).hexdigest()[:32]
    return f"{namespace}/{model}/{fingerprint}"
