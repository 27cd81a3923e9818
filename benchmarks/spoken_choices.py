"""The voices of `n` choices: spoken one after another (`synthesis.parallel = 1`) against at once
(`"auto"`: one text per core), through two `omnivox serve` processes that take turns request by request,
so that load from elsewhere falls on both alike.

    .venv/bin/python -m benchmarks.spoken_choices [--runs 3] [--tokens 80] [--voice alloy] [--n 1 2 4]
                                                  [--threads N]
    .venv/bin/python -m benchmarks.spoken_choices --direct [--runs 5] [--n 1 2 4]

The embedded SmolLM2 answers "Tell me a short story about a lighthouse keeper." greedily (so every choice
is the same text, and both servers speak the same words), up to `--tokens` tokens, spoken by `--voice`
(`alloy`: Piper joe; `coral`: flite slt). For each `n`: the whole wav answer (request -> response),
the streamed pcm16 answer (request -> first and last audio byte), and the same request as text only
(what generation alone takes, the part no voice setting can change). Medians of `--runs` after a
warm-up, each run printed; `uptime` before and after. The lean httpx client never shares the servers'
GIL. `--threads 1` keeps llama.cpp from spinning against other processes on a loaded machine (there, a
5-token answer on 2 threads was measured at 25-37 s instead of 0.3 s).

`--direct`: the voice alone, in this process: Piper joe speaking `n` copies of a 42-word, three-sentence
paragraph (~14 s of speech each) one after another (`parallel=1`, as a server with `synthesis.parallel = 1`
does) against `n` threads at once on a voice loaded with `parallel` = the cores (as `"auto"` does), the two
taking turns run by run.
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
from omnivox.backends.cpu import default_threads

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


def streamed(client: httpx.Client, body: dict[str, Any]) -> tuple[float, float]:
    """Request -> the first and the last SSE line that carry audio data."""
    start = time.perf_counter()
    seen: list[float] = []
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if '"data":"' in line:
                seen.append(time.perf_counter() - start)
    if not seen:
        raise RuntimeError("the streamed answer held no audio")
    return seen[0], seen[-1]


Measure = Callable[[httpx.Client], dict[str, float]]


def measures(tokens: int, voice: str, n: int) -> list[Measure]:
    def spoken(c: httpx.Client) -> dict[str, float]:
        return {"whole wav": whole(c, _body(n, tokens, voice, False))}

    def stream(c: httpx.Client) -> dict[str, float]:
        first, last = streamed(c, _body(n, tokens, voice, True))
        return {"streamed, first audio": first, "streamed, last audio": last}

    def text(c: httpx.Client) -> dict[str, float]:
        return {"text only (generation)": whole(c, _body(n, tokens, None, False))}

    return [spoken, stream, text]


PARAGRAPH = (
    "The keeper climbed the winding stairs every evening to light the great lamp. Ships far out at sea "
    "watched for its beam, and the sailors were grateful. One stormy night, a small boat drifted toward "
    "the rocks, and he rowed out alone to guide it home."
)


def direct(runs: int, ns: list[int]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from omnivox.backends.piper import PiperSynthesizer
    from omnivox.serving.registry import EMBEDDED_VOICES

    model = EMBEDDED_VOICES["en_US-joe-medium"]()
    one, many = PiperSynthesizer(model), PiperSynthesizer(model, parallel=default_threads())

    def say(voice: PiperSynthesizer) -> float:
        return sum(a.duration for a in voice.synthesize(PARAGRAPH))

    def serial(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            say(one)
        return time.perf_counter() - start

    def parallel(n: int) -> float:
        start = time.perf_counter()
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda _: say(many), range(n)))
        return time.perf_counter() - start

    say(one)  # warm-up
    say(many)
    print(f"speech per text: {say(one):.1f} s; cores: {default_threads()}")
    print(f"{'n':>2} | {'serial':>8} | {'parallel':>8} | parallel / serial | each run")
    for n in ns:
        times: dict[str, list[float]] = {"serial": [], "parallel": []}
        for _ in range(runs):
            times["serial"].append(serial(n))
            times["parallel"].append(parallel(n))
        a, b = (statistics.median(times[k]) for k in ("serial", "parallel"))
        each = "  ".join(f"{k}: " + " ".join(f"{t:.2f}" for t in v) for k, v in times.items())
        print(f"{n:>2} | {a:>7.2f}s | {b:>7.2f}s | {b / a:>17.2f} | {each}")


def _row(n: int, label: str, times: dict[str, list[float]]) -> None:
    serial, parallel = (statistics.median(times[name]) for name in SETTINGS)
    each = "  ".join(f"{name}: " + " ".join(f"{t:.2f}" for t in times[name]) for name in SETTINGS)
    print(f"{n:>2} | {label:<26} | {serial:>7.2f}s | {parallel:>7.2f}s | {parallel / serial:>17.2f} | {each}")


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
    parser.add_argument("--direct", action="store_true", help="the voice alone, in this process")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: all cores)")
    args = parser.parse_args()
    print(f"load before: {_uptime()}")
    if args.direct:
        direct(args.runs, args.n)
        print(f"load after: {_uptime()}")
        return
    with contextlib.ExitStack() as stack:
        clients = {}
        model: dict[str, Any] = {"context_window": 1024}
        if args.threads is not None:
            model["threads"] = args.threads
        for name, parallel in SETTINGS.items():
            url = stack.enter_context(server_process(models=[model], synthesis={"parallel": parallel}))
            clients[name] = stack.enter_context(httpx.Client(base_url=url, timeout=600))
        print(f"{'n':>2} | {'measure':<26} | {'serial':>8} | {'parallel':>8} | parallel / serial | each run")
        for n in args.n:
            for measure in measures(args.tokens, args.voice, n):
                times: dict[str, dict[str, list[float]]] = {}
                for client in clients.values():
                    measure(client)  # warm-up
                for _ in range(args.runs):
                    for name, client in clients.items():  # taking turns
                        for label, seconds in measure(client).items():
                            times.setdefault(label, {k: [] for k in SETTINGS})[name].append(seconds)
                for label, each in times.items():
                    _row(n, label, each)
    print(f"load after: {_uptime()}")


if __name__ == "__main__":
    main()
