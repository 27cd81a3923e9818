"""Bounded queues, cancellation on disconnect, concurrent requests."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel

ASK = {"model": "gpt-audio", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def test_full_queue_answers_503_at_once() -> None:
    slow = FakeLanguageModel(lambda _: "z" * 200, delay=0.01)
    with serve_fake(slow, max_pending=1) as (url, fake):
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**ASK, "stream": True}) as first:
            assert first.status_code == 200
            assert fake.generating.wait(5)
            started = time.monotonic()
            second = httpx.post(f"{url}/v1/chat/completions", json=ASK)
            assert time.monotonic() - started < 1.0
            assert second.status_code == 503
            assert second.json()["error"]["code"] == "server_overloaded"
        # the first request's slot is released once it ends (cancelled by the disconnect)
        deadline = time.monotonic() + 5
        while (
            response := httpx.post(f"{url}/v1/chat/completions", json={**ASK, "max_tokens": 3})
        ).status_code == 503:
            assert time.monotonic() < deadline, "the slot was never released"
            time.sleep(0.05)
        assert response.status_code == 200


def test_disconnect_cancels_generation() -> None:
    slow = FakeLanguageModel(lambda _: "z" * 10_000, delay=0.005)
    with serve_fake(slow) as (url, fake):
        with httpx.stream("POST", f"{url}/v1/chat/completions", json={**ASK, "stream": True}) as response:
            lines = response.iter_lines()
            for _ in range(20):
                next(lines)
        time.sleep(1.0)  # cancellation must land within a second
        appends_after_disconnect = fake.appends
        time.sleep(0.5)
        assert fake.appends == appends_after_disconnect, "generation went on after the client left"
        assert appends_after_disconnect < 5_000
        # and the model is free: the next request is not delayed by the abandoned one
        started = time.monotonic()
        quick = httpx.post(f"{url}/v1/chat/completions", json={**ASK, "max_tokens": 5})
        assert quick.status_code == 200 and time.monotonic() - started < 2.0


def test_concurrent_requests_all_complete_correctly() -> None:
    fake = FakeLanguageModel(delay=0.001)
    with serve_fake(fake) as (url, _):

        def ask(i: int) -> str:
            body = {**ASK, "messages": [{"role": "user", "content": f"number {i}"}]}
            return str(
                httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()["choices"][0][
                    "message"
                ]["content"]
            )

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(ask, range(6)))
    assert answers == [f"You said: number {i}" for i in range(6)]


def test_health(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    body = httpx.get(f"{url}/health").json()
    assert body["status"] == "ok" and body["models"] == ["fake-chat"]


def test_disconnect_cancels_a_non_streamed_answer() -> None:
    slow = FakeLanguageModel(lambda _: "z" * 10_000, delay=0.005)
    with serve_fake(slow) as (url, fake):
        with contextlib.suppress(httpx.TimeoutException):  # the client gives up and closes the connection
            httpx.post(f"{url}/v1/chat/completions", json=ASK, timeout=0.5)
        time.sleep(1.0)  # the server notices within its poll interval and cancels
        stopped_at = fake.appends
        time.sleep(0.5)
        assert fake.appends == stopped_at, "generation went on after the client left"
        assert stopped_at < 1_000
        started = time.monotonic()
        quick = httpx.post(f"{url}/v1/chat/completions", json={**ASK, "max_tokens": 5})
        assert quick.status_code == 200 and time.monotonic() - started < 2.0
