"""API keys, rate limits (honoured by the openai SDK's retries), request ids and /metrics, on a live
server with a fake language model."""

from __future__ import annotations

import logging
import time

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from omnivox.logs import RequestIdFilter
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import serve_fake
from tests.support.audio import encode, tone
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate
from tests.support.sse import read_events

ASK = {"model": "gpt-audio", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
KEY = "sk-omnivox-test-0123456789"


def metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def sample(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_keys_required_on_v1_only_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve_fake(api_keys=[KEY, "sk-second"]) as (url, _):
        for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": KEY}):
            response = httpx.post(f"{url}/v1/chat/completions", json=ASK, headers=headers)
            assert response.status_code == 401
            validate(response.json(), "ErrorResponse")
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert response.headers["x-request-id"].startswith("req_")
        assert httpx.get(f"{url}/v1/models").status_code == 401  # every /v1 route
        assert httpx.get(f"{url}/health").status_code == 200
        assert httpx.get(f"{url}/metrics").status_code == 200
        ok = httpx.post(f"{url}/v1/chat/completions", json=ASK, headers={"Authorization": f"Bearer {KEY}"})
        assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "You said: hi"
        found = metrics(url)
    assert (
        sample(found, "omnivox_requests_total", route="/v1/chat/completions", method="POST", status="401")
        == 3
    )
    logged = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert "omnivox.access" in {r.name for r in caplog.records}
    assert KEY not in logged and "sk-wrong" not in logged


@pytest.mark.sdk
def test_sdk_with_and_without_the_key() -> None:
    with serve_fake(api_keys=[KEY]) as (url, _):
        with pytest.raises(openai.AuthenticationError) as caught:
            openai.OpenAI(base_url=f"{url}/v1", api_key="sk-nope", max_retries=0).models.list()
        assert caught.value.code == "invalid_api_key"
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        answer = client.chat.completions.create(
            model="gpt-audio", messages=[{"role": "user", "content": "yo"}], temperature=0
        )
        assert answer.choices[0].message.content == "You said: yo"


@pytest.mark.sdk
def test_sdk_waits_for_retry_after_and_succeeds() -> None:
    # 60 requests a minute: a burst of 60, then one a second
    with serve_fake(api_keys=[KEY], rate_limits={"requests_per_minute": 60}) as (url, _):
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(headers=headers) as http:
            while (response := http.get(f"{url}/v1/models")).status_code == 200:
                assert int(response.headers["x-ratelimit-remaining-requests"]) < 60
        assert response.status_code == 429
        validate(response.json(), "ErrorResponse")
        assert response.json()["error"]["code"] == "rate_limit_exceeded"
        assert response.json()["error"]["type"] == "requests"
        wait_ms = int(response.headers["retry-after-ms"])
        assert 0 < wait_ms <= 1000 and response.headers["retry-after"] == "1"
        assert response.headers["x-ratelimit-limit-requests"] == "60"
        before = sample(
            metrics(url), "omnivox_requests_total", route="/v1/chat/completions", method="POST", status="429"
        )

        client = openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=2)
        while (refused := httpx.get(f"{url}/v1/models", headers=headers)).status_code == 200:
            pass  # spend what refilled meanwhile
        wait_ms = int(refused.headers["retry-after-ms"])
        started = time.monotonic()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-audio", messages=[{"role": "user", "content": "again"}], temperature=0
        )
        elapsed = time.monotonic() - started
        assert raw.parse().choices[0].message.content == "You said: again"
        assert raw.retries_taken == 1
        after = sample(
            metrics(url), "omnivox_requests_total", route="/v1/chat/completions", method="POST", status="429"
        )
        assert after - before == 1  # refused once, then admitted after the wait the server asked for
        assert elapsed >= 0.8 * wait_ms / 1000


def test_tokens_per_minute_counts_prompt_and_completion() -> None:
    fake = FakeLanguageModel(context_window=16_384)
    with serve_fake(fake, rate_limits={"tokens_per_minute": 3000}) as (url, _):  # 50 tokens a second
        long = {**ASK, "messages": [{"role": "user", "content": "x" * 3000}], "max_tokens": 5}
        first = httpx.post(f"{url}/v1/chat/completions", json=long)
        assert first.status_code == 200
        used = first.json()["usage"]["total_tokens"]
        assert used > 3000
        assert first.headers["x-ratelimit-limit-tokens"] == "3000"
        refused = httpx.post(f"{url}/v1/chat/completions", json=ASK)
        assert refused.status_code == 429 and refused.json()["error"]["type"] == "tokens"
        wait = int(refused.headers["retry-after-ms"]) / 1000
        assert (used - 3000) / 50 - 0.5 < wait < (used - 3000) / 50 + 1.5
        assert httpx.get(f"{url}/v1/models").status_code == 200  # routes that use no tokens go on
        time.sleep(wait)
        assert httpx.post(f"{url}/v1/chat/completions", json=ASK).status_code == 200


def test_no_rate_limit_headers_when_no_limits(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    response = httpx.post(f"{url}/v1/chat/completions", json=ASK)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("x-ratelimit")]


def test_request_ids_are_unique_and_on_every_response(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    ids = {
        httpx.post(f"{url}/v1/chat/completions", json=ASK).headers["x-request-id"],
        httpx.post(f"{url}/v1/chat/completions", json={"model": "nope"}).headers["x-request-id"],
        httpx.get(f"{url}/no/such/route").headers["x-request-id"],
        httpx.get(f"{url}/health").headers["x-request-id"],
    }
    assert len(ids) == 4 and all(i.startswith("req_") and len(i) == 36 for i in ids)


def test_worker_log_lines_carry_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())

    def script(_prompt: str) -> str:
        logging.getLogger("omnivox.test").info("generating")  # on the model's worker thread
        return "ok"

    with serve_fake(FakeLanguageModel(script)) as (url, _):
        response = httpx.post(f"{url}/v1/chat/completions", json=ASK)
    line = next(r for r in caplog.records if r.name == "omnivox.test")
    assert getattr(line, "request_id", None) == response.headers["x-request-id"]


def test_metrics_count_requests_tokens_and_latency() -> None:
    with serve_fake() as (url, _):
        plain = httpx.post(f"{url}/v1/chat/completions", json=ASK).json()
        body = {**ASK, "stream": True, "stream_options": {"include_usage": True}}
        events, _ = read_events(url, body)
        usage = events[-1]["usage"]
        assert httpx.post(f"{url}/v1/chat/completions", json={**ASK, "n": 0}).status_code == 400
        found = metrics(url)
    route = "/v1/chat/completions"
    assert sample(found, "omnivox_requests_total", route=route, method="POST", status="200") == 2
    assert sample(found, "omnivox_requests_total", route=route, method="POST", status="400") == 1
    assert sample(found, "omnivox_request_duration_seconds_count", route=route) == 3
    assert sample(found, "omnivox_time_to_first_token_seconds_count", model="fake-chat") == 2
    assert sample(found, "omnivox_time_to_first_token_seconds_sum", model="fake-chat") > 0
    prompt = plain["usage"]["prompt_tokens"] + usage["prompt_tokens"]
    completion = plain["usage"]["completion_tokens"] + usage["completion_tokens"]
    assert sample(found, "omnivox_tokens_total", model="fake-chat", kind="prompt") == prompt
    assert sample(found, "omnivox_tokens_total", model="fake-chat", kind="completion") == completion
    assert sample(found, "omnivox_queue_depth", runtime="fake-chat") == 0
    assert sample(found, "omnivox_queue_wait_seconds_count", runtime="fake-chat") == 2
    assert sample(found, "omnivox_model_loaded", model="fake-chat", kind="chat") == 1


def test_queue_depth_shows_admitted_requests() -> None:
    slow = FakeLanguageModel(lambda _: "z" * 400, delay=0.01)
    with serve_fake(slow) as (url, fake):
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**ASK, "stream": True}) as response:
            assert response.status_code == 200
            assert fake.generating.wait(5)
            assert sample(metrics(url), "omnivox_queue_depth", runtime="fake-chat") == 1
        deadline = time.monotonic() + 5
        while sample(metrics(url), "omnivox_queue_depth", runtime="fake-chat") != 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_metrics_of_audio_in_and_out(
    tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]
) -> None:
    with serve_fake(speech=[tiny_whisper], voices={"slt": voices["slt"]}) as (url, _):
        clip = encode(tone(seconds=1.5))
        files = {"file": ("tone.wav", clip, "audio/wav")}
        assert httpx.post(
            f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files=files
        ).is_success
        speech = {"model": "tts-1", "voice": "alloy", "input": "Hello there.", "response_format": "wav"}
        assert httpx.post(f"{url}/v1/audio/speech", json=speech).is_success
        spoken = {**ASK, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"}}
        assert httpx.post(f"{url}/v1/chat/completions", json=spoken).is_success
        found = metrics(url)
    assert sample(found, "omnivox_audio_seconds_total", direction="in") == pytest.approx(1.5, abs=0.01)
    assert sample(found, "omnivox_audio_seconds_total", direction="out") > 1.0
    assert sample(found, "omnivox_time_to_first_audio_seconds_count", endpoint="speech") == 1
    assert sample(found, "omnivox_time_to_first_audio_seconds_count", endpoint="chat") == 1
