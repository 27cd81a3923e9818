"""The sampling parameters measured on a fake model whose logits are known exactly: the target byte of a
script has logit `confidence`, every other token 0. Reported logprobs are log-softmax of the adjusted
logits, so every formula can be checked to the last digit through the API."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from tests.conftest import serve_fake
from tests.support.fakes import VOCAB, FakeLanguageModel
from tests.support.openapi import validate
from tests.support.sse import read_events

pytestmark = [pytest.mark.sdk, pytest.mark.usefixtures("through_upstream")]
USER = [{"role": "user", "content": "hi"}]


def _lp(target: float, others: int = VOCAB - 1, other_logit: float = 0.0) -> float:
    """log-softmax of a logit `target` among `others` tokens of logit `other_logit`."""
    return target - math.log(math.exp(target) + others * math.exp(other_logit))


def _ask(url: str, **fields: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/v1/chat/completions", json={"model": "gpt-audio", "messages": USER, **fields}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    validate(body, "CreateChatCompletionResponse")
    return body


def test_logprobs_are_log_softmax_and_greedy_picks_the_top_alternative() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "abc", confidence=5.0)) as (url, _):
        body = _ask(url, temperature=0, logprobs=True, top_logprobs=3)
    content = body["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in content] == ["a", "b", "c"]
    for entry in content:
        assert entry["logprob"] == pytest.approx(_lp(5.0), abs=1e-9)
        assert entry["top_logprobs"][0]["token"] == entry["token"]
        assert entry["top_logprobs"][0]["logprob"] == entry["logprob"]
        assert entry["bytes"] == list(entry["token"].encode())
        assert len(entry["top_logprobs"]) == 3
        assert [a["logprob"] for a in entry["top_logprobs"][1:]] == pytest.approx([_lp(5.0) - 5.0] * 2)
    assert body["choices"][0]["logprobs"]["refusal"] is None


def test_logprobs_do_not_depend_on_temperature() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "abc", confidence=30.0)) as (url, _):
        cold = _ask(url, temperature=0, logprobs=True)["choices"][0]["logprobs"]["content"]
        hot = _ask(url, temperature=1.7, seed=1, logprobs=True)["choices"][0]["logprobs"]["content"]
    assert [e["logprob"] for e in cold] == [e["logprob"] for e in hot]
    assert all(e["top_logprobs"] == [] for e in cold)  # top_logprobs defaults to 0


def test_frequency_and_presence_penalties_follow_openai_formula() -> None:
    fp, pp, confidence = 1.5, 0.5, 10.0
    with serve_fake(FakeLanguageModel(lambda _: "aaaaaaaaaa", confidence=confidence)) as (url, _):
        body = _ask(url, temperature=0, logprobs=True, frequency_penalty=fp, presence_penalty=pp)
    content = body["choices"][0]["logprobs"]["content"]
    text = body["choices"][0]["message"]["content"]
    # 'a' wins while its penalised logit stays above the others' 0: 10 - 1.5k - 0.5 > 0 for k <= 6;
    # after seven 'a's its logit is 10 - 10.5 - 0.5 = -1 < 0 and another token comes
    assert text.startswith("a" * 7) and text[7] != "a"
    for k, entry in enumerate(content[:7]):
        penalised = confidence - (k * fp + (pp if k else 0.0))
        assert entry["logprob"] == pytest.approx(_lp(penalised), abs=1e-5)
    assert content[7]["logprob"] == pytest.approx(-math.log(VOCAB - 1 + math.exp(-1.0)), abs=1e-5)


def test_negative_presence_penalty_encourages_repetition() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "ab", confidence=1.0)) as (url, _):
        body = _ask(url, temperature=0, presence_penalty=-2.0, max_tokens=6)
    # after 'a', the fake wants 'b' (logit 1) but the already-used 'a' is boosted to 2
    assert body["choices"][0]["message"]["content"] == "aaaaaa"


def test_logit_bias_bans_and_forces() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "abc", confidence=5.0)) as (url, _):
        banned = _ask(url, temperature=0, logit_bias={str(ord("a")): -100}, max_tokens=1, logprobs=True)
        forced = _ask(url, temperature=1.0, seed=3, logit_bias={str(ord("z")): 100}, max_tokens=4)
        nudged = _ask(url, temperature=0, logit_bias={str(ord("a")): -2}, max_tokens=1, logprobs=True)
    assert banned["choices"][0]["message"]["content"] != "a"
    assert forced["choices"][0]["message"]["content"] == "zzzz"
    assert nudged["choices"][0]["logprobs"]["content"][0]["logprob"] == pytest.approx(_lp(3.0), abs=1e-6)


def test_logprob_tokens_concatenate_to_the_content_with_multibyte_and_stop() -> None:
    script = "héllo 🎉 wörld STOP never"
    with serve_fake(FakeLanguageModel(lambda _: script)) as (url, _):
        body = _ask(url, temperature=0, logprobs=True, top_logprobs=2, stop=["STOP"])
        events, _ = read_events(
            url,
            {
                "model": "gpt-audio",
                "messages": USER,
                "temperature": 0,
                "logprobs": True,
                "stop": "STOP",
                "stream": True,
            },
        )
    content = body["choices"][0]["message"]["content"]
    entries = body["choices"][0]["logprobs"]["content"]
    assert content == "héllo 🎉 wörld "
    assert "".join(e["token"] for e in entries) == content
    assert b"".join(bytes(e["bytes"]) for e in entries) == content.encode()
    assert len(entries) == len(content.encode())  # one entry per (byte) token
    # a token that ends inside a character shows it as bytes among the alternatives
    first_byte_of_e_acute = entries[1]
    assert first_byte_of_e_acute["token"] == "" and first_byte_of_e_acute["bytes"] == [0xC3]
    assert first_byte_of_e_acute["top_logprobs"][0]["token"] == "bytes:\\xc3"
    streamed = [
        e for event in events for c in event["choices"] if c["logprobs"] for e in c["logprobs"]["content"]
    ]
    assert streamed == entries_without_top(entries)


def entries_without_top(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "top_logprobs": []} for e in entries]


def test_n_choices_are_independent_and_reproducible() -> None:
    fake = FakeLanguageModel(lambda _: "the quick brown fox", confidence=2.0)
    with serve_fake(fake) as (url, _):
        three = _ask(url, n=3, seed=42, temperature=1.0, max_tokens=12, logprobs=True)
        again = _ask(url, n=3, seed=42, temperature=1.0, max_tokens=12, logprobs=True)
        single = _ask(url, n=1, seed=42, temperature=1.0, max_tokens=12)
    texts = [c["message"]["content"] for c in three["choices"]]
    assert [c["index"] for c in three["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3  # each choice has its own random stream
    assert texts == [c["message"]["content"] for c in again["choices"]]
    assert single["choices"][0]["message"]["content"] == texts[0]  # choice 0's stream is n=1's stream
    usage = three["usage"]
    assert usage["completion_tokens"] == sum(len(c["logprobs"]["content"]) for c in three["choices"])


def test_streamed_choices_carry_their_index_and_match_the_completion() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "one two three", confidence=2.0)) as (url, _):
        payload = {
            "model": "gpt-audio",
            "messages": USER,
            "n": 3,
            "seed": 7,
            "temperature": 1.0,
            "max_tokens": 8,
            "logprobs": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        events, done = read_events(url, payload)
        complete = _ask(url, n=3, seed=7, temperature=1.0, max_tokens=8, logprobs=True)
    assert done
    texts: dict[int, str] = {}
    roles: dict[int, int] = {}
    finishes: dict[int, str] = {}
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
        for choice in event["choices"]:
            i = choice["index"]
            if choice["delta"].get("role"):
                roles[i] = roles.get(i, 0) + 1
            texts[i] = texts.get(i, "") + (choice["delta"].get("content") or "")
            if choice["finish_reason"]:
                finishes[i] = choice["finish_reason"]
    assert roles == {0: 1, 1: 1, 2: 1}
    assert texts == {c["index"]: c["message"]["content"] for c in complete["choices"]}
    assert finishes == {c["index"]: c["finish_reason"] for c in complete["choices"]}
    assert events[-1]["usage"]["completion_tokens"] == complete["usage"]["completion_tokens"]


def test_the_prompt_is_evaluated_once_for_all_choices() -> None:
    fake = FakeLanguageModel(lambda _: "ok")
    calls: list[int] = []
    original = fake.evaluate

    def spy(tokens: Any, cancelled: Any = None) -> Any:
        calls.append(len(tokens))
        return original(tokens, cancelled)

    fake.evaluate = spy  # type: ignore[method-assign]
    with serve_fake(fake) as (url, _):
        body = _ask(url, n=4, temperature=0)
    assert len(calls) == 4 and len(set(calls)) == 1  # each choice starts from the same prompt...
    assert [c["message"]["content"] for c in body["choices"]] == ["ok"] * 4
