"""/v1/realtime over a long session: server_vad's idle timeout, the conversation cut to the model's
window as `truncation` says, pings answered while the model writes. The chat model is the fake (it
repeats the last user message) with a small window; the official SDK's Realtime client drives it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websockets.sync.client

from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel, echo_script
from tests.support.realtime import Checked, client

pytestmark = [pytest.mark.sdk, pytest.mark.model]

WINDOW = 600  # tokens: one byte each for the fake; room for about five turns of the sentence below
SENTENCE = "Please remember the number {n} and the colour blue for later."
LONG = " ".join(f"Number {n}." for n in range(1, 80))


def _script(prompt: str) -> str:
    echo = echo_script(prompt)
    return LONG if "long answer" in echo else echo


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]) -> Iterator[str]:
    model = FakeLanguageModel(_script, context_window=WINDOW, delay=0.01, confidence=40.0)
    with serve_fake(model, speech=[tiny_whisper], voices={"slt": voices["slt"]}, upstream=False) as (base, _):
        yield base


def _session(rt: Checked, **session: Any) -> None:
    rt.until("session.created")
    rt.send({"type": "session.update", "session": {"type": "realtime", **session}})
    rt.until("session.updated")


def _say(rt: Checked, text: str, *, respond: bool = True) -> dict[str, Any] | None:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    rt.send({"type": "conversation.item.create", "item": item})
    rt.until("conversation.item.done")
    if not respond:
        return None
    rt.send({"type": "response.create"})
    return rt.until("response.done")["response"]


def test_idle_timeout_commits_the_silence_and_answers(url: str) -> None:
    turn = {"type": "server_vad", "idle_timeout_ms": 5000}
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt, output_modalities=["text"], audio={"input": {"turn_detection": turn}})
        first = _say(rt, "Hello there.")
        assert first is not None and first["status"] == "completed"
        answered = time.monotonic()
        triggered = rt.until("input_audio_buffer.timeout_triggered", timeout=30)
        assert 4.5 <= time.monotonic() - answered <= 15
        assert 0 <= triggered["audio_start_ms"] <= triggered["audio_end_ms"]
        committed = rt.until("input_audio_buffer.committed")
        assert committed["item_id"] == triggered["item_id"]
        second = rt.until("response.done")["response"]
        assert second["status"] == "completed" and second["id"] != first["id"]
        rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
        rt.until("session.updated")


def test_a_long_conversation_is_cut_to_the_window_and_keeps_its_items(url: str) -> None:
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt, output_modalities=["text"], max_output_tokens=100)
        for n in range(8):  # about twice the window
            done = _say(rt, SENTENCE.format(n=n))
            assert done is not None and done["status"] == "completed", done
            said = done["output"][0]["content"][0]["text"]
            assert said == f"You said: {SENTENCE.format(n=n)}"  # the model still reads the last turn
        assert done["usage"]["input_tokens"] <= WINDOW - 100  # room kept for the answer
        first = rt.of("conversation.item.done")[0]["item"]["id"]
        rt.send({"type": "conversation.item.retrieve", "item_id": first})  # left out, still there
        assert rt.until("conversation.item.retrieved")["item"]["id"] == first

        ratio = {"type": "retention_ratio", "retention_ratio": 0.5}
        rt.send({"type": "session.update", "session": {"type": "realtime", "truncation": ratio}})
        assert rt.until("session.updated")["session"]["truncation"] == ratio | {"token_limits": None}
        for n in range(8, 12):
            done = _say(rt, SENTENCE.format(n=n))
            assert done is not None and done["status"] == "completed", done


def test_with_truncation_disabled_a_conversation_past_the_window_fails_its_response(url: str) -> None:
    with client(url).realtime.connect(model="gpt-realtime") as connection:
        rt = Checked(connection)
        _session(rt, output_modalities=["text"], truncation="disabled")
        for n in range(8):
            _say(rt, SENTENCE.format(n=n), respond=False)
        rt.send({"type": "response.create"})
        done = rt.until("response.done")["response"]
        assert done["status"] == "failed"
        assert done["status_details"]["error"]["code"] == "context_length_exceeded"
        rt.send({"type": "session.update", "session": {"type": "realtime", "truncation": "auto"}})
        rt.until("session.updated")
        rt.send({"type": "response.create"})
        assert rt.until("response.done")["response"]["status"] == "completed"


def test_pings_are_answered_while_the_model_writes(url: str) -> None:
    ws_url = url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"
    # the client pings every 0.5 s and gives up after 1 s without a pong (the SDKs: 20 s and 20 s)
    with websockets.sync.client.connect(ws_url, ping_interval=0.5, ping_timeout=1.0) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "session.created"
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "A long answer."}],
        }
        ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        ws.send(json.dumps({"type": "response.create", "response": {"output_modalities": ["text"]}}))
        kinds: list[str] = []
        waits = []
        while "response.done" not in kinds:
            event = json.loads(ws.recv(timeout=60))
            kinds.append(event["type"])
            if event["type"] == "response.output_text.delta" and len(waits) < 3:
                sent = time.monotonic()
                assert ws.ping().wait(2.0)
                waits.append(time.monotonic() - sent)
        assert len(waits) == 3 and max(waits) < 1.0
        assert kinds.count("response.output_text.delta") > 100  # the answer took a while to write
        assert "error" not in kinds
