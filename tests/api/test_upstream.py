"""The upstream text stage (`backend = "openai"`) against a real second omnivox on loopback (serving the
fake): what passes through, what is refused, how upstream failures become OpenAI errors, and that a client
who leaves stops the upstream's work. The SDK contract suites run through it too (test_chat_sdk.py and
test_sampling_contract.py, `through_upstream`)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.backends.upstream.model import UpstreamChatModel
from omnivox.config import OPENAI_CHAT_ALIASES, LanguageModelSettings, Settings, UpstreamModelSettings
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel
from tests.conftest import FAKE_ID, serve_fake
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate
from tests.support.server import live_server

pytestmark = pytest.mark.sdk

USER = [{"role": "user", "content": "hello"}]


@contextlib.contextmanager
def front(base_url: str, **fields: Any) -> Iterator[str]:
    """An omnivox whose one chat model is the upstream at `base_url` (an OpenAI API root)."""
    entry = UpstreamModelSettings.model_validate(
        {"id": "up", "backend": "openai", "base_url": base_url, "upstream_model": FAKE_ID, **fields}
    )
    worker = ModelWorker("up", 4)
    served = ServedModel("up", UpstreamChatModel(entry, worker), aliases=OPENAI_CHAT_ALIASES)
    app = create_app(Settings(models=[LanguageModelSettings(id="up")]), catalog=ModelCatalog([served]))
    try:
        with live_server(app) as url:
            yield url
    finally:
        worker.shutdown()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A TCP server on loopback that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        sock.close()


def _chat(url: str, **fields: Any) -> httpx.Response:
    body = {"model": "gpt-4o-audio-preview", "messages": USER, "temperature": 0, **fields}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    validate(body, "ErrorResponse")
    return dict(body["error"])


def test_models_lists_the_upstream_model_with_the_window_it_states() -> None:
    with (
        serve_fake(FakeLanguageModel(context_window=1234), upstream=False) as (back, _),
        front(f"{back}/v1") as url,
    ):
        card = openai.OpenAI(base_url=f"{url}/v1", api_key="x").models.retrieve("up")
        assert card.id == "up" and card.model_extra and card.model_extra["context_window"] == 1234
    with serve_fake(upstream=False) as (back, _), front(f"{back}/v1", context_window=99) as url:
        assert httpx.get(f"{url}/v1/models/up").json()["context_window"] == 99  # the settings win


@pytest.mark.parametrize(
    ("unsupported", "fields", "param"),
    [
        ("n", {"n": 2}, "n"),
        ("logit_bias", {"logit_bias": {"65": 5}}, "logit_bias"),
        ("logprobs", {"logprobs": True}, "logprobs"),
        ("seed", {"seed": 1}, "seed"),
        ("response_format", {"response_format": {"type": "json_object"}}, "response_format"),
        ("tools", {"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools"),
        (
            "tool_choice",
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            },
            "tool_choice",
        ),
    ],
)
def test_what_the_upstream_does_not_honour_is_refused_naming_it(
    unsupported: str, fields: dict[str, Any], param: str
) -> None:
    with serve_fake(upstream=False) as (back, fake), front(f"{back}/v1", unsupported=[unsupported]) as url:
        error = _error(_chat(url, **fields), 400)
        assert (error["param"], error["code"]) == (param, "unsupported_parameter")
        assert fake.appends == 0


def test_an_upstream_refusal_is_a_400_with_its_message_and_code() -> None:
    fake = FakeLanguageModel(context_window=64)
    long = [{"role": "user", "content": "x" * 200}]
    with serve_fake(fake, upstream=False) as (back, _), front(f"{back}/v1") as url:
        for stream in (False, True):  # a streamed answer waits for the upstream's status
            error = _error(_chat(url, messages=long, stream=stream), 400)
            assert error["code"] == "context_length_exceeded" and "upstream" in error["message"]


def test_an_unreachable_upstream_is_a_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here
    with front(f"http://127.0.0.1:{port}/v1") as url:
        for stream in (False, True):
            error = _error(_chat(url, stream=stream), 502)
            assert error["code"] == "upstream_error" and f"127.0.0.1:{port}" in error["message"]
        with pytest.raises(openai.InternalServerError) as raised:
            openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0).chat.completions.create(
                model="gpt-4o-audio-preview",
                messages=USER,  # type: ignore[arg-type]
            )
        assert raised.value.status_code == 502


def test_an_upstream_that_does_not_answer_is_a_504_not_a_hang() -> None:
    with silent_server() as silent, front(silent, read_timeout=0.5) as url:
        started = time.monotonic()
        for stream in (False, True):
            error = _error(_chat(url, stream=stream), 504)
            assert error["code"] == "upstream_timeout" and "0.5 s" in error["message"]
        assert time.monotonic() - started < 10


def test_a_client_that_leaves_stops_the_upstream() -> None:
    fake = FakeLanguageModel(lambda _: "z" * 100_000, delay=0.01)  # 40 s for its whole window
    with serve_fake(fake, upstream=False) as (back, _), front(f"{back}/v1") as url:
        # streamed: the client reads a little and closes the connection
        with httpx.stream(
            "POST",
            f"{url}/v1/chat/completions",
            json={"model": "up", "messages": USER, "stream": True, "temperature": 0},
            timeout=30,
        ) as response:
            for _ in zip(range(5), response.iter_lines(), strict=False):
                pass
        _stopped(fake)
        # not streamed: the client gives up waiting
        with pytest.raises(httpx.ReadTimeout):
            body = {"model": "up", "messages": USER, "temperature": 0}
            httpx.post(f"{url}/v1/chat/completions", json=body, timeout=1.0)
        _stopped(fake)


def _stopped(fake: FakeLanguageModel) -> None:
    """The upstream's generation stops within a second and stays stopped."""
    deadline = time.monotonic() + 5
    while True:
        before = fake.appends
        time.sleep(0.5)
        if fake.appends == before:
            break
        assert time.monotonic() < deadline, "the upstream went on generating for a client that left"
    assert fake.appends < 50_000


def test_the_upstream_key_is_sent_from_the_settings_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UPSTREAM_TEST_KEY", "sk-upstream")
    with serve_fake(upstream=False, api_keys=["sk-upstream"]) as (back, _):
        with front(f"{back}/v1", api_key="sk-upstream") as url:
            assert _chat(url).status_code == 200
        with front(f"{back}/v1", api_key_env="UPSTREAM_TEST_KEY") as url:
            assert _chat(url).status_code == 200
        with front(f"{back}/v1") as url:  # no key: the upstream's 401 is omnivox's failure, not the client's
            error = _error(_chat(url), 502)
            assert "401" in error["message"]
    with pytest.raises(ValueError, match="not both"):
        UpstreamModelSettings.model_validate(
            {"id": "x", "backend": "openai", "base_url": "http://h/v1", "upstream_model": "m"}
            | {"api_key": "a", "api_key_env": "B"}
        )
