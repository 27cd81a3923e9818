"""/v1/realtime with the official SDK's Realtime client: the session, manual turns in text and speech,
errors that leave the socket usable. The chat model is the fake (it repeats what the user said); speech is
real: flite voices speak the input, Whisper tiny.en hears it, and the answer's audio is heard again."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import websockets.sync.client

from omnivox.audio.g711 import decode_g711, encode_g711
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.conftest import SPEECH_ID, serve_fake
from tests.fuzz.fakes import NotingRecognizer
from tests.support.fakes import FakeLanguageModel
from tests.support.realtime import Checked, client, pcm_audio, spoken

pytestmark = [pytest.mark.sdk, pytest.mark.model]

QUESTION = "What is the weather like in Paris today?"


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]) -> Iterator[str]:
    with serve_fake(
        FakeLanguageModel(confidence=40.0),
        speech=[tiny_whisper],
        voices={"slt": voices["slt"]},
        upstream=False,
    ) as (
        base,
        _,
    ):
        yield base


@pytest.fixture(scope="module")
def question(voices: dict[str, SpeechSynthesizer]) -> bytes:
    return spoken(voices["rms"], QUESTION)


def _connect(url: str, **query: Any) -> Any:
    return client(url).realtime.connect(model="gpt-realtime", **query)


def _ws_url(url: str) -> str:
    return url.replace("http", "ws", 1) + "/v1/realtime?model=gpt-realtime"


def test_session_created_at_once_then_partial_updates(url: str) -> None:
    with _connect(url, extra_query={"voice": "alloy", "temperature": "0.8"}) as connection:
        rt = Checked(connection)
        created = rt.recv()
        assert created["type"] == "session.created"
        session = created["session"]
        assert session["type"] == "realtime"
        assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
        assert session["model"] == "gpt-realtime"

        rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
        updated = rt.until("session.updated")["session"]
        assert updated["instructions"] == "Be brief."
        assert updated["audio"] == session["audio"]  # untouched fields keep their values

        update = {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None}, "output": {"voice": "coral"}},
        }
        rt.send({"type": "session.update", "session": update})
        updated = rt.until("session.updated")["session"]
        assert updated["audio"]["input"]["turn_detection"] is None
        assert updated["audio"]["output"]["voice"] == "coral"
        assert updated["instructions"] == "Be brief."

        rt.send({"type": "session.update", "event_id": "evt_1", "session": {"instructions": "x"}})
        refused = rt.error()
        assert (refused["code"], refused["param"], refused["event_id"]) == (
            "missing_required_parameter",
            "session.type",
            "evt_1",
        )
        rt.send({"type": "session.update", "event_id": "evt_2", "session": {"type": "realtime", "bogus": 1}})
        refused = rt.error()
        assert (refused["code"], refused["param"], refused["event_id"]) == (
            "unknown_parameter",
            "session.bogus",
            "evt_2",
        )
        rt.send({"type": "session.update", "session": {"type": "realtime", "tracing": "auto"}})
        assert (
            rt.until("session.updated")["session"]["instructions"] == "Be brief."
        )  # nothing refused changed


def test_bad_events_get_errors_and_the_socket_goes_on(url: str) -> None:
    with websockets.sync.client.connect(_ws_url(url)) as ws:
        assert json.loads(ws.recv())["type"] == "session.created"

        def error_for(frame: str | bytes) -> dict[str, Any]:
            ws.send(frame)
            event = json.loads(ws.recv())
            assert event["type"] == "error", event
            return dict(event["error"])

        assert error_for(json.dumps({"type": "nope", "event_id": "e1"}))["param"] == "type"
        assert error_for(json.dumps({"type": "nope", "event_id": "e1"}))["event_id"] == "e1"
        assert error_for("{not json")["code"] == "invalid_json"
        assert error_for(b"\x00\x01")["code"] == "invalid_event"
        empty = error_for(json.dumps({"type": "input_audio_buffer.commit", "event_id": "e2"}))
        assert (empty["code"], empty["event_id"]) == ("input_audio_buffer_commit_empty", "e2")
        assert error_for(json.dumps({"type": "response.cancel"}))["code"] == "response_cancel_not_active"
        assert (
            error_for(json.dumps({"type": "conversation.item.delete", "item_id": "item_x"}))["param"]
            == "item_id"
        )
        ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
        assert json.loads(ws.recv())["type"] == "input_audio_buffer.cleared"


def test_a_text_turn_in_openai_order(url: str) -> None:
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}
        rt.send({"type": "conversation.item.create", "item": item})
        added = rt.until("conversation.item.added")["item"]
        rt.until("conversation.item.done")
        rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
        done = rt.until("response.done")["response"]
        assert done["status"] == "completed"
        order = [t for t in rt.types() if t.startswith(("response.", "conversation.item."))]
        start = order.index("response.created")
        sequence = [
            t
            for i, t in enumerate(order[start:])
            if t != "response.output_text.delta" or order[start + i - 1] != t
        ]
        assert sequence == [
            "response.created",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "conversation.item.done",
            "response.output_item.done",
            "response.done",
        ]
        text = "".join(e["delta"] for e in rt.of("response.output_text.delta"))
        assert text == "You said: hello there" == rt.of("response.output_text.done")[0]["text"]
        assert done["output"][0]["content"] == [{"type": "output_text", "text": text}]
        usage = done["usage"]
        assert usage["output_tokens"] == len(text.encode()) and usage["input_tokens"] > 0
        assert usage["output_token_details"]["audio_tokens"] == 0

        rt.send({"type": "conversation.item.retrieve", "item_id": added["id"]})
        assert rt.until("conversation.item.retrieved")["item"]["content"][0]["text"] == "hello there"
        rt.send({"type": "conversation.item.delete", "item_id": added["id"]})
        assert rt.until("conversation.item.deleted")["item_id"] == added["id"]


def test_a_spoken_turn_by_hand(url: str, question: bytes, tiny_whisper: SpeechRecognizer) -> None:
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        session = {
            "type": "realtime",
            "audio": {"input": {"turn_detection": None, "transcription": {"model": "whisper-1"}}},
        }
        rt.send({"type": "session.update", "session": session})
        rt.until("session.updated")
        rt.append(question)
        rt.send({"type": "input_audio_buffer.commit"})
        committed = rt.until("input_audio_buffer.committed")
        heard = rt.until("conversation.item.input_audio_transcription.completed")
        assert heard["item_id"] == committed["item_id"]
        assert "weather" in heard["transcript"].lower() and "paris" in heard["transcript"].lower()
        assert heard["usage"]["type"] == "duration"
        rt.send({"type": "response.create"})
        done = rt.until("response.done")["response"]
        assert done["status"] == "completed" and done["output_modalities"] == ["audio"]
        transcript = "".join(e["delta"] for e in rt.of("response.output_audio_transcript.delta"))
        assert transcript == rt.of("response.output_audio_transcript.done")[0]["transcript"]
        assert transcript.startswith("You said:") and "paris" in transcript.lower()
        audio = pcm_audio(rt.audio(done["id"]))
        assert 1.0 < audio.duration < 10.0
        said = tiny_whisper.recognize(audio).complete().text.lower()
        assert "paris" in said and "weather" in said
        assert done["usage"]["output_token_details"]["audio_tokens"] > 0


def test_g711_in_and_out_as_telephones_send_it(
    url: str, question: bytes, tiny_whisper: SpeechRecognizer
) -> None:
    mulaw = encode_g711(pcm_audio(question), "pcmu")
    with _connect(url) as connection:
        rt = Checked(connection)
        rt.until("session.created")
        telephone = {"format": {"type": "audio/pcmu"}}
        audio = {"input": {**telephone, "turn_detection": None}, "output": telephone}
        rt.send({"type": "session.update", "session": {"type": "realtime", "audio": audio}})
        assert rt.until("session.updated")["session"]["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        rt.append(mulaw, chunk=160)  # 20 ms of 8 kHz mu-law
        rt.send({"type": "input_audio_buffer.commit"})
        rt.send({"type": "response.create"})
        done = rt.until("response.done")["response"]
        assert done["audio"]["output"]["format"] == {"type": "audio/pcmu"}
        answer = decode_g711(rt.audio(done["id"]), "pcmu")
        transcript = rt.of("response.output_audio_transcript.done")[0]["transcript"]
        assert "paris" in transcript.lower()
        assert "paris" in tiny_whisper.recognize(answer).complete().text.lower()


def test_a_turn_is_heard_by_the_sessions_recogniser_in_its_language_with_its_prompt() -> None:
    """`transcription.model` names the recogniser of each turn (a configured speech model's id; OpenAI's
    names are the default one's), `.language` and `.prompt` reach it (a multilingual one then skips
    identifying the language); a turn needs its words only, so no word timestamps are asked for. A
    language Whisper does not know is refused at `session.update`, naming it."""
    default, second = NotingRecognizer(), NotingRecognizer()
    with (
        serve_fake(speech=[default, second], upstream=False) as (base, _),
        websockets.sync.client.connect(_ws_url(base)) as ws,
    ):

        def until(kind: str) -> dict[str, Any]:
            while (event := json.loads(ws.recv()))["type"] != kind:
                assert event["type"] != "error", event
            return dict(event)

        def turn(transcription: dict[str, Any]) -> str:
            update = {
                "type": "realtime",
                "audio": {"input": {"turn_detection": None, "transcription": transcription}},
            }
            ws.send(json.dumps({"type": "session.update", "session": update}))
            until("session.updated")
            two_seconds = base64.b64encode(np.zeros(2 * 24_000, "<i2").tobytes()).decode()
            ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": two_seconds}))
            ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            return str(until("conversation.item.input_audio_transcription.completed")["transcript"])

        until("session.created")
        bad = {"type": "realtime", "audio": {"input": {"transcription": {"language": "xx"}}}}
        ws.send(json.dumps({"type": "session.update", "session": bad}))
        refused = json.loads(ws.recv())
        assert refused["type"] == "error" and refused["error"]["code"] == "invalid_value"
        assert refused["error"]["param"] == "session.audio.input.transcription.language"
        first = turn({"model": "whisper-1", "language": "fr", "prompt": "Paris, Lyon."})
        later = turn({"model": f"{SPEECH_ID}-1"})
    assert first == later == "Hello wörld"
    assert default.options == [
        {"language": "fr", "prompt": "Paris, Lyon.", "word_timestamps": False, "quick": True}
    ]
    assert second.options == [{"language": None, "prompt": None, "word_timestamps": False, "quick": True}]
