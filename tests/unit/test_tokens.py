"""Embedding input as cl100k_base token arrays (LangChain's default), decoded to text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.api import tokens
from appliance.errors import InvalidRequest

HELLO = [9906, 11, 1917, 0]  # "Hello, world!" in cl100k_base


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    tokens._vocabulary.cache_clear()
    yield
    tokens._vocabulary.cache_clear()


def test_every_input_shape_becomes_texts() -> None:
    assert tokens.texts_of("hi") == ["hi"]
    assert tokens.texts_of(["a", "b"]) == ["a", "b"]
    assert tokens.texts_of(HELLO) == ["Hello, world!"]  # type: ignore[arg-type]
    assert tokens.texts_of([HELLO, [9906]]) == ["Hello, world!", "Hello"]


def test_a_mix_of_text_and_tokens_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        tokens.texts_of(["a", 1])


def test_an_unknown_id_names_the_fix() -> None:
    with pytest.raises(InvalidRequest) as caught:
        tokens.texts_of([[10**7]])
    assert "check_embedding_ctx_length=False" in caught.value.message


def test_without_the_vocabulary_the_400_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "vocabulary_file", lambda: None)
    with pytest.raises(InvalidRequest) as caught:
        tokens.texts_of([HELLO])
    assert "bpe-openai" in caught.value.message
    assert "check_embedding_ctx_length=False" in caught.value.message
