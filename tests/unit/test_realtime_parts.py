"""The Realtime API's parts without a server: G.711, the session's partial updates, the input buffer,
truncation of a spoken answer and of a long conversation, the turn detector on real speech (server_vad
and semantic_vad), recognition at pauses, and the end-of-turn test of semantic_vad."""

from __future__ import annotations

import asyncio
import threading
import types
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import pytest

from omnivox.audio.g711 import decode_g711, encode_alaw, encode_g711, encode_ulaw
from omnivox.audio.pcm import Audio
from omnivox.errors import ContextLengthExceeded, InvalidRequest
from omnivox.protocol.realtime import RetentionRatio
from omnivox.realtime.conversation import Conversation, Entry, messages
from omnivox.realtime.hearing import EarlyHearing, finished
from omnivox.realtime.inputs import InputBuffer
from omnivox.realtime.responder import _speak_piece
from omnivox.realtime.session import Session
from omnivox.realtime.vad import (
    Pause,
    Resumed,
    SileroModel,
    SpeechStarted,
    SpeechStopped,
    TurnDetector,
    VadParams,
)
from omnivox.realtime.window import fit
from omnivox.runtimes.chat_model import ChatModel, GenerationSpec, Prompt
from omnivox.runtimes.chat_model import Conversation as ChatConversation
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.catalog import ServedVoice


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
    ratio = "session.truncation.retention_ratio"
    refusals: list[tuple[object, tuple[str, str]]] = [  # a union's problem is named where it is
        ("nope", ("invalid_value", "session.truncation")),
        ({"type": "retention_ratio"}, ("missing_required_parameter", ratio)),
        ({"type": "retention_ratio", "retention_ratio": 2}, ("invalid_value", ratio)),
    ]
    for given, expected in refusals:
        with pytest.raises(InvalidRequest) as refused:
            session.update({"type": "realtime", "truncation": given})
        assert (refused.value.code, refused.value.param) == expected


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
    detector = TurnDetector(SileroModel(), VadParams(0.5, 300, 200))
    events = [e for at in range(0, stream.size, 480) for e in detector.feed(stream[at : at + 480])]
    turn = [e for e in events if not isinstance(e, (Pause, Resumed))]
    assert [type(e) for e in turn] == [SpeechStarted, SpeechStopped]
    end = 500 + speech.size * 1000 // 24_000
    assert 0 <= turn[0].audio_start_ms <= 600  # type: ignore[union-attr]
    assert end - 300 <= turn[1].audio_end_ms <= end + 500  # type: ignore[union-attr]
    pause = [e for e in events if isinstance(e, Pause)][-1]  # the end of speech was a pause first
    assert events.index(pause) < events.index(turn[1])
    assert pause.speech_end_ms == turn[1].speech_end_ms < pause.at_ms < turn[1].audio_end_ms  # type: ignore[union-attr]


def _said(voice: SpeechSynthesizer, text: str) -> np.ndarray:
    return np.concatenate([a.resampled(24_000).samples for a in voice.synthesize(text)])


def _semantic_turns(stream: np.ndarray, verdicts: list[bool]) -> list[object]:
    """The events of semantic_vad (end after 200 ms when the words end a turn, 2 s at most) when the
    words up to each pause are judged as `verdicts` says, one per pause."""
    detector = TurnDetector(SileroModel(), VadParams(0.5, 300, 200, 2000))
    events: list[object] = []
    for at in range(0, stream.size, 480):
        for event in detector.feed(stream[at : at + 480]):
            events.append(event)
            if isinstance(event, Pause):
                count = sum(isinstance(e, Pause) for e in events)
                detector.hint(event.at_ms, verdicts[min(len(verdicts), count) - 1])
    return events


def test_semantic_vad_waits_while_the_words_do_not_end_a_turn(voices: dict[str, SpeechSynthesizer]) -> None:
    first = _said(voices["rms"], "What is the weather like in the city of")
    second = _said(voices["rms"], "Paris today?")
    gap = np.zeros(24_000, np.float32)  # a 1 s pause in the middle of the question
    stream = np.concatenate([np.zeros(12_000, np.float32), first, gap, second, np.zeros(72_000, np.float32)])
    trailing_off = _semantic_turns(stream, [False])  # no pause's words end a turn: only the 2 s cap
    stops = [e for e in trailing_off if isinstance(e, SpeechStopped)]
    assert len(stops) == 1 and stops[0].audio_end_ms - stops[0].speech_end_ms >= 2000
    assert stops[0].speech_end_ms > 500 + (first.size + gap.size) * 1000 // 24_000  # after both halves

    pauses = [e for e in trailing_off if isinstance(e, Pause)]
    verdicts = [False] * (len(pauses) - 1) + [True]  # only the words at the last pause end the question
    events = _semantic_turns(stream, verdicts)
    stops = [e for e in events if isinstance(e, SpeechStopped)]
    assert len(stops) == 1 and stops[0].audio_end_ms - stops[0].speech_end_ms < 400


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("What is the weather like in Paris today?", True),
        ("Book a table for two.", True),
        ("Stop!", True),
        ("What is the weather like", False),
        ("I'd like to book a table and", False),
        ("I want to go to the...", False),
        ("So, um.", False),
        ("Tell me about the", False),
        ("What is the weather like in the city of.", False),
        ("What would you like?", True),
        ("Thank you.", True),
        ("", False),
    ],
)
def test_what_ends_a_turn(text: str, done: bool) -> None:
    assert finished(text) is done


def test_early_hearing_keeps_only_the_latest_pause_waiting() -> None:
    async def scenario() -> tuple[list[int], list[tuple[int, str]], str]:
        heard: list[int] = []
        told: list[tuple[int, str]] = []
        release = asyncio.Event()

        async def hear(samples: np.ndarray) -> tuple[str, float]:
            heard.append(samples.size)
            await release.wait()
            return f"{samples.size} samples", samples.size / 24_000

        early = EarlyHearing(hear, lambda cut, words: told.append((cut, words)))
        early.pause(100, np.zeros(1, np.float32))  # starts at once
        await asyncio.sleep(0)
        early.pause(200, np.zeros(2, np.float32))  # waits
        early.pause(300, np.zeros(3, np.float32))  # replaces the one waiting
        assert early.heard_until(301) is None  # speech after the last pause: not covered
        covered = early.heard_until(250)
        assert covered is not None
        early.reset()  # the next turn begins; what the commit took still runs
        early.pause(400, np.zeros(4, np.float32))
        release.set()
        words, _ = await covered
        await asyncio.sleep(0.01)
        return heard, told, words

    heard, told, words = asyncio.run(scenario())
    assert heard == [1, 3, 4] and words == "3 samples"
    assert [cut for cut, _ in told] == [100, 300, 400]


class _Window:
    """A chat model whose prompt is one token per character of the messages (only what `fit` uses)."""

    def __init__(self, window: int) -> None:
        self.info = types.SimpleNamespace(context_window=window)

    async def prompt(self, conversation: ChatConversation, spec: GenerationSpec) -> Prompt:
        return Prompt(tokens=sum(len(m["content"]) for m in conversation.messages))


def _texts(count: int) -> list[Entry]:
    items = [{"id": f"item_{n}", "type": "message", "role": "user"} for n in range(count)]
    return [Entry(item | {"content": [{"type": "input_text", "text": "x" * 100}]}) for item in items]


def test_a_long_conversation_is_cut_to_fit_the_window() -> None:
    spec = GenerationSpec(sampling=SamplingParams(), max_tokens=100, stop=())
    model: ChatModel = _Window(1000)  # type: ignore[assignment]
    entries = _texts(12)  # 1,200 tokens; 900 fit with room for the answer
    fitted = asyncio.run(fit(model, "", entries, spec, "auto"))
    assert fitted.dropped == ("item_0", "item_1", "item_2") and fitted.prompt.tokens == 900
    assert fitted.spec.max_tokens == 100
    ratio = RetentionRatio(type="retention_ratio", retention_ratio=0.5)
    fitted = asyncio.run(fit(model, "", entries, spec, ratio))
    assert len(fitted.dropped) == 8 and fitted.prompt.tokens == 400  # at most half the room
    with pytest.raises(ContextLengthExceeded) as refused:
        asyncio.run(fit(model, "", entries, spec, "disabled"))
    assert refused.value.param == "session.truncation"
    calls = [{"id": "item_c", "type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]
    outputs = [{"id": "item_o", "type": "function_call_output", "call_id": "c", "output": "x" * 100}]
    tool_turn = [Entry(calls[0]), Entry(outputs[0]), *_texts(9)]
    fitted = asyncio.run(fit(model, "", tool_turn, spec, "auto"))
    assert fitted.dropped[:2] == ("item_c", "item_o")  # a result never stays without its call


def test_a_realtime_answer_is_spelled_for_the_voice() -> None:
    """The Realtime responder speaks what chat and /v1/audio/speech speak: "$12.50" as "12 dollars 50
    cents", "&" as "and" (omnivox/synthesis/normalize.py)."""
    said: list[str] = []

    class _Recording:
        def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
            said.append(text)
            yield Audio(np.zeros(160, dtype=np.float32), 16_000)

    voice = ServedVoice("rec", cast(Any, _Recording()), cast(Any, None))
    list(_speak_piece(voice, "Salt & pepper cost $12.50.", 1.0, None, threading.Event()))
    assert said == ["Salt and pepper cost 12 dollars 50 cents."]
