"""A hostile client cannot hold the server by what it asks to have prepared: requests above the
preparation limits get a 400 naming the parameter, at once; requests at the limits are prepared off the
event loop and off the model's thread; either way another client's short request is not held by them.
(Before: 20,000 one-letter parts held the server 58 s, a 20,000-value enum 32 s.) How long the short
request takes under attack is a speed figure, measured by `benchmarks.preparation` (docs/benchmarks.md);
the bound here only tells "not held" from "held"."""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.api.app import create_app
from omnivox.config import RequestLimits, load_settings
from tests.support.server import live_server

pytestmark = pytest.mark.model

LIMITS = RequestLimits()
SHORT = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}


def _enum_schema(values: int) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "pick",
            "schema": {
                "type": "object",
                "properties": {"v": {"type": "string", "enum": [f"value-{i}" for i in range(values)]}},
                "required": ["v"],
            },
        },
    }


def _nested(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


def _parts(count: int) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "a"} for _ in range(count)]}]


HOSTILE: dict[str, tuple[dict[str, Any], str | None]] = {
    "20,000 one-letter parts": ({"messages": _parts(20_000)}, "messages[0].content"),
    "a million one-letter parts": ({"messages": _parts(1_000_000)}, None),
    "a million empty arrays": ({"messages": SHORT["messages"], "x": [[]] * 1_000_000}, None),
    "3,000 messages": (
        {"messages": [{"role": "user", "content": "a"}] * 3000},
        "messages",
    ),
    "a 20,000-value enum": (
        {"messages": SHORT["messages"], "response_format": _enum_schema(20_000)},
        "response_format.json_schema.schema",
    ),
    "200 tools": (
        {
            "messages": SHORT["messages"],
            "tools": [
                {"type": "function", "function": {"name": f"f{i}", "parameters": {"type": "object"}}}
                for i in range(200)
            ],
        },
        "tools",
    ),
    "12 levels of nesting": (
        {
            "messages": SHORT["messages"],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "deep", "schema": _nested(12)},
            },
        },
        "response_format.json_schema.schema",
    ),
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store: Path = tmp_path_factory.mktemp("store") / "audio.sqlite3"
    settings = load_settings(models=[{"context_window": 2048}], synthesis={"store": str(store)})
    with live_server(create_app(settings)) as base:
        yield base


def _post(url: str, body: dict[str, Any]) -> tuple[httpx.Response, float]:
    """The response and the seconds it took, not counting the client's JSON encoding."""
    content = json.dumps({"model": SHORT["model"], **body}).encode()
    headers = {"content-type": "application/json"}
    started = time.monotonic()
    response = httpx.post(f"{url}/v1/chat/completions", content=content, headers=headers, timeout=120)
    return response, time.monotonic() - started


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_request_above_a_limit_is_refused_at_once_naming_the_parameter(url: str, name: str) -> None:
    body, param = HOSTILE[name]
    response, seconds = _post(url, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert seconds < 2.0  # measured 0.0x-0.3 s; was 32-58 s before the limits


def _short_latency(url: str) -> float:
    response, seconds = _post(url, SHORT)
    assert response.status_code == 200
    return seconds


def test_hostile_clients_do_not_hold_a_short_request(url: str) -> None:
    quiet = statistics.median(_short_latency(url) for _ in range(3))
    at_limits = [  # accepted: prepared in full, then one token each
        {"messages": _parts(LIMITS.max_content_parts), "max_tokens": 1},
        {
            "messages": SHORT["messages"],
            "response_format": _enum_schema(LIMITS.max_schema_enum_values),
            "max_tokens": 1,
        },
    ]
    above = [body for body, _ in HOSTILE.values()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(above) + len(at_limits)) as pool:
        hostile = [pool.submit(_post, url, body) for body in above * 2 + at_limits]
        time.sleep(0.05)  # the hostile requests are on their way first
        loaded = _short_latency(url)
        statuses = sorted(f.result()[0].status_code for f in hostile)
    assert statuses == [200] * len(at_limits) + [400] * (2 * len(above))
    print(f"short request: quiet {quiet:.3f} s, under attack {loaded:.3f} s")
    # 0.34 s quiet and up to 1.1 s on a loaded CI machine (the 31 MB bodies are parsed in this process, with
    # the GIL held); held by the preparations it took 32-58 s
    assert loaded - quiet < 3.0, f"short request took {loaded:.2f} s under attack vs {quiet:.2f} s quiet"
