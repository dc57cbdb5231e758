"""The local llama.cpp tier through the endpoint vs llama-cpp-python called directly.

    .venv/bin/python bench/local_model.py [--requests 100]

Prints first-token latency and tokens/s (streaming) for both, and the appliance's own
`x-appliance-overhead-ms` (time outside the backend call) over N non-streaming requests.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import openai
from loadgen import percentile, start_appliance

from appliance.config import default_local_model

PROMPT = [{"role": "user", "content": "Write three sentences about the sea."}]
TOKENS = 64


def stream_timing(create: Callable[[], Iterable[Any]]) -> tuple[float, float]:
    """(first-token seconds from the call, generated tokens per second after the first)."""
    began = time.perf_counter()
    first = None
    pieces = 0
    for chunk in create():
        choices = chunk["choices"] if isinstance(chunk, dict) else chunk.choices
        if not choices:
            continue
        delta = choices[0]["delta"] if isinstance(chunk, dict) else choices[0].delta
        content = delta.get("content") if isinstance(delta, dict) else delta.content
        if content:
            pieces += 1
            if first is None:
                first = time.perf_counter()
    end = time.perf_counter()
    assert first is not None
    return first - began, (pieces - 1) / max(end - first, 1e-9)


def main(requests: int, threads: int) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=str(default_local_model()), n_ctx=4096, verbose=False)
    direct = [
        stream_timing(
            lambda: llm.create_chat_completion(
                messages=PROMPT, max_tokens=TOKENS, temperature=0, stream=True
            )
        )
        for _ in range(5)
    ]
    llm.close()
    tiers = [
        {
            "name": "local",
            "backend": "llamacpp",
            "model": "smollm2-135m-instruct",
            "n_threads": threads,
        }
    ]
    server = start_appliance({"cache": {"enabled": False}, "tiers": tiers})
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        through = [
            stream_timing(
                lambda: client.chat.completions.create(
                    model="auto", messages=PROMPT, max_tokens=TOKENS, temperature=0, stream=True
                )
            )
            for _ in range(5)
        ]
        overheads = []
        for i in range(requests):
            raw = client.chat.completions.with_raw_response.create(
                model="auto",
                max_tokens=8,
                temperature=0,
                messages=[{"role": "user", "content": f"Say the number {i}."}],
            )
            overheads.append(float(raw.headers["x-appliance-overhead-ms"]))
    finally:
        server.stop()
    for name, runs in (("llama-cpp-python direct", direct), ("through the appliance", through)):
        ttft = statistics.median(r[0] for r in runs) * 1000
        tps = statistics.median(r[1] for r in runs)
        print(f"{name:26} first token {ttft:7.1f} ms   {tps:6.1f} tokens/s")
    values = sorted(overheads)
    print(
        f"x-appliance-overhead-ms over {requests} non-streaming requests: "
        f"p50 {percentile(values, 50):.2f}  p99 {percentile(values, 99):.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: all cores)")
    args = parser.parse_args()
    main(args.requests, args.threads)
