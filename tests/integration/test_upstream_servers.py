"""The upstream text stage against real OpenAI-compatible servers started here as processes: llama.cpp's
own server (`python -m llama_cpp.server`, the package omnivox builds) and another `omnivox serve`, both on
the embedded SmolLM2. omnivox in front passes the request on, speaks the answer with its own voices, and
refuses what the upstream is configured not to honour."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from omnivox.backends.upstream.model import UpstreamChatModel
from omnivox.config import UpstreamModelSettings
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.serving.registry import resolve_source
from tests.conftest import serve_chat
from tests.support.openapi import validate
from tests.support.sse import read_events
from tests.support.upstream import llama_server, omnivox_server

pytestmark = [pytest.mark.model, pytest.mark.sdk]

ASK = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _front(base: str, upstream_model: str, voices: dict[str, SpeechSynthesizer], **fields: Any) -> Any:
    entry = UpstreamModelSettings.model_validate(
        {
            "id": "up",
            "backend": "openai",
            "base_url": f"{base}/v1",
            "upstream_model": upstream_model,
            **fields,
        }
    )
    return serve_chat(functools.partial(UpstreamChatModel, entry), voices=voices, model_id="up")


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def llama_front(
    voices: dict[str, SpeechSynthesizer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """omnivox in front of llama.cpp's server, which ignores `n` and knows no json_schema format."""
    log = tmp_path_factory.mktemp("llama") / "server.log"
    gguf = resolve_source("embedded:smollm2-135m-instruct")
    with (
        llama_server(gguf, log=log) as base,
        _front(
            base, "smollm2", {"slt": voices["slt"]}, context_window=2048, unsupported=["n", "response_format"]
        ) as url,
    ):
        yield url


@pytest.fixture(scope="module")
def omnivox_front(
    voices: dict[str, SpeechSynthesizer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """omnivox in front of another omnivox process (text only there: no recogniser, one voice)."""
    folder = tmp_path_factory.mktemp("omnivox-upstream")
    config = folder / "omnivox.toml"
    config.write_text(
        "speech_models = []\n"
        "[[models]]\ncontext_window = 2048\n"
        f'[synthesis]\nvoices = [{{id = "slt", backend = "flite", source = "slt"}}]\nvoice_map = {{}}\n'
        f'store = "{folder / "audio.sqlite3"}"\n'
    )
    with (
        omnivox_server("--config", str(config), log=folder / "server.log") as base,
        _front(base, "smollm2-135m-instruct", {"slt": voices["slt"]}) as url,
    ):
        yield url


def test_text_whole_and_streamed_through_llama_cpp_server(llama_front: str) -> None:
    client = _client(llama_front)
    whole = client.chat.completions.create(model="up", messages=ASK, temperature=0, max_tokens=24)  # type: ignore[arg-type]
    validate(whole.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    text = whole.choices[0].message.content
    assert text and whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage and whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0
    body = {"model": "up", "messages": ASK, "temperature": 0, "max_tokens": 24, "stream": True}
    events, done = read_events(llama_front, body)
    assert done
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
    assert "".join(c["delta"].get("content") or "" for e in events for c in e["choices"]) == text


def test_a_named_tool_is_called_through_llama_cpp_server(llama_front: str) -> None:
    completion = _client(llama_front).chat.completions.create(
        model="up",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        temperature=0,
        max_tokens=40,
    )
    validate(completion.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments), dict)  # type: ignore[union-attr]


def test_logprobs_pass_through_llama_cpp_server(llama_front: str) -> None:
    completion = _client(llama_front).chat.completions.create(
        model="up",
        messages=ASK,
        temperature=0,
        max_tokens=4,
        logprobs=True,
        top_logprobs=2,  # type: ignore[arg-type]
    )
    entries = completion.choices[0].logprobs and completion.choices[0].logprobs.content
    assert entries and all(len(e.top_logprobs) == 2 for e in entries)
    assert "".join(e.token for e in entries) == completion.choices[0].message.content


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"n": 2}, "n"), ({"response_format": {"type": "json_object"}}, "response_format")],
)
def test_what_llama_cpp_server_ignores_is_refused(
    llama_front: str, fields: dict[str, Any], param: str
) -> None:
    response = httpx.post(
        f"{llama_front}/v1/chat/completions", json={"model": "up", "messages": ASK, **fields}, timeout=60
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_the_answer_of_llama_cpp_server_is_spoken_by_omnivox(llama_front: str) -> None:
    completion = _client(llama_front).chat.completions.create(
        model="up",
        messages=ASK,
        modalities=["text", "audio"],  # type: ignore[arg-type]
        audio={"voice": "slt", "format": "wav"},
        temperature=0,
        max_tokens=16,
    )
    audio = completion.choices[0].message.audio
    assert audio and audio.transcript and audio.id.startswith("audio_")
    assert base64.b64decode(audio.data)[:4] == b"RIFF"
    models = httpx.get(f"{llama_front}/v1/models/up", timeout=10).json()
    assert models["context_window"] == 2048


def test_json_schema_and_tools_pass_through_another_omnivox(omnivox_front: str) -> None:
    client = _client(omnivox_front)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    completion = client.chat.completions.create(
        model="up",
        messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        temperature=0,
        max_tokens=40,
    )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)
    called = client.chat.completions.create(
        model="up",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],  # type: ignore[list-item]
        tool_choice="required",
        temperature=0,
        max_tokens=200,  # the whole call is 61 tokens: 60 cut it, which is now finish_reason "length"
    )
    assert called.choices[0].finish_reason == "tool_calls"
    assert called.choices[0].message.tool_calls
    assert called.choices[0].message.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]


def test_streamed_usage_and_window_come_from_another_omnivox(omnivox_front: str) -> None:
    chunks = list(
        _client(omnivox_front).chat.completions.create(
            model="up",
            messages=ASK,
            temperature=0,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage and usage.prompt_tokens > 10 and usage.completion_tokens == 8
    assert httpx.get(f"{omnivox_front}/v1/models/up", timeout=10).json()["context_window"] == 2048
