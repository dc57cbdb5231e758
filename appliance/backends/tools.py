"""Function calling for a model that has no tool support of its own (the local llama.cpp tier).

Three jobs, each a pure function or a small class, so they are tested without a model:

- **What may the model produce** (`plan_tools`): text, a tool call, or either, from
  `tool_choice` (`none` / `auto` / `required` / a named function) and `parallel_tool_calls`.
- **How it is asked** (`tools_prompt`, `render_messages`): the tools are described in the
  system message, and the conversation is rewritten into what any chat template accepts: an
  assistant turn's `tool_calls` become the JSON the model is asked to write, a run of
  `role: "tool"` results becomes one user turn ("Function results: ..."), `content: null`
  becomes "". Chat templates differ in what they take (many reject a `tool` role or
  non-alternating turns); this shape is accepted by every template we know.
- **How the answer is held to it** (`call_grammar`) and read back (`CallScanner`): the model
  writes `[{"name": ..., "arguments": {...}}, ...]`, constrained by a GBNF grammar built
  from the tools' JSON schemas; the scanner turns that text, as it streams, into OpenAI's
  `tool_calls` deltas (index, id, type, function.name, then function.arguments pieces).

`auto` on a 135M model: left to choose freely it answers in prose (measured: 4 of 4 prompts
that name a tool's job got text at temperature 0), so an agent loop never starts. The
default policy, `call-then-answer`, is the agent loop itself: a turn that ends with the user
must call a tool; a turn that ends with tool results answers in text. `model` (grammar admits
text or a call, the model picks) suits a larger GGUF model. See docs/compatibility.md.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from appliance.errors import InvalidRequest

Produce = Literal["text", "call", "either"]
AutoPolicy = Literal["call-then-answer", "model"]
# Parallel calls a small model may emit in one turn (it repeats itself past a few).
MAX_PARALLEL = 4
_LOOSE_CHAR = 'char ::= [^"\\\\] |'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'
_ANSWER_PROMPT = "Answer the user in plain sentences, using the function results above."
# Prose: anything that does not open like JSON (nor with a blank).
_PROSE = "root ::= [^[{ \\t\\n] [^\\x00]*\n"
_HEADER = re.compile(r'\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*')


@dataclass(frozen=True)
class ToolPlan:
    """The tools the model is offered and what it may produce this turn."""

    produce: Produce
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_calls: int = 1
    # A text turn in a conversation that used tools: the answer must not be a call's JSON
    # (a small model copies the calls it sees), so it is steered and held to prose.
    answering: bool = False

    @property
    def names(self) -> list[str]:
        return [str(t["function"]["name"]) for t in self.tools]


def plan_tools(
    tools: list[dict[str, Any]] | None,
    tool_choice: str | dict[str, Any] | None,
    parallel: bool | None,
    messages: list[dict[str, Any]],
    policy: AutoPolicy = "call-then-answer",
) -> ToolPlan:
    """Resolve `tool_choice` for this turn; a malformed tool or choice is the client's error."""
    used = any(m.get("tool_calls") or m.get("role") in ("tool", "function") for m in messages)
    prose = ToolPlan("text", answering=used)
    if not tools:
        if tool_choice not in (None, "none", "auto"):
            raise InvalidRequest(
                "`tool_choice` is only allowed when `tools` are specified", param="tool_choice"
            )
        return prose
    offered = [_checked(i, t) for i, t in enumerate(tools)]
    choice = tool_choice if tool_choice is not None else "auto"
    many = max(1, min(len(offered), MAX_PARALLEL)) if parallel is not False else 1
    if choice == "none":
        return prose
    if choice == "required":
        return ToolPlan("call", offered, many)
    if choice == "auto":
        if policy == "model":
            return ToolPlan("either", offered, many)
        answered = bool(messages) and messages[-1].get("role") in ("tool", "function")
        return prose if answered else ToolPlan("call", offered, many)
    name = _named(choice)
    chosen = [t for t in offered if t["function"]["name"] == name]
    if not chosen:
        raise InvalidRequest(
            f"tool_choice names `{name}`, which is not in `tools`", param="tool_choice"
        )
    return ToolPlan("call", chosen, 1)


def _checked(index: int, tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") if isinstance(tool, dict) else None
    if tool.get("type") != "function" or not isinstance(function, dict):
        raise InvalidRequest(
            f"tools[{index}]: the local tier supports function tools only", param="tools"
        )
    if not isinstance(function.get("name"), str) or not function["name"]:
        raise InvalidRequest(f"tools[{index}].function.name: required", param="tools")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest(f"tools[{index}].function.parameters: not an object", param="tools")
    return tool


def _named(choice: str | dict[str, Any]) -> str:
    if isinstance(choice, dict):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else choice.get("name")
        if isinstance(name, str):
            return name
    raise InvalidRequest(
        "`tool_choice` must be none, auto, required or a named function", param="tool_choice"
    )


# -- the prompt ---------------------------------------------------------------------------


def tools_prompt(plan: ToolPlan) -> str:
    """The system text that describes the tools and the answer format; "" for text turns."""
    if plan.produce == "text":
        return _ANSWER_PROMPT if plan.answering else ""
    lines = ["You can call these functions (each one's arguments follow its JSON schema):"]
    for tool in plan.tools:
        function = tool["function"]
        spec = {
            "name": function["name"],
            "description": function.get("description", ""),
            "parameters": function.get("parameters") or {"type": "object"},
        }
        lines.append(json.dumps(spec, ensure_ascii=False))
    lines.append(
        'To call functions, answer with only a JSON list: [{"name": "<function name>", '
        '"arguments": {<arguments>}}].'
    )
    if plan.produce == "either":
        lines.append("If no function is needed, answer in plain text.")
    return "\n".join(lines)


def render_messages(messages: list[dict[str, Any]], system_extra: str = "") -> list[dict[str, str]]:
    """The conversation as plain role/content turns any chat template accepts."""
    names: dict[str, str] = {}
    out: list[dict[str, str]] = []
    results: list[str] = []
    for message in messages:
        role = str(message.get("role"))
        if role in ("tool", "function"):
            call_id = str(message.get("tool_call_id") or "")
            label = message.get("name") or names.get(call_id) or call_id or "function"
            results.append(f"{label}: {_text(message.get('content'))}")
            continue
        if results:
            out.append({"role": "user", "content": "Function results:\n" + "\n".join(results)})
            results = []
        content = _text(message.get("content"))
        calls = message.get("tool_calls") or []
        if role == "assistant" and calls:
            written = []
            for call in calls:
                function = call.get("function")
                function = function if isinstance(function, dict) else {}
                names[str(call.get("id") or "")] = str(function.get("name", ""))
                arguments = json.dumps(_args(function), ensure_ascii=False)
                written.append(f"Calling {function.get('name')}({arguments})")
            text = "\n".join(written)
            content = f"{content}\n{text}" if content else text
        out.append({"role": "system" if role == "developer" else role, "content": content})
    if results:
        out.append({"role": "user", "content": "Function results:\n" + "\n".join(results)})
    if system_extra:
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{system_extra}"}
        else:
            out.insert(0, {"role": "system", "content": system_extra})
    return out


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return str(content)


def _args(function: dict[str, Any]) -> Any:
    raw = function.get("arguments")
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw if raw is not None else {}


# -- the grammar --------------------------------------------------------------------------


def call_schema(plan: ToolPlan) -> dict[str, Any]:
    """The JSON schema of an answer that calls tools: a list of {name, arguments}."""
    variants = [
        {
            "type": "object",
            "properties": {
                "name": {"const": tool["function"]["name"]},
                "arguments": tool["function"].get("parameters") or {"type": "object"},
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
        for tool in plan.tools
    ]
    items = variants[0] if len(variants) == 1 else {"anyOf": variants}
    return {"type": "array", "items": items, "minItems": 1, "maxItems": plan.max_calls}


def schema_gbnf(schema: dict[str, Any], prop_order: list[str] | None = None) -> str:
    """llama.cpp's GBNF for a JSON schema, with JSON's ban on raw control characters in
    strings (llama-cpp-python's string rule admits them; every SDK's parser rejects them)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    gbnf: str = json_schema_to_gbnf(json.dumps(schema), prop_order=prop_order)
    return gbnf.replace(_LOOSE_CHAR, _STRICT_CHAR)


def call_grammar(plan: ToolPlan) -> str | None:
    """The GBNF the answer must match: None for free text; prose that is not a call's JSON
    after tool results; tool calls, or either."""
    if plan.produce == "text":
        return _PROSE if plan.answering else None
    try:
        gbnf = schema_gbnf(call_schema(plan), prop_order=["name", "arguments"])
    except Exception as exc:  # llama.cpp's converter raises bare exceptions
        raise InvalidRequest(
            f"tools: a parameters schema cannot be enforced: {exc}", param="tools"
        ) from exc
    if plan.produce == "call":
        return gbnf
    # Text may not start with "[" (that would be a call) nor with a blank.
    calls = re.sub(r"^root ::=", "calls ::=", gbnf, count=1, flags=re.MULTILINE)
    return calls + "\nroot ::= calls | text\ntext ::= [^[ \\t\\n] [^\\x00]*\n"


# -- reading the answer -------------------------------------------------------------------


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


class CallScanner:
    """Reads `[{"name": ..., "arguments": {...}}, ...]` as it is generated and emits OpenAI
    `tool_calls` deltas: the first names the call (index, id, type, name, arguments ""), the
    rest are pieces of its arguments. The arguments are passed on as the model wrote them,
    so a streamed and a whole answer carry the same string."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self._buf = ""
        self._pos = 0
        self._in_args = False
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, text: str) -> list[dict[str, Any]]:
        self._buf += text
        deltas: list[dict[str, Any]] = []
        while True:
            if not self._in_args:
                match = _HEADER.search(self._buf, self._pos)
                if match is None:
                    return deltas
                name = json.loads(f'"{match.group(1)}"')
                call = {"id": new_call_id(), "type": "function", "name": name, "arguments": ""}
                self.calls.append(call)
                index = len(self.calls) - 1
                deltas.append(
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                )
                self._pos, self._in_args, self._depth = match.end(), True, 0
            done = self._scan_args()
            index = len(self.calls) - 1
            if done > self._pos:
                piece = self._buf[self._pos : done]
                self.calls[index]["arguments"] += piece
                deltas.append({"index": index, "function": {"arguments": piece}})
                self._pos = done
            if self._in_args:
                return deltas

    def _scan_args(self) -> int:
        """Advance over the arguments value; returns how far it may be emitted."""
        while self._depth == 0 and self._pos < len(self._buf) and self._buf[self._pos].isspace():
            self._pos += 1  # the blank between `"arguments":` and the value is not part of it
        i = self._pos
        while i < len(self._buf):
            char = self._buf[i]
            i += 1
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._in_args = False
                    return i
        return i

    def tool_calls(self) -> list[dict[str, Any]]:
        """The calls whose arguments are complete, in OpenAI's message shape."""
        complete = self.calls if not self._in_args else self.calls[:-1]
        return [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in complete
        ]
