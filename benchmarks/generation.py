"""Generation speed through the omnivox server against llama.cpp driven directly, same GGUF, same prompt,
greedy (so both produce the same tokens).

    .venv/bin/python benchmarks/generation.py [--tokens 200] [--runs 3]

Set LLAMA_CPP_LIB_PATH to a folder of llama.cpp libraries to measure another build of the same version
(docs/benchmarks.md compares the portable build with a native one that way).

Both paths keep their model loaded, so after the warm-up both reuse the evaluated prompt from the KV
cache: TTFT here is the per-request overhead plus one token, not prompt evaluation.

The third path asks for `logprobs` with `top_logprobs: 5` (a log-softmax over the vocabulary and a
partial sort per token, plus the bigger chunks).

Prints, per path: time to first token (TTFT) and generation tokens/s (tokens after the first, divided by
the time after the first). The direct path is llama.cpp's decode loop through llama-cpp-python's C API
with an argmax in numpy: the floor any server on these bindings can reach.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import httpx
import numpy as np

from benchmarks.server import server_process
from omnivox.backends.llama_cpp.library import load_backends
from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.serving.registry import resolve_source

MESSAGES = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]
CONTEXT = 2048


def direct(model: LlamaCppModel, prompt: list[int], tokens: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    logits = model.evaluate(prompt).logits
    first = None
    produced = 0
    while produced < tokens:
        token = int(np.argmax(logits))
        if model.is_end_of_generation(token):
            break
        produced += 1
        if first is None:
            first = time.perf_counter()
        logits = model.append(token)
    end = time.perf_counter()
    assert first is not None
    return first - start, (produced - 1) / (end - first), produced


def served(client: httpx.Client, tokens: int, logprobs: bool = False) -> tuple[float, float, int]:
    """Stream through the server with a lean client: lines are timed, only the usage chunk is parsed, so
    the figure is the server's cost rather than a client's JSON parsing competing for the same cores."""
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if logprobs:
        body.update(logprobs=True, top_logprobs=5)
    start = time.perf_counter()
    first = None
    produced = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if first is None and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter()
            if '"usage":{' in line:
                produced = json.loads(line.removeprefix("data: "))["usage"]["completion_tokens"]
    end = time.perf_counter()
    assert first is not None
    return first - start, (produced - 1) / (end - first), produced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, int]]] = {
        "llama.cpp direct": [],
        "omnivox server": [],
        "server + logprobs": [],
    }
    with (
        server_process(models=[{"context_window": CONTEXT}]) as url,
        httpx.Client(base_url=url, timeout=300) as client,
    ):
        model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=CONTEXT)
        prompt = PromptBuilder(model).tokens(MESSAGES)
        # warm-up; afterwards both paths reuse the evaluated prompt from their KV cache alike
        served(client, 4)
        direct(model, prompt, 4)
        for _ in range(args.runs):  # interleaved, so that drifts of the machine hit every path alike
            results["llama.cpp direct"].append(direct(model, prompt, args.tokens))
            results["omnivox server"].append(served(client, args.tokens))
            results["server + logprobs"].append(served(client, args.tokens, logprobs=True))
        model.close()
    print(load_backends().describe())  # which llama.cpp build and CPU kernels (LLAMA_CPP_LIB_PATH picks one)
    print(f"prompt {len(prompt)} tokens, greedy, up to {args.tokens} tokens, median of {args.runs} runs")
    for name, runs in results.items():
        ttft = statistics.median(r[0] for r in runs) * 1000
        speed = statistics.median(r[1] for r in runs)
        print(f"{name:18s} TTFT {ttft:7.1f} ms   generation {speed:6.1f} tok/s   tokens {runs[0][2]}")
    direct_speed = statistics.median(r[1] for r in results["llama.cpp direct"])
    for name in ("omnivox server", "server + logprobs"):
        ratio = statistics.median(r[1] for r in results[name]) / direct_speed
        print(f"{name} / direct generation speed: {ratio:.1%}")


if __name__ == "__main__":
    main()
