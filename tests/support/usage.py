"""Helpers for usage tests: a fake model that notes what it really did per prompt, and the admin API."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

import httpx

from omnivox.runtimes.language_model import Evaluation
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate

ADMIN = "sk-admin-usage-test-0123456789"


class CountingModel(FakeLanguageModel):
    """A fake that notes, per prompt (its text), the prompt's length, the tokens it reused, and how many
    tokens were sampled from it that were not the end: exactly what a generation is charged, however it
    ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lock = threading.Lock()
        self._current = ""
        self.prompt_tokens: dict[str, int] = {}
        self.reused: dict[str, int] = {}
        self.sampled: Counter[str] = Counter()

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        evaluation = super().evaluate(tokens, cancelled)
        with self._lock:
            self._current = self.detokenize(tokens)
            self.prompt_tokens[self._current] = len(tokens)
            self.reused[self._current] = evaluation.reused_tokens
        return evaluation

    def is_end_of_generation(self, token: int) -> bool:
        end = super().is_end_of_generation(token)
        if not end:
            with self._lock:
                self.sampled[self._current] += 1
        return end

    def of(self, words: str) -> str:
        """The prompt whose user message is `words`."""
        (found,) = [p for p in self.prompt_tokens if f"user\n{words}<|im_end|>" in p]
        return found


def page(url: str, surface: str, key: str = ADMIN, **params: Any) -> dict[str, Any]:
    """GET /v1/organization/{surface} with the admin key: a 200 whose body is OpenAI's UsageResponse."""
    response = httpx.get(
        f"{url}/v1/organization/{surface}",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    validate(body, "UsageResponse")
    return body


def results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [result for bucket in body["data"] for result in bucket["results"]]
