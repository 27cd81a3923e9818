"""Heard as well as read (issue #13), through the real embedded SmolLM2 and its chat template: a question
asked aloud, alone in its message, reaches the model as exactly the tokens of the same question typed, so
its answer cannot diverge; and real speech (Piper joe, flite slt) heard by the real Whisper tiny.en gets
the typed question's answer."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivox.audio.encode import encode
from omnivox.audio.pcm import Audio
from omnivox.backends.logits.model import LogitsChatModel, TokenPrompt
from omnivox.config import LanguageModelSettings
from omnivox.runtimes.chat_model import Conversation, GenerationSpec, Prompt
from omnivox.runtimes.language_model import LanguageModel
from omnivox.runtimes.speech import Recognition, Segment, SpeechModelInfo, SpeechRecognizer, Task, Word
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.serving.registry import load_llama_cpp
from tests.conftest import serve_chat
from tests.support.chat import completion
from tests.support.questions import load_questions

pytestmark = pytest.mark.model

SYSTEM = "Answer in one short sentence."


class _Recording(LogitsChatModel):
    """The real chat model, keeping the token ids of every prompt it is given."""

    def __init__(self, runtime: LanguageModel, worker: Any) -> None:
        super().__init__(runtime, worker)
        self.prompts: list[tuple[int, ...]] = []

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        prompt = await super().prompt(conversation, spec)
        assert isinstance(prompt, TokenPrompt)
        self.prompts.append(prompt.ids)
        return prompt


class _Hears:
    """A recogniser that hears `text` (word by word, 0.3 s apart) in whatever it is given."""

    info = SpeechModelInfo(sample_rate=16_000, multilingual=False, fingerprint="fp_hears", created=0)
    text = ""

    def recognize(
        self,
        audio: Audio,
        *,
        task: Task = "transcribe",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = True,
        quick: bool = False,
    ) -> Recognition:
        words = tuple(Word(i * 0.3, i * 0.3 + 0.25, " " + w, 0.9) for i, w in enumerate(self.text.split()))
        segment = Segment(0, 0, 0.0, audio.duration, " " + self.text, (), words, -0.2, 0.01, 1.0, 0.0)
        return Recognition("en", 1.0, audio.duration, audio.duration, iter([segment]))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def runtime() -> Iterator[LanguageModel]:
    model = load_llama_cpp(LanguageModelSettings(context_window=2048))
    yield model
    model.close()


def _speech_like() -> bytes:
    """Two seconds at a speaking level (-20 dBFS), unclipped: nothing a cue would mention."""
    t = np.arange(32_000) / 16_000
    return encode(Audio((0.14 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000), "wav")


def _ask(url: str, content: Any, max_tokens: int = 24) -> dict[str, Any]:
    body = {
        "model": "gpt-4o-audio-preview",
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}],
    }
    return completion(url, body, timeout=300)


def _part(data: bytes) -> list[dict[str, Any]]:
    encoded = base64.b64encode(data).decode()
    return [{"type": "input_audio", "input_audio": {"data": encoded, "format": "wav"}}]


def test_a_lone_spoken_question_is_the_typed_prompt_token_for_token(runtime: LanguageModel) -> None:
    models: list[_Recording] = []
    hears = _Hears()

    def chat(worker: Any) -> _Recording:
        models.append(_Recording(runtime, worker))
        return models[-1]

    with serve_chat(chat, speech=[hears]) as url:
        model = models[0]
        # Whisper's way of writing some of them: digits, a flat question's period, lower case
        heard_as = {
            "What is two plus two?": "what is 2 plus 2.",
            "Which season comes after winter?": "which season comes after winter",
        }
        for question in [q.text for q in load_questions()][:6] + list(heard_as):
            hears.text = heard_as.get(question, question)
            typed = _ask(url, question, max_tokens=1)
            typed_ids = model.prompts[-1]
            spoken = _ask(url, _part(_speech_like()), max_tokens=1)
            assert model.prompts[-1] == typed_ids, question
            assert spoken["usage"]["prompt_tokens"] == typed["usage"]["prompt_tokens"]
            assert spoken["usage"]["prompt_tokens_details"]["audio_tokens"] == len(runtime.tokenize(question))


@pytest.mark.parametrize("voice", ["joe", "slt"])
def test_real_speech_gets_the_typed_answer(
    runtime: LanguageModel,
    tiny_whisper: SpeechRecognizer,
    voices: dict[str, SpeechSynthesizer],
    voice: str,
    tmp_path: Path,
) -> None:
    questions = [q.text for q in load_questions("tune")][:4]
    with serve_chat(lambda worker: LogitsChatModel(runtime, worker), speech=[tiny_whisper]) as url:
        for question in questions:
            pieces = list(voices[voice].synthesize(question))
            audio = Audio(np.concatenate([p.samples for p in pieces]), pieces[0].sample_rate)
            typed = _ask(url, question)["choices"][0]["message"]["content"]
            spoken = _ask(url, _part(encode(audio, "wav")))["choices"][0]["message"]["content"]
            assert spoken == typed, question
