"""Raw SSE reading, to validate the exact bytes the server sends (the SDK would hide them)."""

from __future__ import annotations

import json
from typing import Any

import httpx


def read_events(
    base_url: str, payload: dict[str, Any], timeout: float = 120.0
) -> tuple[list[dict[str, Any]], bool]:
    """POST a streaming chat request; return the decoded `data:` events and whether `[DONE]` closed them."""
    events: list[dict[str, Any]] = []
    done = False
    with httpx.stream("POST", f"{base_url}/v1/chat/completions", json=payload, timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if not line:
                continue
            assert line.startswith("data: "), line
            data = line.removeprefix("data: ")
            if data == "[DONE]":
                done = True
                continue
            assert not done, "event after [DONE]"
            events.append(json.loads(data))
    return events, done
