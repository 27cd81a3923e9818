"""Posting a chat completion in tests: a 200 whose body validates against OpenAI's schema."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.openapi import validate


def completion(url: str, body: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=timeout)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    validate(result, "CreateChatCompletionResponse")
    return result
