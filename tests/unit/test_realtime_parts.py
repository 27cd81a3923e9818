"""The Realtime API's parts without a server: G.711, the session's partial updates, the input buffer,
truncation of a spoken answer, and the turn detector on real speech."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from omnivox.audio.g711 import decode_g711, encode_alaw, encode_g711, encode_ulaw
from omnivox.audio.pcm import Audio
from omnivox.errors import InvalidRequest
from omnivox.realtime.conversation import Conversation, Entry, messages
from omnivox.realtime.inputs import InputBuffer
from omnivox.realtime.session import Session
from omnivox.realtime.vad import SileroModel, SpeechStarted, SpeechStopped, TurnDetector, VadParams
from omnivox.runtimes.synthesis import SpeechSynthesizer


def test_g711_code_points_and_round_trip() -> None:
    silence = np.zeros(4, dtype=np.int16)
    assert encode_ulaw(silence) == b"\xff" * 4 and encode_alaw(silence) == b"\xd5" * 4
    loud = np.array([32767, -32768], dtype=np.int16)
    assert encode_ulaw(loud) == b"\x80\x00" and encode_alaw(loud) == b"\xaa\x2a"
    tone = Audio((0.5 * np.sin(np.arange(8000) * 2 * np.pi * 300 / 8000)).astype(np.float32), 8000)
    for law in ("pcmu", "pcma"):
        back = decode_g711(encode_g711(tone, law), law).samples
        assert back.size == 8000
        assert np.max(np.abs(back - tone.samples)) < 0.02  # 8-bit log quantisation of a 0.5 peak


def test_session_update_is_partial_and_all_or_nothing() -> None:
    session = Session("gpt-realtime")
    session.update({"type": "realtime", "audio": {"output": {"voice": "coral"}}})
    assert session.config.audio.output.voice == "coral"
    assert session.config.audio.input.turn_detection is not None  # untouched
    session.update({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}})
    assert session.wire()["audio"]["input"]["turn_detection"]["eagerness"] == "auto"
    with pytest.raises(InvalidRequest) as refused:
        session.update(
            {"type": "realtime", "instructions": "x", "audio": {"input": {"format": {"type": "mp3"}}}}
        )
    assert (refused.value.code, refused.value.param) == ("invalid_value", "session.audio.input.format.type")
    assert session.config.instructions == ""  # nothing of the refused update was applied
    with pytest.raises(InvalidRequest) as refused:
        session.update({"type": "realtime", "tools": [{"type": "function", "name": "f", "function": {}}]})
    assert (refused.value.code, refused.value.param) == ("unknown_parameter", "session.tools[0].function")
    session.voiced = True
    with pytest.raises(InvalidRequest):
        session.update({"type": "realtime", "audio": {"output": {"voice": "ash"}}})


def test_input_buffer_keeps_the_timeline() -> None:
    buffer = InputBuffer(max_seconds=1.0)
    buffer.append(np.ones(24_000 // 2, dtype=np.float32))  # 500 ms
    buffer.drop_before(200)
    assert (buffer.ms, buffer.end_ms) == (300.0, 500)
    assert buffer.take(400).size == 4800 and buffer.end_ms == 500  # 200 to 400 ms
    with pytest.raises(InvalidRequest) as full:
        buffer.append(np.ones(24_000, dtype=np.float32))
    assert full.value.code == "input_audio_buffer_full"


def test_truncate_keeps_the_pieces_heard() -> None:
    conversation = Conversation(max_items=10)
    item = {"id": "item_a", "type": "message", "role": "assistant", "content": [{"type": "output_audio"}]}
    conversation.add(Entry(item, pieces=[(1000, "One."), (2000, " Two."), (3000, " Three.")], audio_ms=3000))
    conversation.truncate("item_a", 0, 2600)
    assert item["content"][0]["transcript"] == "One. Two. Three."  # most of the third piece was heard
    conversation.truncate("item_a", 0, 1400)
    assert item["content"][0]["transcript"] == "One."
    with pytest.raises(InvalidRequest):
        conversation.truncate("item_a", 0, 5000)
    history = asyncio.run(messages("Be brief.", conversation.entries()))
    assert history == [{"role": "system", "content": "Be brief."}, {"role": "assistant", "content": "One."}]


def test_the_detector_finds_real_speech(voices: dict[str, SpeechSynthesizer]) -> None:
    speech = np.concatenate([a.resampled(24_000).samples for a in voices["rms"].synthesize("Hello there.")])
    stream = np.concatenate([np.zeros(12_000, np.float32), speech, np.zeros(24_000, np.float32)])
    detector = TurnDetector(SileroModel(), VadParams(0.5, 300, 200, 200))
    events = [e for at in range(0, stream.size, 480) for e in detector.feed(stream[at : at + 480])]
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    end = 500 + speech.size * 1000 // 24_000
    assert 0 <= events[0].audio_start_ms <= 600  # type: ignore[union-attr]
    assert end - 300 <= events[1].audio_end_ms <= end + 500  # type: ignore[union-attr]
