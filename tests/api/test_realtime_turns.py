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


def test_semantic_vad_waits_through_a_pause_in_the_middle_of_a_question(
    url: str, voices: dict[str, SpeechSynthesizer]
) -> None:
    """server_vad would end the turn at the pause after "of"; semantic_vad hears that the words so far
    do not end a question, waits, and ends the turn once "today?" is heard, before its 4 s cap. After
    the question the microphone's silence is sent at a fifth of real time until the turn ends:
    recognition takes about 1 s on a quiet machine, ten on a loaded one, and the cap counts audio."""
    first = spoken(voices["rms"], "What is the weather like in the city of", tail=1.2)
    second = spoken(voices["rms"], "Paris today?", lead=0.0, tail=0.0)
    speech_end = (len(first) + len(second)) // 48  # ms on the input timeline
    silence, ended = bytes(4800), threading.Event()  # 100 ms

    def microphone(rt: Checked) -> None:
        rt.append(first + second, realtime=True)
        for _ in range(45):  # up to 4.5 s of input silence, in 22.5 s
            if ended.wait(0.5):
                return
            rt.append(silence)

    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        audio = {
            "transcription": {"model": "gpt-4o-transcribe"},
            "turn_detection": {"type": "semantic_vad", "eagerness": "medium"},
        }
        rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": audio}}})
        rt.until("session.updated")
        sender = threading.Thread(target=microphone, args=(rt,), daemon=True)
        sender.start()
        stopped = rt.until("input_audio_buffer.speech_stopped", timeout=90)
        ended.set()
        heard = rt.until("conversation.item.input_audio_transcription.completed")["transcript"].lower()
        assert "weather" in heard and "paris" in heard  # one turn: both halves
        # the cap would end it 4 s after the last speech frame (about speech_end - 100 ms)
        assert speech_end - 300 <= stopped["audio_end_ms"] <= speech_end + 3700, heard
        done = rt.until("response.done")["response"]
        sender.join()
        assert done["status"] == "completed"
        assert len(rt.of("input_audio_buffer.speech_stopped")) == 1
