"""Load test on loopback: concurrent streaming chat clients against `omnivox serve` (embedded SmolLM2),
bounded in requests and in time, reporting throughput, latency percentiles, errors by kind and the
server's memory over the run.

    .venv/bin/python -m benchmarks.load [--concurrency 4,8,12] [--requests 64] [--duration 300]
        [--max-tokens 128] [--abandon-fraction 0.25] [--json results.json]

Each value of `--concurrency` is one phase on the same server, run one after another: C clients, each
sending one streaming request (`stream_options.include_usage`) after another until the phase has sent
`--requests` requests or `--duration` seconds have passed (no request starts after that; those in flight
finish). The server admits `--max-queued` requests per model (running + waiting, its
`max_queued_requests`) and answers 503 `server_overloaded` beyond, so a concurrency above it shows the
503s: a client that got one waits `--backoff` seconds and tries again. A 503 does not count toward
`--requests` (so phases above and below the limit complete alike); the retries are bounded by the time.

With `--abandon-fraction F`, round(F * C) of the clients are "abandoning": each of their requests asks
for `--abandon-tokens` tokens and closes the connection after `--abandon-after` content chunks. They are
reported apart. If the server kept generating for a client that left, the completing clients would see
their latency grow by the abandoned work and the cancellation probes below would wait for it.

Cancellation probes (`--probes`, after the phases, server otherwise idle), each: a 1-token request on
prompt A, then one on prompt B (its time to first token is the quiet figure); then a stream on prompt A
asking for `--abandon-tokens` tokens, closed after `--abandon-after` content chunks, and at once the
1-token request on prompt B again. Both requests on B evaluate B after A, so the difference between their
TTFTs is how long the model stayed busy with the abandoned generation.

Server memory is read from /proc/<pid>/status: VmRSS sampled every `--sample-interval` seconds, and VmHWM
(peak RSS), reset through /proc/<pid>/clear_refs at the start of each phase where the kernel allows, so the
peak is that of the run rather than of model loading. Threads and open file descriptors are reported too,
as leaks of either would show there first.

Latency: time to first token (TTFT) is from sending the request to the first chunk with content; total is
to `data: [DONE]`. The model's worker runs one generation at a time, so with C clients a request waits for
up to C - 1 others: TTFT is mostly queueing. Throughput counts completed requests (and their
`usage.completion_tokens`) over the phase's wall time, from its first request to its last answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from benchmarks.server import server_process

MODEL = "gpt-4o-audio-preview"
CONTEXT = 2048

PROMPTS = [
    "Write a short story about a lighthouse keeper and a storm.",
    "Explain how a bicycle stays upright while moving.",
    "Describe a busy market in the morning.",
    "Give me some advice for learning to play the piano.",
    "What are the differences between cats and dogs as pets?",
    "Tell me about the water cycle.",
    "Write a letter to a friend about a holiday by the sea.",
    "Why is the sky blue? Explain it simply.",
]


@dataclass(slots=True)
class Outcome:
    """One request as the client saw it."""

    kind: str  # ok, abandoned, http_<status>, stream_error, incomplete, timeout, transport
    status: int | None
    started: float  # monotonic, seconds
    total: float  # seconds until [DONE], the close (abandoned) or the error
    ttft: float | None = None
    content_chunks: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    detail: str = ""
    after_abandon: bool = False  # sent right after the same client closed a stream


@dataclass(slots=True)
class Memory:
    rss_kib: int
    hwm_kib: int
    threads: int
    fds: int
    cpu_s: float  # user + system CPU time of the process so far


@dataclass(slots=True)
class Phase:
    concurrency: int
    abandoning_clients: int
    wall_s: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds into phase, KiB)
    memory_start: Memory | None = None
    memory_end: Memory | None = None
    hwm_reset: bool = False
    loadavg_start: str = ""
    loadavg_end: str = ""
    started: float = 0.0  # monotonic


# --- the server process ---------------------------------------------------------------------------------


def server_pid(url: str) -> int:
    """The pid of the `omnivox serve` child started by `server_process` (which yields only the URL)."""
    port = url.rsplit(":", 1)[1]
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"serve" in cmdline and port.encode() in cmdline:
            return int(entry.name)
    raise RuntimeError(f"no omnivox serve child listening on port {port}")


def memory(pid: int) -> Memory:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "Threads"):
            fields[name] = int(value.split()[0])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
    cpu_s = (int(ticks[0]) + int(ticks[1])) / os.sysconf("SC_CLK_TCK")
    return Memory(fields["VmRSS"], fields["VmHWM"], fields["Threads"], fds, cpu_s)


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- one request ----------------------------------------------------------------------------------------


def request_body(index: int, max_tokens: int, temperature: float) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}],
        "max_completion_tokens": max_tokens,
        "temperature": temperature,
        "seed": index,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def _sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The stream's lines, cut at line ends only (SSE's rule). httpx's `aiter_lines` also cuts at the
    separators `str.splitlines` knows (U+2028, U+0085, ...), which a sampled answer may hold raw inside a
    chunk's JSON string: the 8-client phase of a run died on such a half chunk."""
    pending = b""
    async for piece in response.aiter_bytes():
        *lines, pending = (pending + piece).split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode("utf-8", "replace")
    if pending:
        yield pending.rstrip(b"\r").decode("utf-8", "replace")


async def one_request(client: httpx.AsyncClient, body: dict[str, Any], abandon_after: int | None) -> Outcome:
    """Stream one chat completion; with `abandon_after`, close the connection after that many content
    chunks (the `async with` leaving an unread response closes its connection)."""
    start = time.monotonic()
    outcome = Outcome(kind="incomplete", status=None, started=start, total=0.0)
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            outcome.status = response.status_code
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                outcome.kind = f"http_{response.status_code}"
                outcome.detail = text[:300]
                return outcome
            async for line in _sse_lines(response):
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    if outcome.kind == "incomplete":
                        outcome.kind = "ok"
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    outcome.kind = "stream_error"
                    outcome.detail = json.dumps(chunk["error"])[:300]
                    continue
                for choice in chunk.get("choices") or ():
                    if choice.get("delta", {}).get("content"):
                        outcome.content_chunks += 1
                        if outcome.ttft is None:
                            outcome.ttft = time.monotonic() - start
                    if choice.get("finish_reason"):
                        outcome.finish_reason = choice["finish_reason"]
                if chunk.get("usage"):
                    outcome.completion_tokens = chunk["usage"]["completion_tokens"]
                if abandon_after is not None and outcome.content_chunks >= abandon_after:
                    outcome.kind = "abandoned"
                    break
    except httpx.TimeoutException as exc:
        outcome.kind, outcome.detail = "timeout", repr(exc)
    except httpx.TransportError as exc:
        outcome.kind, outcome.detail = "transport", repr(exc)
    finally:
        outcome.total = time.monotonic() - start
    return outcome


# --- a phase --------------------------------------------------------------------------------------------


async def sample_rss(pid: int, phase: Phase, start: float, interval: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError, KeyError):
            phase.rss_samples.append((time.monotonic() - start, memory(pid).rss_kib))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


async def run_phase(
    client: httpx.AsyncClient, pid: int, concurrency: int, attempts: Iterator[int], args: argparse.Namespace
) -> Phase:
    """`attempts` numbers the requests of the whole run (prompt and seed), so that no two are alike:
    a repeated conversation would find its state in the server's prompt cache and not add to it."""
    abandoning = round(args.abandon_fraction * concurrency)
    phase = Phase(concurrency, abandoning)
    phase.memory_start = memory(pid)
    phase.hwm_reset = reset_peak(pid)
    phase.loadavg_start = loadavg()
    admitted = 0  # requests started and not refused with 503: what --requests bounds
    start = phase.started = time.monotonic()
    deadline = start + args.duration
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pid, phase, start, args.sample_interval, stop))

    async def run_client(abandons: bool) -> None:
        nonlocal admitted
        closed = False
        while time.monotonic() < deadline and admitted < args.requests:
            admitted += 1
            tokens = args.abandon_tokens if abandons else args.max_tokens
            body = request_body(next(attempts), tokens, args.temperature)
            outcome = await one_request(client, body, args.abandon_after if abandons else None)
            outcome.after_abandon, closed = closed, outcome.kind == "abandoned"
            phase.outcomes.append(outcome)
            if outcome.status == 503:
                admitted -= 1
                await asyncio.sleep(args.backoff)

    # abandoning clients spread among the others, so that they are not all at the head of the queue
    roles = [i * abandoning // concurrency != (i + 1) * abandoning // concurrency for i in range(concurrency)]
    await asyncio.gather(*(run_client(role) for role in roles))
    phase.wall_s = time.monotonic() - start
    stop.set()
    await sampler
    phase.memory_end = memory(pid)
    phase.loadavg_end = loadavg()
    return phase


async def short_ttft(client: httpx.AsyncClient, index: int) -> float:
    outcome = await one_request(client, request_body(index, 1, 0.0), None)
    if outcome.ttft is None:
        raise RuntimeError(f"short request failed: {outcome.kind} {outcome.detail}")
    return outcome.ttft


async def probe(
    client: httpx.AsyncClient, args: argparse.Namespace, index: int
) -> tuple[float, float, float]:
    """(TTFT of a short request on prompt B after one on prompt A; the same after a stream on prompt A
    was abandoned; that stream's lifetime). Both short requests evaluate prompt B after prompt A, so they
    differ only by what the abandoned generation still costs."""
    await short_ttft(client, index)
    idle = await short_ttft(client, index + 1)
    abandoned = await one_request(
        client, request_body(index, args.abandon_tokens, args.temperature), args.abandon_after
    )
    if abandoned.kind != "abandoned":
        raise RuntimeError(f"probe's stream was not abandoned: {abandoned.kind} {abandoned.detail}")
    after = await short_ttft(client, index + 1)
    return idle, after, abandoned.total


# --- report ---------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {f"p{q}": percentile(values, q) * 1000 for q in (50, 90, 99)} | {"max": max(values) * 1000}


def mib(kib: int) -> float:
    return kib / 1024


def summary(phase: Phase) -> dict[str, Any]:
    ok = [o for o in phase.outcomes if o.kind == "ok"]
    abandoned = [o for o in phase.outcomes if o.kind == "abandoned"]
    rejected = [o for o in phase.outcomes if o.status == 503]
    kinds: dict[str, int] = {}
    for o in phase.outcomes:
        kinds[o.kind] = kinds.get(o.kind, 0) + 1
    details = {o.kind: o.detail for o in phase.outcomes if o.detail and o.kind not in ("ok", "abandoned")}
    tokens = sum(o.completion_tokens for o in ok)
    assert phase.memory_start is not None and phase.memory_end is not None
    samples = [kib for _, kib in phase.rss_samples]
    server_cpu = phase.memory_end.cpu_s - phase.memory_start.cpu_s
    return {
        "concurrency": phase.concurrency,
        "abandoning_clients": phase.abandoning_clients,
        "attempts": len(phase.outcomes),
        "outcomes": kinds,
        "error_details": details,
        "wall_s": phase.wall_s,
        "requests_per_s": len(ok) / phase.wall_s,
        "completion_tokens": tokens,
        "completion_tokens_per_s": tokens / phase.wall_s,
        "finish_reasons": {
            reason: sum(1 for o in ok if o.finish_reason == reason)
            for reason in {o.finish_reason for o in ok}
        },
        "ttft_ms": spread([o.ttft for o in ok if o.ttft is not None]),
        "total_ms": spread([o.total for o in ok]),
        "abandoned_ttft_ms": spread([o.ttft for o in abandoned if o.ttft is not None]),
        "abandoned_closed_after_ms": spread([o.total for o in abandoned]),
        "rejected_503_answered_ms": spread([o.total for o in rejected]),
        "rejected_503_right_after_abandon": sum(1 for o in rejected if o.after_abandon),
        "memory": {
            "rss_start_mib": mib(phase.memory_start.rss_kib),
            "rss_end_mib": mib(phase.memory_end.rss_kib),
            "rss_growth_mib": mib(phase.memory_end.rss_kib - phase.memory_start.rss_kib),
            "rss_sampled_min_mib": mib(min(samples)) if samples else None,
            "rss_sampled_max_mib": mib(max(samples)) if samples else None,
            "samples": len(samples),
            "rss_series_mib": [[round(t, 1), round(mib(kib), 1)] for t, kib in phase.rss_samples],
            "peak_vmhwm_mib": mib(phase.memory_end.hwm_kib),
            "peak_reset_at_start": phase.hwm_reset,
            "threads": [phase.memory_start.threads, phase.memory_end.threads],
            "fds": [phase.memory_start.fds, phase.memory_end.fds],
        },
        "server_cpu_s": server_cpu,
        "server_cpu_share": server_cpu / phase.wall_s / (os.cpu_count() or 1),
        "completion_tokens_per_server_cpu_s": tokens / server_cpu if server_cpu else None,
        "loadavg": [phase.loadavg_start, phase.loadavg_end],
        "requests": [asdict(o) | {"started": o.started - phase.started} for o in phase.outcomes],
    }


def fmt(spread_ms: dict[str, float] | None) -> str:
    if spread_ms is None:
        return "-"
    return (
        " / ".join(f"{spread_ms[k]:.0f}" for k in ("p50", "p90", "p99")) + f" ms (max {spread_ms['max']:.0f})"
    )


def print_phase(s: dict[str, Any], args: argparse.Namespace) -> None:
    clients = f"{s['concurrency']} clients"
    if s["abandoning_clients"]:
        clients += f" ({s['abandoning_clients']} abandoning after {args.abandon_after} chunks)"
    print(f"\n== {clients}, up to {args.requests} requests / {args.duration:.0f} s")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
    print(f"  attempts {s['attempts']}: {outcomes}")
    for kind, detail in s["error_details"].items():
        print(f"    {kind}: {detail}")
    print(
        f"  wall {s['wall_s']:.1f} s: {s['requests_per_s']:.2f} completed req/s, "
        f"{s['completion_tokens_per_s']:.1f} completion tok/s ({s['completion_tokens']} tokens; "
        f"finish {s['finish_reasons']})"
    )
    print(f"  TTFT  p50/p90/p99  {fmt(s['ttft_ms'])}")
    print(f"  total p50/p90/p99  {fmt(s['total_ms'])}")
    if s["abandoning_clients"]:
        print(f"  abandoned: TTFT {fmt(s['abandoned_ttft_ms'])}")
        print(f"  abandoned: closed after {fmt(s['abandoned_closed_after_ms'])}")
    if s["rejected_503_answered_ms"]:
        print(
            f"  503 answered in {fmt(s['rejected_503_answered_ms'])}; "
            f"{s['rejected_503_right_after_abandon']} of them sent right after the client closed a stream"
        )
    m = s["memory"]
    print(
        f"  server RSS start {m['rss_start_mib']:.1f} MiB, end {m['rss_end_mib']:.1f} MiB "
        f"(growth {m['rss_growth_mib']:+.1f} MiB); sampled {m['rss_sampled_min_mib']:.1f}-"
        f"{m['rss_sampled_max_mib']:.1f} MiB ({m['samples']} samples); "
        f"peak VmHWM {m['peak_vmhwm_mib']:.1f} MiB"
        + ("" if m["peak_reset_at_start"] else " (since start-up: reset not permitted)")
    )
    print(f"  threads {m['threads'][0]} -> {m['threads'][1]}, fds {m['fds'][0]} -> {m['fds'][1]}")
    print(
        f"  server CPU {s['server_cpu_s']:.0f} s ({s['server_cpu_share']:.0%} of all cores over the phase); "
        f"load average {s['loadavg'][0]} -> {s['loadavg'][1]}"
    )


def print_scaling(phases: list[dict[str, Any]]) -> None:
    """Aggregate completion tokens/s of each phase against the first (1 client, where it ran first)."""
    base = phases[0]["completion_tokens_per_s"] if phases else 0.0
    if len(phases) < 2 or not base:
        return
    print(
        "scaling: "
        + ", ".join(
            f"{p['concurrency']} clients {p['completion_tokens_per_s'] / base:.2f}x" for p in phases[1:]
        )
        + f" (of {phases[0]['concurrency']} client(s): {base:.1f} tok/s)"
    )


# --- main -----------------------------------------------------------------------------------------------


async def run(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    limits = httpx.Limits(
        max_connections=max(concurrencies) + 4, max_keepalive_connections=max(concurrencies)
    )
    async with httpx.AsyncClient(base_url=url, timeout=args.timeout, limits=limits) as client:
        # warm-up: every prompt once, and one abandoned stream, before the baseline
        for index in range(len(PROMPTS)):
            await one_request(client, request_body(index, 16, args.temperature), None)
        await one_request(client, request_body(0, args.abandon_tokens, args.temperature), args.abandon_after)
        await asyncio.sleep(1.0)
        loaded = memory(pid)
        phases = []
        attempts = itertools.count(len(PROMPTS) + 1)  # after the warm-up's
        for concurrency in concurrencies:
            phases.append(summary(await run_phase(client, pid, concurrency, attempts, args)))
            print_phase(phases[-1], args)
        print_scaling(phases)
        probes = [await probe(client, args, i) for i in range(args.probes)]
        await asyncio.sleep(args.settle)
        settled = memory(pid)
    result: dict[str, Any] = {
        "phases": phases,
        "server_rss_after_warmup_mib": mib(loaded.rss_kib),
        "server_rss_after_settle_mib": mib(settled.rss_kib),
        "server_rss_growth_mib": mib(settled.rss_kib - loaded.rss_kib),
        "server_vmhwm_final_mib": mib(settled.hwm_kib),
        "server_threads": [loaded.threads, settled.threads],
        "server_fds": [loaded.fds, settled.fds],
    }
    if probes:
        result["probes"] = {
            "short_ttft_idle_ms": [p[0] * 1000 for p in probes],
            "short_ttft_after_abandon_ms": [p[1] * 1000 for p in probes],
            "abandoned_stream_lifetime_ms": [p[2] * 1000 for p in probes],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="8", help="clients; a comma list runs one phase for each")
    parser.add_argument("--requests", type=int, default=64, help="requests per phase, 503s not counted")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds per phase; none start after")
    parser.add_argument("--max-tokens", type=int, default=128, help="max_completion_tokens of each request")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--abandon-fraction", type=float, default=0.0, help="share of abandoning clients")
    parser.add_argument("--abandon-after", type=int, default=3, help="content chunks read before closing")
    parser.add_argument("--abandon-tokens", type=int, default=1024, help="tokens an abandoned request asks")
    parser.add_argument("--probes", type=int, default=5, help="cancellation probes after the phases")
    parser.add_argument("--backoff", type=float, default=1.0, help="seconds a client waits after a 503")
    parser.add_argument("--max-queued", type=int, default=8, help="the server's max_queued_requests")
    parser.add_argument("--threads", type=int, help="the model's CPU threads (default: all usable cores)")
    parser.add_argument("--max-batch", type=int, help="the model's max_batch (default: the server's)")
    parser.add_argument(
        "--prompt-cache-mib", type=int, help="the model's prompt_cache_mib (default: the server's default)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="per-request timeout, seconds")
    parser.add_argument("--sample-interval", type=float, default=0.5, help="seconds between RSS samples")
    parser.add_argument("--settle", type=float, default=5.0, help="idle seconds before the final RSS")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    print(
        f"{os.cpu_count()} CPUs ({cpu}), {platform.platform()}; load average {loadavg()}\n"
        f"embedded SmolLM2, {CONTEXT}-token window, max_queued_requests {args.max_queued}, "
        f"max_completion_tokens {args.max_tokens}, temperature {args.temperature}, prompt_cache_mib "
        f"{'default' if args.prompt_cache_mib is None else args.prompt_cache_mib}, threads "
        f"{'default' if args.threads is None else args.threads}, max_batch "
        f"{'default' if args.max_batch is None else args.max_batch}"
    )
    started = time.monotonic()
    model: dict[str, Any] = {"context_window": CONTEXT}
    if args.prompt_cache_mib is not None:
        model["prompt_cache_mib"] = args.prompt_cache_mib
    if args.threads is not None:
        model["threads"] = args.threads
    if args.max_batch is not None:
        model["max_batch"] = args.max_batch
    with server_process(models=[model], max_queued_requests=args.max_queued) as url:
        pid = server_pid(url)
        result = asyncio.run(run(url, pid, args))
    result["elapsed_s"] = time.monotonic() - started
    result["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result["machine"] = {"cpus": os.cpu_count(), "cpu": cpu, "platform": platform.platform()}

    if "probes" in result:
        idle = result["probes"]["short_ttft_idle_ms"]
        after = result["probes"]["short_ttft_after_abandon_ms"]
        lifetime = result["probes"]["abandoned_stream_lifetime_ms"]
        print(
            f"\ncancellation probes ({args.probes}): TTFT of a 1-token request on a quiet server "
            f"median {statistics.median(idle):.0f} ms (max {max(idle):.0f}); sent right after closing a "
            f"{args.abandon_tokens}-token stream after {args.abandon_after} chunks: median "
            f"{statistics.median(after):.0f} ms (max {max(after):.0f}); the abandoned streams lived "
            f"{statistics.median(lifetime):.0f} ms"
        )
    print(
        f"server RSS after warm-up {result['server_rss_after_warmup_mib']:.1f} MiB, after the run and "
        f"{args.settle:.0f} s idle {result['server_rss_after_settle_mib']:.1f} MiB "
        f"(growth {result['server_rss_growth_mib']:+.1f} MiB); threads {result['server_threads']}, "
        f"fds {result['server_fds']}; elapsed {result['elapsed_s']:.0f} s"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
