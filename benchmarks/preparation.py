"""What a chat request's preparation costs at and above the limits (docs/configuration.md `[limits]`):
planning (messages, schema -> grammar, checked), and the model compiling it (llguidance), in this
process; then, through a server, how long a short request takes while hostile clients send requests
at and above the limits.

    .venv/bin/python -m benchmarks.preparation [--runs 5]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks.server import server_process
from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.backends.logits.structured import schema_grammar
from omnivox.chat.structured import measure_schema
from omnivox.config import EMBEDDED_CHAT_MODEL, RequestLimits
from omnivox.errors import InvalidRequest
from omnivox.serving.registry import resolve_source

LIMITS = RequestLimits()
SHORT = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


def enum_schema(values: int) -> dict[str, Any]:
    enum = {"type": "string", "enum": [f"value-{i}" for i in range(values)]}
    return {"type": "object", "properties": {"v": enum}, "required": ["v"]}


def wide_schema(properties: int) -> dict[str, Any]:
    names = [f"p{i}" for i in range(properties)]
    return {"type": "object", "properties": {n: {"type": "integer"} for n in names}, "required": names}


def timed(run: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def refused(schema: dict[str, Any]) -> None:
    """Refused by the plan's count of the schema (`[limits]`), before any grammar is made."""
    try:
        measure_schema(schema, LIMITS, "schema")
    except InvalidRequest:
        return
    raise AssertionError("not refused")


def in_process(runs: int) -> None:
    model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=512)
    cases = {
        f"enum of {LIMITS.max_schema_enum_values} values": enum_schema(LIMITS.max_schema_enum_values),
        f"{LIMITS.max_schema_properties} integer properties": wide_schema(LIMITS.max_schema_properties),
    }
    for name, schema in cases.items():
        grammar = schema_grammar(schema, param="schema")
        model.constrain(grammar).close()  # the model's view of its vocabulary, built once
        # a new title each time: the check and the model's matcher are cached per grammar text
        check = timed(lambda s=schema: schema_grammar(s | {"title": str(time.time())}, param="s"), runs)
        compiled = timed(
            lambda s=schema: model.constrain(schema_grammar(s | {"title": str(time.time())}, param="s")), runs
        )
        size = len(grammar) / 1024
        print(
            f"{name:32s} grammar {size:7.1f} KiB  check {check:7.1f} ms  check + compile {compiled:6.1f} ms"
        )
    too_big = timed(lambda: refused(enum_schema(20_000)), runs)
    print(f"{'enum of 20000 values (refused)':32s} {too_big:.1f} ms")
    model.close()


def _post(client: httpx.Client, body: dict[str, Any]) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.post("/v1/chat/completions", json={"model": SHORT["model"], **body}).status_code
    return status, time.perf_counter() - started


def under_attack(runs: int) -> None:
    parts = [{"type": "text", "text": "a"}]
    hostile = [
        {"messages": [{"role": "user", "content": parts * 20_000}]},
        {"messages": SHORT["messages"], "response_format": _format(enum_schema(20_000))},
        {"messages": [{"role": "user", "content": parts * LIMITS.max_content_parts}], "max_tokens": 1},
        {"messages": SHORT["messages"], "response_format": _format(enum_schema(1000)), "max_tokens": 1},
    ]
    with (
        server_process(models=[{"context_window": 2048}]) as url,
        httpx.Client(base_url=url, timeout=300) as c,
    ):
        _post(c, SHORT)
        quiet = statistics.median(_post(c, SHORT)[1] for _ in range(runs)) * 1000
        loaded = []
        for _ in range(runs):
            with concurrent.futures.ThreadPoolExecutor(len(hostile) * 2) as pool:
                futures = [pool.submit(_post, c, body) for body in hostile * 2]
                time.sleep(0.05)
                loaded.append(_post(c, SHORT)[1])
                statuses = sorted(f.result()[0] for f in futures)
        print(f"hostile statuses {statuses}")
        print(f"short request: quiet {quiet:.0f} ms, under attack {statistics.median(loaded) * 1000:.0f} ms")


def _format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    in_process(args.runs)
    under_attack(args.runs)


if __name__ == "__main__":
    main()
