"""Usage per API key and model, end to end on a live server with fakes: concurrent streamed, non-streamed,
spoken and cancelled chat requests, transcriptions and speech; the counts the Usage API reports are exact
(checked against each response's `usage` and against what the fake model really generated), survive a
restart, are priced exactly by the Costs API, and no key ever appears in clear."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.api.keys import label_of
from omnivox.audio.pcm import Audio
from tests.api.test_gateway import metrics, sample
from tests.conftest import serve_fake
from tests.fuzz.fakes import FakeRecognizer, FakeVoice
from tests.support.audio import encode, tone
from tests.support.fakes import echo_script
from tests.support.openapi import validate
from tests.support.usage import ADMIN, CountingModel, page, results

KEY_A, KEY_B, KEY_C = "sk-usage-a-0123456789", "sk-usage-b-0123456789", "sk-usage-c-0123456789"
LABEL_A, LABEL_B, LABEL_C = (label_of(k) for k in (KEY_A, KEY_B, KEY_C))
CHAT = "gpt-4o-audio-preview"
PRICES = {"fake-chat": {"input": "0.10", "output": "0.40"}}  # gpt-4o-audio-preview: the defaults
SPEECH_INPUTS = ("Hello there, how are you today?", "A second, longer sentence to speak. And one more.")
CLIPS = (1.25, 2.0)  # seconds: 3.25 s heard, reported as 3 whole seconds
#: An input_audio part (the fake recogniser hears a word a second).
HEARD = {
    "type": "input_audio",
    "input_audio": {"data": base64.b64encode(encode(tone(3.0))).decode(), "format": "wav"},
}


def _script(prompt: str) -> str:
    return "z" * 20_000 if "cut me short" in prompt else echo_script(prompt)


def _ask(words: str | list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"model": CHAT, "messages": [{"role": "user", "content": words}], "temperature": 0} | fields


def _post(url: str, key: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    response = httpx.post(f"{url}{path}", headers=headers, timeout=60, **kwargs)
    assert response.status_code == 200, response.text
    return response


def _usage_of_stream(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    """The usage chunk of a streamed chat answer read to its end."""
    usage = None
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data: {"):
                chunk = json.loads(line.removeprefix("data: "))
                usage = chunk.get("usage") or usage
    assert usage is not None
    return dict(usage)


def _cut_short(url: str, key: str, words: str) -> int:
    """A stream its client closes after a few chunks; how many characters of content it received."""
    headers = {"Authorization": f"Bearer {key}"}
    body = _ask(words, stream=True)
    received = 0
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, headers=headers, timeout=60) as r:
        lines = r.iter_lines()
        for _ in range(60):
            received += next(lines).count("z")
    return received


def _idle(url: str) -> None:
    """Wait until no runtime has work admitted (a cancelled generation has noticed and stopped)."""
    deadline = time.monotonic() + 10
    while any(v for (name, _), v in metrics(url).items() if name == "omnivox_queue_depth"):
        assert time.monotonic() < deadline, "work still running"
        time.sleep(0.05)


Expected = dict[tuple[str, str], dict[str, int]]


def _add(expected: Expected, key: str, model: str, usage: dict[str, Any]) -> None:
    fields = ("requests", "input", "cached", "audio_in", "output", "audio")
    row = expected.setdefault((key, model), dict.fromkeys(fields, 0))
    row["requests"] += 1
    row["input"] += usage["prompt_tokens"]
    row["cached"] += usage["prompt_tokens_details"]["cached_tokens"]
    row["audio_in"] += usage["prompt_tokens_details"]["audio_tokens"]
    row["output"] += usage["completion_tokens"]
    row["audio"] += usage["completion_tokens_details"]["audio_tokens"]


Job = tuple[str, str, Callable[[], Any]]  # key label, model, the request (returns its usage or None)


def _chat(url: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("stream"):
        return _usage_of_stream(url, key, body)
    return dict(_post(url, key, "/v1/chat/completions", json=body).json()["usage"])


def _speech(url: str, key: str, text: str, fmt: str) -> None:
    speech = {"model": "tts-1", "voice": "alloy", "input": text, "response_format": fmt}
    _post(url, key, "/v1/audio/speech", json=speech)


def _transcription(url: str, key: str, seconds: float) -> None:
    files = {"file": ("clip.wav", encode(tone(seconds)), "audio/wav")}
    _post(url, key, "/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files)


def _traffic(url: str, fake: CountingModel) -> Expected:
    """Concurrent requests of every kind from three keys; what each key and model should be charged."""
    spoken = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
    spoken_stream = {"modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}}
    with_usage = {"stream": True, "stream_options": {"include_usage": True}}
    received: list[int] = []
    jobs: list[Job] = [
        *((LABEL_A, CHAT, partial(_chat, url, KEY_A, _ask(f"plain {i}"))) for i in range(3)),
        *(
            (
                LABEL_B,
                "fake-chat",
                partial(_chat, url, KEY_B, _ask(f"streamed {i}", **with_usage, model="fake-chat")),
            )
            for i in range(3)
        ),
        (LABEL_A, CHAT, partial(_chat, url, KEY_A, _ask("speak to me", **spoken))),
        (LABEL_A, CHAT, partial(_chat, url, KEY_A, _ask([{"type": "text", "text": "hear this"}, HEARD]))),
        (LABEL_B, CHAT, partial(_chat, url, KEY_B, _ask("speak as you go", **spoken_stream, **with_usage))),
        (LABEL_C, CHAT, lambda: received.append(_cut_short(url, KEY_C, "cut me short"))),
        *(
            ("-", "-", partial(_speech, url, KEY_C, t, f))
            for t, f in zip(SPEECH_INPUTS, ("mp3", "pcm"), strict=True)
        ),
        *(("-", "-", partial(_transcription, url, KEY_C, seconds)) for seconds in CLIPS),
    ]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: job[2](), jobs))
    expected: Expected = {}
    for (key, model, _), usage in zip(jobs, answers, strict=True):
        if usage is not None:
            _add(expected, key, model, usage)
    _idle(url)
    cut = fake.of("cut me short")
    assert fake.sampled[cut] >= received[0] >= 20  # it did generate before the client left ...
    assert fake.sampled[cut] < 20_000  # ... and stopped when it left
    expected[(LABEL_C, CHAT)] = {
        "requests": 1,
        "input": fake.prompt_tokens[cut],
        "cached": fake.reused[cut],
        "audio_in": 0,
        "output": fake.sampled[cut],
        "audio": 0,
    }
    return expected


def _by_key_and_model(url: str, start: int) -> dict[tuple[str, str], dict[str, Any]]:
    body = page(url, "usage/completions", start_time=start, group_by=["api_key_id", "model"], limit=1)
    assert len(body["data"]) == 1 and body["has_more"] is False and body["next_page"] is None
    return {(r["api_key_id"], r["model"]): r for r in results(body)}


def _check(found: dict[tuple[str, str], dict[str, Any]], expected: Expected) -> None:
    assert set(found) == set(expected)
    for group, want in expected.items():
        got = found[group]
        assert got["num_model_requests"] == want["requests"], group
        assert got["input_tokens"] == want["input"], group
        assert got["input_cached_tokens"] == want["cached"], group
        assert got["input_audio_tokens"] + got["input_cached_audio_tokens"] == want["audio_in"], group
        assert got["output_tokens"] == want["output"], group
        assert got["output_audio_tokens"] == want["audio"], group
        assert got["output_text_tokens"] == want["output"] - want["audio"], group
        assert got["input_uncached_tokens"] == want["input"] - want["cached"], group
        assert got["batch"] is None and got["project_id"] is None and got["user_id"] is None


def _expected_cost(found: dict[tuple[str, str], dict[str, Any]]) -> Decimal:
    rates = {CHAT: (Decimal("2.50"), Decimal("10.00")), "fake-chat": (Decimal("0.10"), Decimal("0.40"))}
    total = Decimal(0)
    for (_, model), r in found.items():
        rate_in, rate_out = rates[model]
        total += (r["input_tokens"] * rate_in + r["output_tokens"] * rate_out) / 1_000_000
    chars = sum(len(text) for text in SPEECH_INPUTS)
    return total + chars * Decimal("15.00") / 1_000_000 + 3250 * Decimal("0.006") / 60_000


def test_counts_are_exact_across_kinds_concurrency_and_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = CountingModel(_script, delay=0.001)
    settings: dict[str, Any] = {
        "api_keys": [KEY_A, KEY_B, KEY_C],
        "admin_api_keys": [ADMIN],
        "usage": {"store": str(tmp_path / "usage.sqlite3"), "prices": PRICES},
    }
    start = int(time.time()) - 60
    served = {"speech": [FakeRecognizer()], "voices": {"fake": FakeVoice()}}
    with serve_fake(fake, **served, **settings) as (url, _):
        expected = _traffic(url, fake)
        for words in ("plain 0", "plain 1", "plain 2"):  # what the fake generated is what was reported
            assert fake.sampled[fake.of(words)] == len(f"You said: {words}")
        found = _by_key_and_model(url, start)
        _check(found, expected)
        speeches = results(
            page(url, "usage/audio_speeches", start_time=start, group_by=["api_key_id", "model"])
        )
        assert speeches == [
            {
                "object": "organization.usage.audio_speeches.result",
                "characters": sum(len(text) for text in SPEECH_INPUTS),
                "num_model_requests": 2,
                "project_id": None,
                "user_id": None,
                "api_key_id": LABEL_C,
                "model": "tts-1",
            }
        ]
        heard = results(page(url, "usage/audio_transcriptions", start_time=start))
        assert [(r["seconds"], r["num_model_requests"], r["model"]) for r in heard] == [(3, 2, None)]
        costs = results(page(url, "costs", start_time=start))
        assert len(costs) == 1 and costs[0]["amount"] == {
            "value": float(_expected_cost(found)),
            "currency": "usd",
        }
        scraped = metrics(url)
        exposition = httpx.get(f"{url}/metrics").text
        exposition_requests = sample(
            scraped, "omnivox_usage_requests_total", api_key=LABEL_A, model=CHAT, surface="completions"
        )
        assert exposition_requests == 5
        assert expected[(LABEL_A, CHAT)]["audio_in"] > 0  # the input_audio part was charged as audio
        output_c = sample(scraped, "omnivox_usage_tokens_total", api_key=LABEL_C, model=CHAT, kind="output")
        assert output_c == expected[(LABEL_C, CHAT)]["output"]
        speech_chars = sample(scraped, "omnivox_usage_characters_total", api_key=LABEL_C, model="tts-1")
        assert speech_chars == sum(len(text) for text in SPEECH_INPUTS)

    # a new server on the same store: the same counts, and new ones add to them
    with serve_fake(CountingModel(_script), **served, **settings) as (url, _):
        assert _by_key_and_model(url, start) == found
        more = _post(url, KEY_A, "/v1/chat/completions", json=_ask("after the restart")).json()
        _add(expected, LABEL_A, CHAT, more["usage"])
        _check(_by_key_and_model(url, start), expected)
        answers = [
            httpx.get(
                f"{url}/v1/organization/{s}",
                params={"start_time": start},
                headers={"Authorization": f"Bearer {ADMIN}"},
            ).text
            for s in ("usage/completions", "usage/audio_speeches", "usage/audio_transcriptions", "costs")
        ]

    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    for key in (KEY_A, KEY_B, KEY_C, ADMIN):
        for text in (logged, exposition, *answers):
            assert key not in text
        assert key.encode() not in stored
    assert LABEL_A.encode() in stored  # the store knows keys by their labels


def test_costs_by_line_item_and_key(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "api_keys": [KEY_A],
        "admin_api_keys": [ADMIN],
        "usage": {"store": str(tmp_path / "usage.sqlite3")},
    }
    start = int(time.time()) - 60
    with serve_fake(**settings) as (url, _):
        usage = _post(url, KEY_A, "/v1/chat/completions", json=_ask("price this")).json()["usage"]
        body = page(url, "costs", start_time=start, group_by=["line_item", "api_key_id"])
    items = {r["line_item"]: r for r in results(body)}
    prompt, cached = usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]
    output = usage["completion_tokens"]
    want = {f"{CHAT}, input": prompt - cached, f"{CHAT}, output": output}
    if cached:
        want[f"{CHAT}, cached input"] = cached
    assert {name: r["quantity"] for name, r in items.items()} == want
    assert all(r["quantity_unit"] == "tokens" and r["api_key_id"] == LABEL_A for r in items.values())
    assert items[f"{CHAT}, output"]["amount"]["value"] == float(output * Decimal("10.00") / 1_000_000)
    assert items[f"{CHAT}, input"]["amount"]["value"] == float(
        (prompt - cached) * Decimal("2.50") / 1_000_000
    )
    validate(body, "UsageResponse")


class _SlowVoice(FakeVoice):
    """Takes a second to speak anything: time for the client to leave."""

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        time.sleep(1.0)
        yield from super().synthesize(text, speed=speed)


def test_a_spoken_answer_whose_client_left_is_charged_what_was_spoken(tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "api_keys": [KEY_A],
        "admin_api_keys": [ADMIN],
        "usage": {"store": str(tmp_path / "usage.sqlite3")},
    }
    start = int(time.time()) - 60
    with serve_fake(voices={"slow": _SlowVoice()}, **settings) as (url, _):
        body = _ask("say it slowly", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"})
        with pytest.raises(httpx.ReadTimeout):  # gone while the answer is being spoken
            httpx.post(
                f"{url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {KEY_A}"},
                timeout=0.6,
            )
        time.sleep(1.0)  # the voice finishes the piece it is speaking
        _idle(url)
        (found,) = results(page(url, "usage/completions", start_time=start))
    text_tokens = len("You said: say it slowly")
    assert found["num_model_requests"] == 1
    assert found["output_text_tokens"] == text_tokens
    assert found["output_audio_tokens"] > 0  # spoken, so charged, though nobody heard it
    assert found["output_tokens"] == text_tokens + found["output_audio_tokens"]
