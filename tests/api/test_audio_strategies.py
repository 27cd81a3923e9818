"""The hearing and speaking strategies per model: a model that hears (`Capabilities.hears_audio`) gets
the decoded audio itself, not a transcript, and needs no speech recogniser; a model that speaks
(`speaks_audio`) answers with its own audio, and needs no voice. Text models keep Whisper and omnivox's
voices (test_audio_chat.py, tests/integration/test_audio_output.py)."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import wave
from collections.abc import AsyncIterator

import numpy as np
import pytest

from omnivox.audio.pcm import Audio
from omnivox.backends.logits.model import LogitsChatModel
from omnivox.runtimes.chat_model import Conversation, EventStream, GenerationSpec, Prompt
from omnivox.runtimes.events import AudioDelta, Event, TextDelta
from omnivox.runtimes.worker import ModelWorker
from tests.conftest import LIBRIVOX, serve_chat
from tests.support.chat import completion
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate
from tests.support.sse import read_events


class HearingFake(LogitsChatModel):
    """Stands in for a model that hears: it writes what audio it was given where the marker stood (the
    echoing fake then repeats it), so the test reads exactly what reached the model."""

    def __init__(self, worker: ModelWorker) -> None:
        super().__init__(FakeLanguageModel(), worker)
        capabilities = dataclasses.replace(self.info.capabilities, hears_audio=True)
        self._info = dataclasses.replace(self.info, capabilities=capabilities)

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        assert not conversation.audio_texts  # nothing was transcribed

        def heard(found: re.Match[str]) -> str:
            audio = conversation.audio[int(found.group(1)) - 1]
            return f"<{audio.duration:.1f} s at {audio.sample_rate} Hz>"

        messages = [
            {**m, "content": re.sub(r"\[audio input (\d+)\]", heard, str(m["content"]))}
            for m in conversation.messages
        ]
        return await super().prompt(Conversation(messages), spec)


def _part(data: bytes) -> dict[str, object]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": "wav"}}


def test_a_model_that_hears_gets_the_audio_not_a_transcript() -> None:
    clip = sorted(LIBRIVOX.glob("*.wav"))[0].read_bytes()  # real speech, 16 kHz
    with serve_chat(HearingFake) as url:  # no speech recogniser at all
        content = [{"type": "text", "text": "Listen:"}, _part(clip), _part(clip)]
        body = {
            "model": "gpt-4o-audio-preview",
            "temperature": 0,
            "messages": [{"role": "user", "content": content}],
        }
        result = completion(url, body, timeout=60)
    validate(result, "CreateChatCompletionResponse")
    said = result["choices"][0]["message"]["content"]
    assert re.fullmatch(r"You said: Listen:\n<\d+\.\d s at 16000 Hz>\n<\d+\.\d s at 16000 Hz>", said), said


#: What the speaking fake says per text delta: 10 ms of a 440 Hz tone at 24 kHz.
BEEP = Audio(np.sin(np.arange(240, dtype=np.float32) * (2 * np.pi * 440 / 24_000)).astype(np.float32), 24_000)


class _Speaking:
    """The events of a text generation, each text delta followed by its audio."""

    def __init__(self, events: EventStream) -> None:
        self._events = events

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for event in self._events:
            yield event
            if isinstance(event, TextDelta):
                yield AudioDelta(event.index, BEEP, event.text)

    async def ready(self) -> None:
        await self._events.ready()

    def cancel(self) -> None:
        self._events.cancel()


class SpeakingFake(LogitsChatModel):
    """Stands in for a model that speaks: 10 ms of tone per text delta, the delta as its words."""

    def __init__(self, worker: ModelWorker) -> None:
        super().__init__(FakeLanguageModel(), worker)
        capabilities = dataclasses.replace(self.info.capabilities, speaks_audio=True)
        self._info = dataclasses.replace(self.info, capabilities=capabilities)
        self.voices: list[str | None] = []

    def generate(self, prompt: Prompt, spec: GenerationSpec) -> EventStream:
        self.voices.append(spec.voice)
        return _Speaking(super().generate(prompt, spec))


def test_a_model_that_speaks_answers_with_its_own_audio() -> None:
    models: list[SpeakingFake] = []

    def make(worker: ModelWorker) -> SpeakingFake:
        models.append(SpeakingFake(worker))
        return models[-1]

    ask = {
        "model": "gpt-4o-audio-preview",
        "temperature": 0,
        "messages": [{"role": "user", "content": "hi"}],
        "modalities": ["text", "audio"],
    }
    with serve_chat(make) as url:  # no voices configured at all
        whole = completion(url, {**ask, "audio": {"voice": "alloy", "format": "wav"}}, timeout=60)
        events, done = read_events(
            url, {**ask, "audio": {"voice": "verse", "format": "pcm16"}, "stream": True}
        )
    validate(whole, "CreateChatCompletionResponse")
    audio = whole["choices"][0]["message"]["audio"]
    assert audio["transcript"] == "You said: hi"
    with wave.open(io.BytesIO(base64.b64decode(audio["data"]))) as wav:
        assert wav.getnframes() / wav.getframerate() == pytest.approx(
            len("You said: hi") * 0.01
        )  # a beep a token
    assert done
    deltas = [c["delta"].get("audio") or {} for e in events for c in e["choices"]]
    assert "".join(d.get("transcript", "") for d in deltas) == "You said: hi"
    pcm = b"".join(base64.b64decode(d["data"]) for d in deltas if "data" in d)
    assert len(pcm) == len("You said: hi") * 240 * 2
    assert models[0].voices == ["alloy", "verse"]  # the voice asked for reaches the model
