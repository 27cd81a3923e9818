"""The sampling contract on the real SmolLM2 through llama.cpp, checked against the runtime's raw logits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from omnivox.api.app import create_app
from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.config import EMBEDDED_CHAT_MODEL, load_settings
from omnivox.sampling.sampler import Sampler, SamplingParams, log_softmax
from omnivox.serving.registry import resolve_source
from tests.support.chat import completion
from tests.support.server import live_server

pytestmark = pytest.mark.model

MESSAGES = [{"role": "user", "content": "Describe the sea in one sentence."}]
SETTINGS = {"models": [{"context_window": 1024, "max_completion_tokens": 32}]}


@pytest.fixture(scope="module")
def runtime() -> Iterator[LlamaCppModel]:
    model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=1024)
    yield model
    model.close()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with live_server(create_app(load_settings(**SETTINGS))) as base:
        yield base


def _ask(url: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-audio-preview", "messages": MESSAGES, **fields}
    return completion(url, body, timeout=120)


def _single_token(runtime: LlamaCppModel, text: str) -> int:
    tokens = runtime.tokenize(text)
    assert len(tokens) == 1, tokens
    return tokens[0]


def test_greedy_logprobs_match_log_softmax_of_the_raw_logits(url: str, runtime: LlamaCppModel) -> None:
    body = _ask(url, temperature=0, logprobs=True, top_logprobs=5, max_tokens=8)
    entries = body["choices"][0]["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == body["choices"][0]["message"]["content"]
    logits = runtime.evaluate(PromptBuilder(runtime).tokens(MESSAGES)).logits
    for entry in entries:
        expected = log_softmax(logits)
        token = int(np.argmax(logits))
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert entry["top_logprobs"][0]["logprob"] == entry["logprob"]
        assert entry["logprob"] == pytest.approx(float(expected[token]), abs=1e-6)
        assert bytes(entry["bytes"]) == runtime.token_bytes(token)
        top = np.argsort(expected)[::-1][:5]
        assert [a["logprob"] for a in entry["top_logprobs"]] == pytest.approx(
            expected[top].tolist(), abs=1e-6
        )
        logits = runtime.append(token)


def test_logit_bias_plus_100_forces_a_token(url: str, runtime: LlamaCppModel) -> None:
    token = _single_token(runtime, " blue")
    body = _ask(url, temperature=1.0, logit_bias={str(token): 100}, max_tokens=5)
    assert body["choices"][0]["message"]["content"] == " blue" * 5


def test_logit_bias_minus_100_removes_the_greedy_first_token(url: str, runtime: LlamaCppModel) -> None:
    plain = _ask(url, temperature=0, logprobs=True, max_tokens=6)
    first = plain["choices"][0]["logprobs"]["content"][0]
    token_id = _single_token(runtime, first["token"])
    biased = _ask(url, temperature=0, logprobs=True, max_tokens=6, logit_bias={str(token_id): -100})
    assert biased["choices"][0]["logprobs"]["content"][0]["token"] != first["token"]
    assert biased["choices"][0]["message"]["content"] != plain["choices"][0]["message"]["content"]


def test_penalties_change_the_raw_logits_by_exactly_the_formula(runtime: LlamaCppModel) -> None:
    prompt = PromptBuilder(runtime).tokens(MESSAGES)
    logits = runtime.evaluate(prompt).logits
    sampler = Sampler(SamplingParams(temperature=0, frequency_penalty=0.7, presence_penalty=-0.4))
    generated: list[int] = []
    for _ in range(12):
        token = int(np.argmax(sampler.adjust(logits)))
        sampler.observe(token)
        generated.append(token)
        logits = runtime.append(token)
    raw = logits.copy()
    adjusted = sampler.adjust(logits)
    counts = np.bincount(generated, minlength=raw.size).astype(np.float32)
    expected = raw - counts * 0.7 - (counts > 0) * -0.4
    np.testing.assert_allclose(adjusted, expected, rtol=0, atol=1e-5)
    untouched = counts == 0
    assert (adjusted[untouched] == raw[untouched]).all()


def test_seed_reproduces_across_server_restarts_and_differs_between_seeds() -> None:
    def run(seed: int) -> list[str]:
        with live_server(create_app(load_settings(**SETTINGS))) as base:
            body = _ask(base, temperature=1.0, seed=seed, n=2, max_tokens=16)
        return [c["message"]["content"] for c in body["choices"]]

    first = run(2024)
    assert run(2024) == first
    assert run(7) != first
    assert first[0] != first[1]


def test_presence_penalty_reduces_repetition(url: str) -> None:
    def distinct_share(**fields: Any) -> float:
        entries = _ask(url, temperature=0, logprobs=True, max_tokens=32, **fields)["choices"][0]["logprobs"]
        tokens = [e["token"] for e in entries["content"]]
        return len(set(tokens)) / len(tokens)

    assert distinct_share(presence_penalty=2.0, frequency_penalty=2.0) > distinct_share(
        frequency_penalty=-2.0
    )
