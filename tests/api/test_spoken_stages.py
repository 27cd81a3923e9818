"""The stages of a spoken answer to a spoken question, timed: each moves its /metrics histogram and the
request's one debug line, streamed and whole; and the prompt's head evaluated while the audio is heard
(a live server, the fake language model, the real Whisper tiny.en and a flite voice)."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Sequence

import httpx
import openai
import pytest

from omnivox.runtimes.language_model import Evaluation
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.api.test_gateway import metrics, sample
from tests.conftest import serve_fake
from tests.support.audio import encode, tone
from tests.support.fakes import FakeLanguageModel

STREAMED = (
    "plan",
    "decode",
    "recognise",
    "prompt",
    "prompt_evaluation",
    "first_token",
    "first_piece",
    "first_synthesis",
    "encoding",
    "respond",
)
WHOLE = ("generation", "synthesis")  # a whole answer: written, then spoken, before its first audio


def _question(voice: SpeechSynthesizer) -> str:
    audio = list(voice.synthesize("What is the capital of France?"))
    return base64.b64encode(encode(audio[0])).decode()


def test_each_stage_of_a_spoken_answer_is_timed(
    tiny_whisper: SpeechRecognizer,
    voices: dict[str, SpeechSynthesizer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="omnivox.telemetry")
    asked = [{"type": "input_audio", "input_audio": {"data": _question(voices["slt"]), "format": "wav"}}]
    request = {
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "user", "content": asked}],
        "modalities": ["text", "audio"],
        "temperature": 0,
    }
    with serve_fake(speech=[tiny_whisper], voices={"slt": voices["slt"]}, upstream=False) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        stream = client.chat.completions.create(
            **request, audio={"voice": "alloy", "format": "pcm16"}, stream=True
        )
        assert any(c.choices and getattr(c.choices[0].delta, "audio", None) for c in list(stream))
        streamed = metrics(url)
        whole = client.chat.completions.create(**request, audio={"voice": "alloy", "format": "wav"})
        assert whole.choices[0].message.audio is not None
        found = metrics(url)
        assert httpx.get(f"{url}/health").status_code == 200
    for stage in STREAMED:
        assert sample(streamed, "omnivox_spoken_stage_seconds_count", stage=stage) == 1, stage
    for stage in WHOLE:
        assert sample(streamed, "omnivox_spoken_stage_seconds_count", stage=stage) == 0, stage
        assert sample(found, "omnivox_spoken_stage_seconds_count", stage=stage) == 1, stage
    assert sample(found, "omnivox_spoken_stage_seconds_count", stage="recognise") == 2
    # the stages add up to the time to first audio, each millisecond accounted for
    total = sum(sample(streamed, "omnivox_spoken_stage_seconds_sum", stage=s) for s in STREAMED)
    first = sample(streamed, "omnivox_time_to_first_audio_seconds_sum", endpoint="chat")
    assert total == pytest.approx(first, abs=1e-6)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("first audio after")]
    assert len(lines) == 2 and all(f"{stage} " in lines[0] for stage in STREAMED)
    assert "recognise" in lines[1] and "synthesis" in lines[1]


class _Recording(FakeLanguageModel):
    """The fake language model, keeping every sequence it is asked to evaluate."""

    def __init__(self) -> None:
        super().__init__()
        self.evaluated: list[tuple[int, ...]] = []

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        self.evaluated.append(tuple(tokens))
        return super().evaluate(tokens, cancelled)


def test_the_prompt_head_is_evaluated_while_the_audio_is_heard(tiny_whisper: SpeechRecognizer) -> None:
    model = _Recording()
    clip = base64.b64encode(encode(tone(seconds=1.0))).decode()
    messages = [
        {"role": "system", "content": "Answer in one short sentence."},
        {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": clip, "format": "wav"}}],
        },
    ]
    with serve_fake(model, speech=[tiny_whisper], upstream=False) as (url, _):
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        ask = {"model": "gpt-audio", "messages": messages, "temperature": 0}
        answer = client.chat.completions.create(**ask)  # type: ignore[call-overload]
        head, prompt = model.evaluated
        client.chat.completions.create(**ask)  # type: ignore[call-overload]
    # the same conversation again: the live sequence holds the head, which is not evaluated again
    assert model.evaluated[2:] == [prompt]
    assert prompt[: len(head)] == head and len(head) < len(prompt)
    assert model.detokenize(head).endswith("<|im_start|>user\n"[:-1])  # all but the last token
    assert "Answer in one short sentence." in model.detokenize(head)
    assert answer.usage is not None and answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == len(head)  # only the rest was evaluated
