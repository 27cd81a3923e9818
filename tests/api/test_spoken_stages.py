"""The stages of a spoken answer to a spoken question, timed: each moves its /metrics histogram and the
request's one debug line, streamed and whole (a live server, the fake language model, the real Whisper
tiny.en and a flite voice)."""

from __future__ import annotations

import base64
import logging

import httpx
import openai
import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from tests.api.test_gateway import metrics, sample
from tests.conftest import serve_fake
from tests.support.audio import encode

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
