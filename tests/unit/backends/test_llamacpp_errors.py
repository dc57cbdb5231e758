"""What the local tier calls the client's fault: a template that rejects the messages, a
prompt over the context window, image content; all before llama.cpp generates anything."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from appliance.backends.llamacpp import LlamaCppBackend
from appliance.config import TierConfig
from appliance.errors import InvalidRequest
from appliance.schemas import ChatCompletionRequest, ChatMessage


class _Tokenizer:
    def tokenize(self, text: bytes, add_bos: bool, special: bool) -> list[int]:
        return list(range(len(text.split())))


def backend(formatter: Any) -> LlamaCppBackend:
    made = LlamaCppBackend(TierConfig(name="local", backend="llamacpp", n_ctx=64))
    made._formatter = formatter
    made._llm = _Tokenizer()
    return made


def test_a_template_error_is_a_400() -> None:
    def refuse(**_: Any) -> Any:
        raise jinja2.exceptions.TemplateError("Conversation roles must alternate")

    with pytest.raises(InvalidRequest) as caught:
        backend(refuse)._turn(ChatCompletionRequest([ChatMessage("user", "hi")]))
    assert "roles must alternate" in caught.value.message


def test_a_prompt_over_the_context_window_is_a_400() -> None:
    class Rendered:
        prompt = "word " * 100
        stop = None

    with pytest.raises(InvalidRequest) as caught:
        backend(lambda **_: Rendered())._turn(ChatCompletionRequest([ChatMessage("user", "x")]))
    assert caught.value.code == "context_length_exceeded"


def test_image_content_is_a_400_naming_vision() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    with pytest.raises(InvalidRequest) as caught:
        backend(None)._turn(ChatCompletionRequest([ChatMessage("user", [image])]))
    assert "vision = true" in caught.value.message
