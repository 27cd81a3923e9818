"""/v1/realtime with server-side turn detection: real speech streamed in real time, the turn found by the
Silero VAD, answered in speech; barge-in (the user speaks over the answer) and client cancels."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel, echo_script
from tests.support.realtime import Checked, client, pcm_audio, spoken

pytestmark = [pytest.mark.sdk, pytest.mark.model]

QUESTION = "What is the weather like in Paris today?"
COUNTING = " ".join(f"Number {n}." for n in range(1, 60))


def _script(prompt: str) -> str:
    """A long answer when the last user turn asks to count, else the fake's echo."""
    echo = echo_script(prompt)
    return COUNTING if "count" in echo.lower() else echo


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]) -> Iterator[str]:
    # 100 characters a second (a long answer takes time); confident enough to follow its script at T=0.8
    model = FakeLanguageModel(_script, delay=0.01, confidence=40.0)
    with serve_fake(model, speech=[tiny_whisper], voices={"slt": voices["slt"]}, upstream=False) as (base, _):
        yield base


@pytest.fixture(scope="module")
def question(voices: dict[str, SpeechSynthesizer]) -> bytes:
    return spoken(voices["rms"], QUESTION)


def _connect(url: str) -> Any:
    return client(url).realtime.connect(model="gpt-realtime")


def _in_background(rt: Checked, pcm: bytes) -> threading.Thread:
    thread = threading.Thread(target=rt.append, args=(pcm,), kwargs={"realtime": True}, daemon=True)
    thread.start()
    return thread


def test_server_vad_finds_the_turn_and_answers_in_speech(
    url: str, question: bytes, tiny_whisper: SpeechRecognizer
) -> None:
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        rt.send(
            {
                "type": "session.update",
                "session": {
                    "type": "realtime",
                    "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
                },
            }
        )
        rt.until("session.updated")
        sender = _in_background(rt, question)
        started = rt.until("input_audio_buffer.speech_started")
        assert 0 <= started["audio_start_ms"] <= 900  # speech begins at 500 ms; 300 ms of prefix padding
        stopped = rt.until("input_audio_buffer.speech_stopped")
        speech_end = 500 + (len(question) // 48 - 2000)  # ms: the clip without its lead and tail
        assert speech_end - 300 <= stopped["audio_end_ms"] <= speech_end + 700
        committed = rt.until("input_audio_buffer.committed")
        assert committed["item_id"] == started["item_id"] == stopped["item_id"]
        done = rt.until("response.done")["response"]
        sender.join()
        assert done["status"] == "completed"
        heard = rt.of("conversation.item.input_audio_transcription.completed")[0]["transcript"]
        assert "paris" in heard.lower()
        said = tiny_whisper.recognize(pcm_audio(rt.audio(done["id"]))).complete().text.lower()
        assert "paris" in said


def test_barge_in_cancels_the_answer_and_truncate_keeps_what_was_heard(url: str, question: bytes) -> None:
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Please count."}],
        }
        rt.send({"type": "conversation.item.create", "item": item})
        rt.send({"type": "response.create"})
        first = rt.until("response.output_audio.delta")
        answer_id, answer_item = first["response_id"], first["item_id"]
        sender = _in_background(rt, question)
        started = rt.until("input_audio_buffer.speech_started")
        at = len(rt.events) - 1
        done = rt.until("response.done")["response"]
        assert done["id"] == answer_id
        assert done["status"] == "cancelled"
        assert done["status_details"]["reason"] == "turn_detected"
        after = rt.events[at:]
        assert not [
            e for e in after if e["type"] == "response.output_audio.delta" and e["response_id"] == answer_id
        ]
        assert done["output"][0]["status"] == "incomplete"
        print(f"barge-in: response.done {1000 * (rt.times[-1] - rt.times[at]):.0f} ms after speech_started")

        played = len(rt.audio(answer_id)) // 48 // 4  # ms: a quarter of what arrived was heard
        truncate = {"item_id": answer_item, "content_index": 0, "audio_end_ms": played}
        rt.send({"type": "conversation.item.truncate", **truncate})
        truncated = rt.until("conversation.item.truncated")
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (answer_item, played)
        rt.send({"type": "conversation.item.retrieve", "item_id": answer_item})
        kept = rt.until("conversation.item.retrieved")["item"]["content"][0]["transcript"]
        full = done["output"][0]["content"][0]["transcript"]
        assert full.startswith(kept) and len(kept) < len(full)

        second = rt.until("response.done")["response"]  # the interruption is answered in turn
        sender.join()
        assert second["status"] == "completed" and started["item_id"] != answer_item
        assert "paris" in second["output"][0]["content"][0]["transcript"].lower()
        assert not rt.of("error")


def test_the_client_cancels_an_answer(url: str) -> None:
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Count, please."}],
        }
        rt.send({"type": "conversation.item.create", "item": item})
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        created = rt.until("response.output_text.delta")
        rt.send({"type": "response.create", "event_id": "evt_twice"})
        refused = rt.error()
        assert (refused["code"], refused["event_id"]) == (
            "conversation_already_has_active_response",
            "evt_twice",
        )
        rt.send({"type": "response.cancel"})
        done = rt.until("response.done")["response"]
        assert (done["id"], done["status"]) == (created["response_id"], "cancelled")
        assert done["status_details"]["reason"] == "client_cancelled"
        text = rt.of("response.output_text.done")[0]["text"]
        assert text and len(text) < len(COUNTING)
        rt.send({"type": "response.cancel", "event_id": "evt_idle"})
        assert rt.error()["code"] == "response_cancel_not_active"
