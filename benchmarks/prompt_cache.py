"""Time to first token for a long system prompt, cold and cached, through `omnivox serve` over loopback.

    .venv/bin/python -m benchmarks.prompt_cache [--runs 5] [--lines 67]

Each run sends, with temperature 0 and a lean streaming httpx client (as benchmarks/generation.py):

1. cold: a system prompt never seen before (~2,000 tokens; a fresh id at its start, so nothing is shared
   with earlier requests) and a question;
2. cached, live: the same system prompt, another question: its prefix is still in the KV cache;
3. another cold conversation, which takes the KV cache over (the first one is saved to the prompt cache);
4. cached, restored: the first system prompt again, a third question: its state comes back from the
   prompt cache (llama_state_seq_set_data) instead of being recomputed.

A second server with `prompt_cache_mib = 0` answers the same requests (then every prompt is evaluated
anew) and every answer is compared. Prints medians over the runs and cold / cached ratios; the target
of issue 7 is cached TTFT at most 1/5 of cold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

import httpx

from benchmarks.server import server_process

QUESTIONS = ("Which rule is about the lamp?", "Summarise the rules.", "What should the keeper do at dawn?")
CLAUSES = (
    "the keeper trims the wick before the sun goes down",
    "every ship that passes is written in the log with its hour",
    "the foghorn sounds twice a minute while the fog lasts",
    "oil for the lamp is carried up in the morning, never at night",
    "the shutters are closed when the wind comes from the west",
    "a visitor signs the book and is shown the lens but not the stores",
    "the boat is checked for leaks on the first day of every month",
    "nobody climbs the tower during a thunderstorm",
)


def system_prompt(lines: int) -> str:
    """A long, non-repeating house-rules text with a fresh id at its start."""
    rules = [
        f"Rule {i}: {CLAUSES[i % len(CLAUSES)]}, as noted in year {1850 + i * 7 % 97}." for i in range(lines)
    ]
    return f"Session {uuid.uuid4()}. You are the assistant of a lighthouse keeper.\n" + "\n".join(rules)


def ask(client: httpx.Client, system: str, question: str) -> tuple[float, str, dict[str, Any]]:
    """(seconds to the first content chunk, the answer, usage)."""
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
        "temperature": 0,
        "max_tokens": 8,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start = time.perf_counter()
    first = None
    text: list[str] = []
    usage: dict[str, Any] = {}
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices", []):
                piece = choice["delta"].get("content")
                if piece:
                    first = first or time.perf_counter()
                    text.append(piece)
    return (first or time.perf_counter()) - start, "".join(text), usage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lines", type=int, default=67, help="rules in the system prompt (~29 tokens each)")
    args = parser.parse_args()
    model = {"context_window": 8192}
    times: dict[str, list[float]] = {"cold": [], "cached, live": [], "cached, restored": [], "no cache": []}
    reused: dict[str, list[int]] = {k: [] for k in times}
    prompt_tokens: list[int] = []
    mismatches = 0
    with (
        server_process(models=[model], speech_models=[]) as url,
        server_process(models=[{**model, "prompt_cache_mib": 0}], speech_models=[]) as plain_url,
        httpx.Client(base_url=url, timeout=600) as client,
        httpx.Client(base_url=plain_url, timeout=600) as plain,
    ):
        ask(client, system_prompt(4), "Hello.")  # warm-up
        ask(plain, system_prompt(4), "Hello.")
        for _ in range(args.runs):
            first, other = system_prompt(args.lines), system_prompt(args.lines)
            steps = [
                ("cold", first, QUESTIONS[0]),
                ("cached, live", first, QUESTIONS[1]),
                ("cold", other, QUESTIONS[0]),
                ("cached, restored", first, QUESTIONS[2]),
            ]
            for name, system, question in steps:
                seconds, answer, usage = ask(client, system, question)
                times[name].append(seconds)
                reused[name].append(usage["prompt_tokens_details"]["cached_tokens"])
                prompt_tokens.append(usage["prompt_tokens"])
                plain_seconds, plain_answer, plain_usage = ask(plain, system, question)
                times["no cache"].append(plain_seconds)
                reused["no cache"].append(plain_usage["prompt_tokens_details"]["cached_tokens"])
                mismatches += answer != plain_answer
    print(f"system prompt + question: {min(prompt_tokens)}-{max(prompt_tokens)} tokens, {args.runs} runs")
    cold = statistics.median(times["cold"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:17s} TTFT median {median * 1000:8.0f} ms  (min {min(values) * 1000:.0f}, max "
            f"{max(values) * 1000:.0f})  cached_tokens {statistics.median(reused[name]):.0f}  "
            f"/ cold {median / cold:.3f}"
        )
    print(f"answers differing from the server without cache: {mismatches} of {4 * args.runs}")


if __name__ == "__main__":
    main()
