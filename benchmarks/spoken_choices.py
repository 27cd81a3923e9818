"""The voices of `n` choices: spoken one after another (`synthesis.parallel = 1`) against at once
(`"auto"`: one text per core), through two `omnivox serve` processes that take turns request by request,
so that load from elsewhere falls on both alike.

    .venv/bin/python -m benchmarks.spoken_choices [--runs 3] [--tokens 80] [--voice alloy] [--n 1 2 4]

The embedded SmolLM2 answers "Tell me a short story about a lighthouse keeper." greedily (so every choice
is the same text, and both servers speak the same words), up to `--tokens` tokens, spoken by `--voice`
(`alloy`: Piper joe; `coral`: flite slt). For each `n`: the whole wav answer (request -> response), the
streamed pcm16 answer (request -> last audio byte), and the same request as text only (what generation
alone takes, the part no voice setting can change). Medians of `--runs` after a warm-up; `uptime` before
and after. The lean httpx client never shares the servers' GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.server import server_process

STORY = [{"role": "user", "content": "Tell me a short story about a lighthouse keeper."}]
SETTINGS = {"serial": 1, "parallel": "auto"}


def _body(n: int, tokens: int, voice: str | None, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": STORY,
        "temperature": 0,
        "max_tokens": tokens,
        "n": n,
        "stream": stream,
    }
    if voice is not None:
        body["modalities"] = ["text", "audio"]
        body["audio"] = {"voice": voice, "format": "pcm16" if stream else "wav"}
    return body


def whole(client: httpx.Client, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    client.post("/v1/chat/completions", json=body).raise_for_status()
    return time.perf_counter() - start


def last_audio(client: httpx.Client, body: dict[str, Any]) -> float:
    """Request -> the last SSE line that carries audio data."""
    start = time.perf_counter()
    last = None
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"data":"' in line:
                last = time.perf_counter() - start
    if last is None:
        raise RuntimeError("the streamed answer held no audio")
    return last


def measures(tokens: int, voice: str, n: int) -> dict[str, Callable[[httpx.Client], float]]:
    return {
        "whole wav": lambda c: whole(c, _body(n, tokens, voice, False)),
        "streamed, last audio byte": lambda c: last_audio(c, _body(n, tokens, voice, True)),
        "text only (generation)": lambda c: whole(c, _body(n, tokens, None, False)),
    }


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--voice", default="alloy")
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    print(f"load before: {_uptime()}")
    with contextlib.ExitStack() as stack:
        clients = {}
        for name, parallel in SETTINGS.items():
            url = stack.enter_context(
                server_process(models=[{"context_window": 1024}], synthesis={"parallel": parallel})
            )
            clients[name] = stack.enter_context(httpx.Client(base_url=url, timeout=600))
        print(f"{'n':>2} | {'measure':<26} | {'serial':>8} | {'parallel':>8} | parallel / serial | each run")
        for n in args.n:
            for label, measure in measures(args.tokens, args.voice, n).items():
                times: dict[str, list[float]] = {name: [] for name in clients}
                for client in clients.values():
                    measure(client)  # warm-up
                for _ in range(args.runs):
                    for name, client in clients.items():  # taking turns
                        times[name].append(measure(client))
                serial, parallel = (statistics.median(times[name]) for name in SETTINGS)
                each = "  ".join(f"{name}: " + " ".join(f"{t:.2f}" for t in times[name]) for name in SETTINGS)
                print(
                    f"{n:>2} | {label:<26} | {serial:>7.2f}s | {parallel:>7.2f}s | {parallel / serial:>17.2f}"
                    f" | {each}"
                )
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()
