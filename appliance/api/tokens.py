"""Embedding input sent as token arrays, turned back into text.

LangChain's `OpenAIEmbeddings` (by default, `check_embedding_ctx_length=True`) tokenizes with
tiktoken's cl100k_base and sends token ids, not text; every OpenAI embedding model uses that
encoding, and so does LangChain for a model name tiktoken does not know (ours). Our encoder
reads text, so the ids are decoded with cl100k_base's vocabulary. The vocabulary comes from
the `bpe-openai` package (MIT), which ships it offline; only its data file is read (its
native extension is never loaded). Without it, token input is a 400 that names the fix.
"""

from __future__ import annotations

import base64
import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

from appliance.errors import InvalidRequest

_SPECIAL = {
    100257: b"<|endoftext|>",
    100258: b"<|fim_prefix|>",
    100259: b"<|fim_middle|>",
    100260: b"<|fim_suffix|>",
    100276: b"<|endofprompt|>",
}
FIX = "send text, e.g. OpenAIEmbeddings(..., check_embedding_ctx_length=False) in LangChain"


def vocabulary_file() -> Path | None:
    """cl100k_base's ranks as shipped by `bpe-openai`, found without importing it."""
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "cl100k_base.tiktoken.gz"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _vocabulary() -> dict[int, bytes] | None:
    path = vocabulary_file()
    if path is None:
        return None
    tokens = dict(_SPECIAL)
    with gzip.open(path, "rt", encoding="ascii") as lines:
        for line in lines:
            token, _, rank = line.strip().partition(" ")
            if rank:
                tokens[int(rank)] = base64.b64decode(token)
    return tokens


def texts_of(items: str | list[str | int | list[int]]) -> list[str]:
    """The texts to embed: `input` as strings, one token array, or a list of token arrays."""
    if isinstance(items, str):
        return [items]
    if all(isinstance(i, str) for i in items):
        return [str(i) for i in items]
    if all(isinstance(i, int) for i in items):
        return [decode([i for i in items if isinstance(i, int)])]
    if all(isinstance(i, list) for i in items):
        return [decode(i) for i in items if isinstance(i, list)]
    raise InvalidRequest(
        "`input` must be a string, a list of strings, or token arrays (not a mix)",
        param="input",
    )


def decode(ids: list[int]) -> str:
    vocabulary = _vocabulary()
    if vocabulary is None:
        raise InvalidRequest(
            f"token-array input needs the cl100k_base vocabulary (pip install bpe-openai); "
            f"or {FIX}",
            param="input",
        )
    try:
        return b"".join(vocabulary[i] for i in ids).decode("utf-8", "replace")
    except KeyError as exc:
        raise InvalidRequest(
            f"`input` holds token id {exc.args[0]}, which is not in cl100k_base; {FIX}",
            param="input",
        ) from None
