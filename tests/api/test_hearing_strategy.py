"""The hearing strategy per model: a model that hears (`Capabilities.hears_audio`) gets the decoded audio
itself, not a transcript, and needs no speech recogniser; a text model keeps hearing through Whisper
(test_audio_chat.py)."""

from __future__ import annotations

import base64
import dataclasses
import re

from omnivox.backends.logits.model import LogitsChatModel
from omnivox.runtimes.chat_model import Conversation, GenerationSpec, Prompt
from omnivox.runtimes.worker import ModelWorker
from tests.conftest import LIBRIVOX, serve_chat
from tests.support.chat import completion
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate


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
