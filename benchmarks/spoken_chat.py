"""Spoken chat answers through the server: time to the first audio byte of a streamed answer (pcm16),
against the total time of the same answer, and the total time of a non-streamed spoken answer (wav).

    .venv/bin/python -m benchmarks.spoken_chat [--runs 3] [--tokens 80] [--voice alloy]

The embedded SmolLM2 writes, greedy, up to `--tokens` tokens; the voice speaks (alloy = Piper joe). The
server is `omnivox serve` in its own process; the client is a lean httpx stream.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from typing import Any

import httpx

from benchmarks.server import server_process

MESSAGES = [{"role": "user", "content": "Tell me a short story about a lighthouse keeper."}]


def streamed(client: httpx.Client, voice: str, tokens: int) -> tuple[float, float, float]:
    """(time to first audio data, total time, seconds of audio)."""
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": tokens,
        "modalities": ["text", "audio"],
        "audio": {"voice": voice, "format": "pcm16"},
        "stream": True,
    }
    start = time.perf_counter()
    first = None
    pcm_bytes = 0
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if '"data":"' not in line:
                continue
            if first is None:
                first = time.perf_counter() - start
            audio = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]["audio"]
            pcm_bytes += len(base64.b64decode(audio["data"]))
    assert first is not None
    return first, time.perf_counter() - start, pcm_bytes / 2 / 24_000


def whole(client: httpx.Client, voice: str, tokens: int) -> float:
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": MESSAGES,
        "temperature": 0,
        "max_tokens": tokens,
        "modalities": ["text", "audio"],
        "audio": {"voice": voice, "format": "wav"},
    }
    start = time.perf_counter()
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--voice", default="alloy")
    args = parser.parse_args()
    firsts, totals, wholes, seconds = [], [], [], 0.0
    with (
        server_process(models=[{"context_window": 2048}]) as url,
        httpx.Client(base_url=url, timeout=600) as client,
    ):
        whole(client, args.voice, 4)  # warm-up
        for _ in range(args.runs):
            first, total, seconds = streamed(client, args.voice, args.tokens)
            firsts.append(first)
            totals.append(total)
            wholes.append(whole(client, args.voice, args.tokens))
    print(f"voice {args.voice}, up to {args.tokens} tokens, greedy, median of {args.runs} runs")
    print(f"answer: {seconds:.1f} s of speech")
    print(
        f"streamed pcm16: first audio after {statistics.median(firsts) * 1000:.0f} ms, "
        f"complete after {statistics.median(totals):.2f} s"
    )
    print(f"non-streamed wav: {statistics.median(wholes):.2f} s")


if __name__ == "__main__":
    main()
