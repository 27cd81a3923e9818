"""The chat contract on a server running the tiny random Qwen2.5-Omni (transformers-omni), driven by the
real openai SDK over loopback: what it says is noise, the contract is not. Every response and chunk is
validated against OpenAI's OpenAPI description."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from omnivox.audio.encode import encode
from omnivox.audio.pcm import Audio
from omnivox.backends.omni.model import OmniChatModel
from omnivox.runtimes.worker import ModelWorker
from tests.conftest import serve_chat
from tests.support.omni import omni_settings
from tests.support.openapi import validate

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def url(tiny_omni: Path) -> Iterator[str]:
    def make(worker: ModelWorker) -> OmniChatModel:
        return OmniChatModel(omni_settings(tiny_omni), worker)

    with serve_chat(make) as base:  # no speech recogniser and no voice: the model hears and speaks
        yield base


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0, timeout=300)


def _wav(seconds: float) -> str:
    t = np.arange(int(seconds * 16_000), dtype=np.float32) / 16_000
    audio = Audio((0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 16_000)
    return base64.b64encode(encode(audio, "wav")).decode()


def _heard(text: str = "What is this?") -> list[dict[str, Any]]:
    content = [
        {"type": "text", "text": text},
        {"type": "input_audio", "input_audio": {"data": _wav(1.5), "format": "wav"}},
    ]
    return [{"role": "user", "content": content}]


def _dump(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = value.model_dump(mode="json", exclude_unset=True)
    return result


def test_the_model_hears_the_audio_itself(url: str) -> None:
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard(),
        max_tokens=8,
        seed=3,
        temperature=1,  # type: ignore[arg-type]
    )
    validate(_dump(completion), "CreateChatCompletionResponse")
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.audio_tokens == 37 + 2  # 1.5 s: 37 <|AUDIO|> + bos/eos
    assert completion.choices[0].message.content is not None
    again = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard(),
        max_tokens=8,
        seed=3,
        temperature=1,  # type: ignore[arg-type]
    )
    assert again.choices[0].message.content == completion.choices[0].message.content  # seeded


def test_logprobs_and_logit_bias_work_on_the_thinker(url: str) -> None:
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
        logit_bias={"258": -100, "256": -100},  # no end of turn: all 6 tokens come
    )
    validate(_dump(completion), "CreateChatCompletionResponse")
    choice = completion.choices[0]
    assert choice.finish_reason == "length"
    assert choice.logprobs is not None and choice.logprobs.content is not None
    assert len(choice.logprobs.content) == 6
    assert all(len(t.top_logprobs) == 2 for t in choice.logprobs.content)
    # the pieces join to the content; noise may end inside a UTF-8 character, shown as U+FFFD in the
    # content and belonging to no token (the shared loop's behaviour at a token budget's cut)
    assert (choice.message.content or "").startswith("".join(t.token for t in choice.logprobs.content))


def test_a_spoken_answer_is_one_choice_with_the_text_as_its_transcript(url: str) -> None:
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard(),
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "wav"},
        max_tokens=12,
        seed=5,
        logit_bias={"258": -100, "256": -100},
    )
    validate(_dump(completion), "CreateChatCompletionResponse")
    assert len(completion.choices) == 1
    audio = completion.choices[0].message.audio
    assert audio is not None and audio.id.startswith("audio_")
    assert audio.transcript  # the thinker's text (noise, 12 tokens of it)
    with wave.open(io.BytesIO(base64.b64decode(audio.data))) as wav:
        assert wav.getframerate() == 24_000 and wav.getnchannels() == 1
        assert wav.getnframes() % 480 == 0  # whole codec codes, 20 ms each


def test_a_streamed_spoken_answer_carries_pcm16_and_the_transcript(url: str) -> None:
    stream = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard(),
        modalities=["text", "audio"],
        audio={"voice": "ethan", "format": "pcm16"},
        max_tokens=40,
        seed=5,
        logit_bias={"258": -100, "256": -100},
        stream=True,
    )
    chunks = list(stream)
    for chunk in chunks:
        validate(_dump(chunk), "CreateChatCompletionStreamResponse")
    deltas = [_dump(c.choices[0].delta).get("audio") or {} for c in chunks if c.choices]
    pcm = [base64.b64decode(d["data"]) for d in deltas if d.get("data")]
    assert len(pcm) >= 2  # chunked: 25 codes first, then the rest
    assert len(pcm[0]) == 25 * 480 * 2  # pcm16 at 24 kHz
    assert "".join(d.get("transcript", "") for d in deltas)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"audio": {"voice": "bagpipes", "format": "wav"}, "modalities": ["text", "audio"]}, "audio.voice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_what_it_cannot_do_is_refused_naming_the_parameter(
    url: str, body: dict[str, Any], param: str
) -> None:
    payload = {"model": "gpt-4o-audio-preview", "messages": [{"role": "user", "content": "hi"}], **body}
    response = httpx.post(f"{url}/v1/chat/completions", json=payload, timeout=60)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    validate(response.json(), "ErrorResponse")
    assert error["param"] == param
