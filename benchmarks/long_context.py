"""One very long prompt end to end through `omnivox serve`: time and the server's peak memory.

    .venv/bin/python -m benchmarks.long_context [--tokens 100000] [--no-flash-attention] [--rope-scaling yarn]

The prompt is numbered notes (~17 tokens each) and a question about the first one; the window is the
smallest multiple of 8,192 that holds it plus the answer (at most 131,072). Streams the answer (16 tokens,
greedy) with a lean httpx client and prints the time to the first token (all of it prompt evaluation),
the total, the prompt evaluation rate, and the server process's peak resident memory (VmHWM from
/proc/<pid>/status) with the KV cache estimate the server logged.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.server import server_process

TOKENS_PER_NOTE = 17.1  # measured with SmolLM2's tokenizer
WORDS = ("harbour", "lantern", "storm", "tide", "rope", "gull", "cliff", "beacon", "ledger", "wick", "fog")


def prompt(tokens: int) -> str:
    notes = int((tokens - 40) / TOKENS_PER_NOTE)
    lines = [
        f"Note {i}: the keeper wrote " + " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(6)) + "."
        for i in range(notes)
    ]
    return "\n".join(lines) + "\nWhat did the keeper write in note 0?"


def server_pid(port: int) -> int:
    """The `omnivox serve --port <port>` process (server_process yields only its URL)."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and str(port).encode() in args and b"omnivox" in args:
            return int(cmdline.parent.name)
    raise RuntimeError(f"no omnivox serve process on port {port}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--no-flash-attention", action="store_true")
    parser.add_argument("--rope-scaling", choices=("none", "linear", "yarn"), default=None)
    args = parser.parse_args()
    window = min(131072, -(-(args.tokens + 64) // 8192) * 8192)
    model: dict[str, Any] = {"context_window": window, "flash_attention": not args.no_flash_attention}
    if args.rope_scaling:
        model["rope_scaling"] = args.rope_scaling
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "user", "content": prompt(args.tokens)}],
        "temperature": 0,
        "max_tokens": 16,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with server_process(models=[model], speech_models=[]) as url:
        pid = server_pid(int(url.rsplit(":", 1)[1]))
        idle = peak_rss_mib(pid)
        start = time.perf_counter()
        first = None
        usage: dict[str, Any] = {}
        text: list[str] = []
        with (
            httpx.Client(base_url=url, timeout=6 * 3600) as client,
            client.stream("POST", "/v1/chat/completions", json=body) as response,
        ):
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: {"):
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    if choice["delta"].get("content"):
                        first = first or time.perf_counter()
                        text.append(choice["delta"]["content"])
        end = time.perf_counter()
        peak = peak_rss_mib(pid)
    ttft = (first or end) - start
    flash = "off" if args.no_flash_attention else "on"
    rope = args.rope_scaling or "the model's own"
    print(f"window {window}, flash attention {flash}, RoPE scaling {rope}")
    prompt_tokens = usage["prompt_tokens"]
    print(f"prompt {prompt_tokens} tokens, answer {usage['completion_tokens']} tokens: {''.join(text)!r}")
    rate = prompt_tokens / ttft
    print(f"time to first token {ttft:.1f} s ({rate:.1f} prompt tok/s), total {end - start:.1f} s")
    print(f"server peak RSS {peak:.0f} MiB (after loading, before the request: {idle:.0f} MiB)")
    print(f"KV cache estimate {window * 23_040 / 2**20:.0f} MiB (SmolLM2: 23,040 bytes a token)")


if __name__ == "__main__":
    main()
