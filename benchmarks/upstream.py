"""The cost of the upstream hop: time to first token and tokens/s of llama.cpp's OpenAI server asked
directly, against the same server reached through omnivox (`backend = "openai"`).

    .venv/bin/python -m benchmarks.upstream --runs 9 --tokens 200

The upstream is `python -m llama_cpp.server` on the embedded SmolLM2 (2 threads, 2,048-token window);
omnivox runs as `omnivox serve` in its own process (text only: no recogniser, no voices). Each run is one
streamed, greedy request with the same prompt, read by a lean httpx client that times each `data:` line;
the two paths alternate, and the medians are reported, with the median of the paired ratios (each
omnivox run over the direct run just before it). tokens/s counts the content chunks after the
first (one per token on both paths) over the time from the first to the last; TTFT is from sending the
request to the first content chunk.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.server import server_process
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.serving.registry import resolve_source
from tests.support.upstream import llama_server

PROMPT = [{"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."}]


def measure(client: httpx.Client, base: str, model: str, tokens: int) -> tuple[float, float, int]:
    """(seconds to the first content chunk, tokens/s after it, content chunks) of one streamed request."""
    body = {
        "model": model,
        "messages": PROMPT,
        "temperature": 0,
        "max_tokens": tokens,
        "stream": True,
    }
    sent = time.perf_counter()
    first = last = 0.0
    chunks = 0
    with client.stream("POST", f"{base}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or ()
            if any(c.get("delta", {}).get("content") for c in choices):
                last = time.perf_counter()
                first = first or last
                chunks += 1
    rate = (chunks - 1) / (last - first) if chunks > 1 and last > first else 0.0
    return first - sent, rate, chunks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads of the upstream")
    args = parser.parse_args()
    gguf = resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}")
    with (
        tempfile.TemporaryDirectory(prefix="omnivox-bench-") as folder,
        llama_server(gguf, context=2048, threads=args.threads) as upstream,
    ):
        model = {
            "id": "up",
            "backend": "openai",
            "base_url": f"{upstream}/v1",
            "upstream_model": "smollm2",
            "context_window": 2048,
        }
        synthesis = {"store": str(Path(folder) / "audio.sqlite3"), "voices": [], "voice_map": {}}
        with (
            server_process(models=[model], speech_models=[], synthesis=synthesis) as front,
            httpx.Client(timeout=300) as client,
        ):
            paths = {"direct": (upstream, "smollm2"), "omnivox": (front, "up")}
            for base, name in paths.values():  # warm-up: load, prompt cache, connections
                measure(client, base, name, 16)
            results: dict[str, list[tuple[float, float, int]]] = {path: [] for path in paths}
            for _ in range(args.runs):
                for path, (base, name) in paths.items():
                    results[path].append(measure(client, base, name, args.tokens))
    # Each omnivox run against the direct run just before it: on a shared machine, load drifts between
    # pairs more than within one.
    paired = [o[1] / d[1] for d, o in zip(results["direct"], results["omnivox"], strict=True) if d[1]]
    print(f"omnivox / direct tokens/s, median of {len(paired)} pairs: {statistics.median(paired):.1%}")
    direct_rate = statistics.median(r[1] for r in results["direct"])
    direct_ttft = statistics.median(r[0] for r in results["direct"])
    for path, runs in results.items():
        ttft = statistics.median(r[0] for r in runs)
        rate = statistics.median(r[1] for r in runs)
        chunks = statistics.median(r[2] for r in runs)
        print(
            f"{path:8} TTFT {ttft * 1000:7.1f} ms (+{(ttft - direct_ttft) * 1000:5.1f})  "
            f"{rate:6.1f} tok/s ({rate / direct_rate:6.1%})  {chunks:.0f} tokens  "
            f"rates {[round(r[1], 1) for r in runs]}"
        )


if __name__ == "__main__":
    main()
