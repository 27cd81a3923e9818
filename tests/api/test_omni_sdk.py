"""The chat contract on a server running the tiny random Qwen2.5-Omni (transformers-omni), driven by the
real openai SDK over loopback: what it says is noise, the contract is not. Every response and chunk is
validated against OpenAI's OpenAPI description."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
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
        max_tokens=60,
        seed=1,  # the random talker ends its speech itself; with this seed after 74 codes: two chunks
        logit_bias={"258": -100, "256": -100},
        stream=True,
    )
    chunks = list(stream)
    for chunk in chunks:
        validate(_dump(chunk), "CreateChatCompletionStreamResponse")
    deltas = [_dump(c.choices[0].delta).get("audio") or {} for c in chunks if c.choices]
    pcm = [base64.b64decode(d["data"]) for d in deltas if d.get("data")]
    assert len(pcm) >= 2  # chunked: 24 codes first, then the rest
    assert len(pcm[0]) == (24 * 480 - 20 * 240) * 2  # pcm16 at 24 kHz, 20 mel frames held for the join
    assert "".join(d.get("transcript", "") for d in deltas)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


#: What the tiny model's random weights would never write unconstrained: only the grammar makes it JSON.
_MOOD = {
    "type": "object",
    "properties": {"mood": {"type": "string", "enum": ["calm", "angry", "sad"]}, "loud": {"type": "boolean"}},
    "required": ["mood", "loud"],
    "additionalProperties": False,
}
_WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "enum": ["Paris", "Oslo"]}},
            "required": ["city"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}


@pytest.mark.parametrize("seed", [1, 2])
def test_a_json_schema_constrains_the_thinker(url: str, seed: int) -> None:
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard("How does this sound?"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "mood", "schema": _MOOD, "strict": True},
        },
        max_tokens=200,
        seed=seed,
        temperature=1,  # type: ignore[arg-type]
    )
    validate(_dump(completion), "CreateChatCompletionResponse")
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    answer = json.loads(choice.message.content or "")
    jsonschema.validate(answer, _MOOD)


def test_json_object_streamed_is_an_object(url: str) -> None:
    stream = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[{"role": "user", "content": "Answer in JSON."}],
        response_format={"type": "json_object"},
        max_tokens=400,
        seed=4,
        logit_bias={"125": 10},  # "}" favoured where the grammar allows it: noise writes no end otherwise
        stream=True,
    )
    chunks = list(stream)
    for chunk in chunks:
        validate(_dump(chunk), "CreateChatCompletionStreamResponse")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert isinstance(json.loads(text), dict)


@pytest.mark.parametrize("stream", [False, True])
def test_a_required_tool_call_is_made_through_the_grammar(url: str, stream: bool) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": _heard("What is the weather where this was recorded?"),
        "tools": [_WEATHER],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 200,
        "seed": 7,
    }
    client = _client(url)
    if not stream:
        completion = client.chat.completions.create(**body)
        validate(_dump(completion), "CreateChatCompletionResponse")
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = [(c.function.name, c.function.arguments) for c in choice.message.tool_calls or []]
    else:
        chunks = list(client.chat.completions.create(**body, stream=True))
        for chunk in chunks:
            validate(_dump(chunk), "CreateChatCompletionStreamResponse")
        deltas = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
        name = "".join(d.function.name or "" for d in deltas if d.function)
        calls = [(name, "".join(d.function.arguments or "" for d in deltas if d.function))]
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert len(calls) == 1 and calls[0][0] == "get_weather"
    jsonschema.validate(json.loads(calls[0][1]), _WEATHER["function"]["parameters"])


@pytest.mark.parametrize("stream", [False, True])
def test_a_turn_that_calls_a_named_tool_is_not_spoken(url: str, stream: bool) -> None:
    body: dict[str, Any] = {
        "model": "gpt-4o-audio-preview",
        "messages": _heard("Weather?"),
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "pcm16"},
        "tools": [_WEATHER],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "max_tokens": 200,
        "seed": 3,
    }
    client = _client(url)
    if not stream:
        completion = client.chat.completions.create(**body)
        validate(_dump(completion), "CreateChatCompletionResponse")
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "tool_calls"
        assert message.audio is None and message.tool_calls
        assert message.tool_calls[0].function.name == "get_weather"
        return
    chunks = list(client.chat.completions.create(**body, stream=True))
    for chunk in chunks:
        validate(_dump(chunk), "CreateChatCompletionStreamResponse")
    assert not [c for c in chunks if c.choices and _dump(c.choices[0].delta).get("audio")]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_a_spoken_answer_under_auto_tools_that_answers_is_spoken(url: str) -> None:
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=_heard(),
        modalities=["text", "audio"],
        audio={"voice": "ethan", "format": "wav"},
        tools=[_WEATHER],
        max_tokens=10,
        seed=5,
        logit_bias={"258": -100, "256": -100, "60": -100},  # no end of turn, no `<`: text, not a call
    )
    validate(_dump(completion), "CreateChatCompletionResponse")
    choice = completion.choices[0]
    assert choice.finish_reason == "length" and not choice.message.tool_calls
    assert choice.message.audio is not None
    assert choice.message.audio.transcript  # the text is spoken (content is None with audio, as OpenAI's)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"audio": {"voice": "bagpipes", "format": "wav"}, "modalities": ["text", "audio"]}, "audio.voice"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 3}}}},
            "response_format.json_schema.schema",
        ),
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
