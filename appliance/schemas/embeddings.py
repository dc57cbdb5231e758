"""`/v1/embeddings`: request and response.

`input` may be text or, as LangChain's `OpenAIEmbeddings` sends by default, token arrays
(cl100k_base ids); the API decodes those back to text when it can (`api/tokens.py`).
"""

from __future__ import annotations

from typing import Literal

import msgspec

# msgspec takes one array type per union: the items are checked by `api/tokens.py`.
EmbeddingInput = str | list[str | int | list[int]]


class EmbeddingRequest(msgspec.Struct, omit_defaults=True):
    input: EmbeddingInput
    model: str = "all-minilm-l6-v2"
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class EmbeddingData(msgspec.Struct):
    index: int
    embedding: list[float] | str
    object: str = "embedding"


class EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(msgspec.Struct):
    data: list[EmbeddingData]
    model: str
    usage: EmbeddingUsage
    object: str = "list"
