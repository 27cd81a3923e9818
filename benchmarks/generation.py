"""Generation speed through the omnivox server against llama.cpp driven directly, same GGUF, same prompt,
greedy (so both produce the same tokens).

    .venv/bin/python benchmarks/generation.py [--tokens 200] [--runs 3]

Both paths keep their model loaded, so after the warm-up both reuse the evaluated prompt from the KV
cache: TTFT here is the per-request overhead plus one token, not prompt evaluation.

Prints, per path: time to first token (TTFT) and generation tokens/s (tokens after the first, divided by
the time after the first). The direct path is llama.cpp's decode loop through llama-cpp-python's C API
with an argmax in numpy: the floor any server on these bindings can reach.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import openai

from omnivox.api.app import create_app
from omnivox.config import EMBEDDED_CHAT_MODEL, load_settings
from omnivox.runtimes.llama_cpp import LlamaCppModel
from omnivox.runtimes.registry import resolve_source
from tests.support.server import live_server

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


def served(client: openai.OpenAI, tokens: int) -> tuple[float, float, int]:
    start = time.perf_counter()
    first = None
    produced = 0
    stream = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=MESSAGES,
        temperature=0,
        max_tokens=tokens,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and first is None:
            first = time.perf_counter()
        if chunk.usage:
            produced = chunk.usage.completion_tokens
    end = time.perf_counter()
    assert first is not None
    return first - start, (produced - 1) / (end - first), produced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings(models=[{"context_window": CONTEXT}])
    results: dict[str, list[tuple[float, float, int]]] = {"llama.cpp direct": [], "omnivox server": []}
    with live_server(create_app(settings)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
        from omnivox.chat.prompt import PromptBuilder

        model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=CONTEXT)
        prompt = PromptBuilder(model).tokens(MESSAGES)
        # warm-up; afterwards both paths reuse the evaluated prompt from their KV cache alike
        served(client, 4)
        direct(model, prompt, 4)
        for _ in range(args.runs):
            results["omnivox server"].append(served(client, args.tokens))
            results["llama.cpp direct"].append(direct(model, prompt, args.tokens))
        model.close()
    print(f"prompt {len(prompt)} tokens, greedy, up to {args.tokens} tokens, median of {args.runs} runs")
    for name, runs in results.items():
        ttft = statistics.median(r[0] for r in runs) * 1000
        speed = statistics.median(r[1] for r in runs)
        print(f"{name:18s} TTFT {ttft:7.1f} ms   generation {speed:6.1f} tok/s   tokens {runs[0][2]}")
    ratio = statistics.median(r[1] for r in results["omnivox server"]) / statistics.median(
        r[1] for r in results["llama.cpp direct"]
    )
    print(f"server / direct generation speed: {ratio:.1%}")


if __name__ == "__main__":
    main()
