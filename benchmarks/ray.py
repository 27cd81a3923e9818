"""What Ray Serve costs and what it buys (docs/scaling.md, docs/benchmarks.md):

    .venv/bin/python -m benchmarks.ray --runs 7 --tokens 200 --seconds 15

1. CPU per token and time to first token of one streamed request, through omnivox as one process and
   through omnivox on a two-node Ray cluster on loopback (tests/support/ray_cluster.py: ingress on the
   head, the language model on the worker), the model a fake that spends no CPU (`instant`), so what is
   counted is the serving path's own: the CPU time of every process the benchmark started (server, or
   every Ray process) over the tokens streamed, less what those processes spend idle over the same time
   (Ray's upkeep: measured for 3 s before, and printed).
2. Requests per second with one and two replicas of the language model, `paced` at 10 ms per token (a
   sleep: the replicas do not compete for the two cores, so this shows Serve spreading the load, not the
   cores' capacity), `--clients` concurrent streaming clients for `--seconds`.

The client runs in this process and is not counted. Medians of `--runs`. Prints one JSON line per
figure; `uptime` before and after, as the machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.ray_cluster import free_port, omnivox_on_ray

_TICKS = os.sysconf("SC_CLK_TCK")
PROMPT = [{"role": "user", "content": "Talk."}]

_SINGLE = """
import sys, uvicorn
from omnivox.api.app import create_app
from omnivox.backends.logits.model import LogitsChatModel
from omnivox.config import LanguageModelSettings, Settings
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel
from tests.support.ray_engines import paced_chat
entries = [LanguageModelSettings(id="instant"), LanguageModelSettings(id="paced")]
catalog = ModelCatalog([ServedModel(e.id, paced_chat(e, ModelWorker(e.id, 64))) for e in entries])
settings = Settings(models=entries, speech_models=[], synthesis={"voices": [], "voice_map": {},
    "store": sys.argv[2] + "/audio.sqlite3"})
uvicorn.run(create_app(settings, catalog), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def _descendants_cpu() -> float:
    """CPU seconds (user + system) of every living process descended from this one."""
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12])) / _TICKS
    total, stack = 0.0, list(children.get(os.getpid(), []))
    while stack:
        pid = stack.pop()
        total += stats.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def stream_once(client: httpx.Client, url: str, model: str, tokens: int) -> tuple[float, int]:
    """(seconds to the first content chunk, content chunks) of one streamed request."""
    body = {"model": model, "messages": PROMPT, "max_tokens": tokens, "stream": True, "temperature": 0}
    sent = time.perf_counter()
    first, chunks = 0.0, 0
    with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content":"' in line:
                first = first or time.perf_counter()
                chunks += 1
    return first - sent, chunks


def _idle_cpu_rate(seconds: float = 3.0) -> float:
    """CPU seconds per second the started processes spend with no request (Ray's own upkeep)."""
    before, started = _descendants_cpu(), time.monotonic()
    time.sleep(seconds)
    return (_descendants_cpu() - before) / (time.monotonic() - started)


def per_token(url: str, runs: int, tokens: int) -> dict[str, float]:
    """TTFT and CPU per token of one streamed request, less the processes' idle upkeep over its time."""
    with httpx.Client(timeout=120) as client:
        stream_once(client, url, "instant", tokens)  # warm-up
        idle = _idle_cpu_rate()
        ttfts, cpus = [], []
        for _ in range(runs):
            before, started = _descendants_cpu(), time.monotonic()
            ttft, chunks = stream_once(client, url, "instant", tokens)
            time.sleep(0.3)  # let the processes finish their share (the proxy's, the replica's)
            spent = _descendants_cpu() - before - idle * (time.monotonic() - started)
            cpus.append(spent / max(chunks, 1))
            ttfts.append(ttft)
    return {
        "ttft_ms": round(statistics.median(ttfts) * 1000, 1),
        "cpu_ms_per_token": round(statistics.median(cpus) * 1000, 3),
        "idle_cpu_percent": round(idle * 100, 1),
    }


def throughput(url: str, clients: int, seconds: float, tokens: int) -> float:
    done: list[int] = []
    deadline = time.monotonic() + seconds

    def client_loop() -> None:
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < deadline:
                stream_once(client, url, "paced", tokens)
                done.append(1)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(done) / (time.monotonic() - started)


@contextlib.contextmanager
def single_process() -> Iterator[str]:
    import tempfile

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="omnivox-bench-") as folder:
        process = subprocess.Popen([sys.executable, "-c", _SINGLE, str(port), folder])
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(30)


def _settings(replicas: int, batch_ms: float):  # type: ignore[no-untyped-def]
    from omnivox.config import LanguageModelSettings, Settings

    def make(folder: Path) -> Settings:
        return Settings(
            port=free_port(),
            models=[LanguageModelSettings(id="instant"), LanguageModelSettings(id="paced")],
            speech_models=[],
            synthesis={"voices": [], "voice_map": {}, "store": str(folder / "audio.sqlite3")},
            self_check=False,
            ray={
                "batch_ms": batch_ms,
                "ingress": {"num_cpus": 0, "resources": {"head_node": 0.01}},
                "chat": {
                    "num_cpus": 0,
                    "replicas": replicas,
                    "max_ongoing_requests": 1,
                    "max_queued_requests": 64,
                    "resources": {"worker_node": 0.01},
                },
            },
        )

    return make


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--throughput-tokens", type=int, default=50, help="tokens per request, part 2")
    args = parser.parse_args()
    from omnivox.serving.catalog import Loaders
    from tests.support.ray_engines import paced_chat

    def report(what: str, **figures: object) -> None:
        print(json.dumps({"what": what, "load_1min": _load(), **figures}), flush=True)

    with single_process() as url:
        report("single process", **per_token(url, args.runs, args.tokens))
        rate = throughput(url, args.clients, args.seconds, args.throughput_tokens)
        report("single process", requests_per_s=round(rate, 2))
    for batch_ms in (20.0, 0.0):
        with omnivox_on_ray(_settings(1, batch_ms), Loaders(chat=paced_chat)) as (url, _):
            report(f"ray, batch_ms {batch_ms:g}", **per_token(url, args.runs, args.tokens))
            if batch_ms:
                rate = throughput(url, args.clients, args.seconds, args.throughput_tokens)
                report("ray, 1 chat replica", requests_per_s=round(rate, 2))
    with omnivox_on_ray(_settings(2, 20.0), Loaders(chat=paced_chat)) as (url, _):
        rate = throughput(url, args.clients, args.seconds, args.throughput_tokens)
        report("ray, 2 chat replicas", requests_per_s=round(rate, 2))


if __name__ == "__main__":
    main()
