"""Tool calling on the real SmolLM2: every call names a declared function and its arguments validate,
because decoding is constrained by a grammar built from the functions' schemas."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.config import load_settings
from tests.support.chat import completion
from tests.support.openapi import validate
from tests.support.server import live_server
from tests.support.sse import read_events

pytestmark = [pytest.mark.model, pytest.mark.sdk]

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
    "additionalProperties": False,
}
TIME = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 40}},
    "required": ["city"],
    "additionalProperties": False,
}
TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER},
    },
    {
        "type": "function",
        "function": {"name": "get_time", "description": "Time in a city", "parameters": TIME},
    },
]
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("store") / "audio.sqlite3"
    settings = load_settings(
        models=[{"context_window": 2048, "max_completion_tokens": 200}], synthesis={"store": str(store)}
    )
    with live_server(create_app(settings)) as base:
        yield base


def _complete(url: str, **fields: Any) -> dict[str, Any]:
    body = {"model": "gpt-4o-audio-preview", "messages": ASK, "tools": TOOLS, **fields}
    return completion(url, body, timeout=300)


def _check_calls(calls: list[dict[str, Any]]) -> None:
    assert calls
    for call in calls:
        assert call["id"].startswith("call_") and call["type"] == "function"
        name = call["function"]["name"]
        jsonschema.validate(json.loads(call["function"]["arguments"]), SCHEMAS[name])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_required_calls_validate(url: str, seed: int, temperature: float) -> None:
    choice = _complete(url, tool_choice="required", seed=seed, temperature=temperature)["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    _check_calls(choice["message"]["tool_calls"])


def test_a_named_function_is_called(url: str) -> None:
    choice = _complete(url, tool_choice={"type": "function", "function": {"name": "get_time"}}, seed=4)[
        "choices"
    ][0]
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_time"]
    _check_calls(calls)


def test_none_answers_in_text(url: str) -> None:
    choice = _complete(url, tool_choice="none", seed=1, max_tokens=20)["choices"][0]
    assert choice["message"]["content"] and "tool_calls" not in choice["message"]
    assert choice["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_auto_answers_or_calls_validly(url: str, seed: int) -> None:
    choice = _complete(url, seed=seed, max_tokens=120)["choices"][0]
    if choice["finish_reason"] == "tool_calls":
        _check_calls(choice["message"]["tool_calls"])
    else:
        assert choice["message"]["content"] and not choice["message"]["content"].startswith("<")


def test_parallel_tool_calls_false_gives_one_call(url: str) -> None:
    for seed in (1, 2):
        calls = _complete(url, tool_choice="required", parallel_tool_calls=False, seed=seed)["choices"][0][
            "message"
        ]["tool_calls"]
        assert len(calls) == 1


def test_streamed_calls(url: str) -> None:
    events, done = read_events(
        url,
        {
            "model": "gpt-audio",
            "messages": ASK,
            "tools": TOOLS,
            "tool_choice": "required",
            "seed": 2,
            "stream": True,
        },
    )
    assert done
    calls: dict[int, dict[str, Any]] = {}
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
        for delta_call in event["choices"][0]["delta"].get("tool_calls") or []:
            call = calls.setdefault(
                delta_call["index"], {"id": None, "type": None, "function": {"name": None, "arguments": ""}}
            )
            if "id" in delta_call:
                call.update(
                    id=delta_call["id"], type=delta_call["type"], function=dict(delta_call["function"])
                )
            else:
                call["function"]["arguments"] += delta_call["function"]["arguments"]
    fragments = sum(len(e["choices"][0]["delta"].get("tool_calls") or []) for e in events if e["choices"])
    assert fragments > len(calls)  # the arguments came in pieces
    _check_calls(list(calls.values()))
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_results_are_rendered_for_the_next_turn(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    first = client.chat.completions.create(
        model="gpt-audio",
        messages=ASK,
        tools=TOOLS,
        tool_choice="required",  # type: ignore[arg-type]
        seed=1,
    )
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    follow_up = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"},
    ]
    second = client.chat.completions.create(
        model="gpt-audio",
        messages=follow_up,
        tools=TOOLS,
        tool_choice="none",  # type: ignore[arg-type]
        seed=1,
        max_tokens=40,
    )
    baseline = client.chat.completions.create(
        model="gpt-audio",
        messages=ASK,
        tools=TOOLS,
        tool_choice="none",  # type: ignore[arg-type]
        seed=1,
        max_tokens=1,
    )
    assert second.choices[0].message.content
    # the call (written as the model writes calls) and its result are in the prompt
    assert second.usage and baseline.usage
    assert second.usage.prompt_tokens > baseline.usage.prompt_tokens + 20


def test_a_spoken_question_calls_a_tool_and_that_turn_has_no_audio(
    url: str, librivox: list[tuple[Path, str]]
) -> None:
    path, _ = librivox[0]
    audio = base64.b64encode(path.read_bytes()).decode()
    messages = [
        {
            "role": "user",
            "content": [{"type": "input_audio", "input_audio": {"data": audio, "format": "wav"}}],
        }
    ]
    choice = _complete(
        url,
        messages=messages,
        tool_choice="required",
        seed=1,
        modalities=["text", "audio"],
        audio={"voice": "coral", "format": "wav"},
    )["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and "audio" not in choice["message"]
    _check_calls(choice["message"]["tool_calls"])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
        ({"tools": [*TOOLS, TOOLS[0]]}, "tools"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"not": {}}}}},
            "response_format.json_schema.schema",
        ),
        (
            {
                "tools": [
                    {
                        "type": "function",
                        "function": {"name": "f", "parameters": {"type": "string", "format": "uri"}},
                    }
                ]
            },
            "tools",
        ),
    ],
)
def test_bad_tool_requests(url: str, fields: dict[str, Any], param: str) -> None:
    response = httpx.post(
        f"{url}/v1/chat/completions", json={"model": "gpt-audio", "messages": ASK, "tools": TOOLS, **fields}
    )
    assert response.status_code == 400, response.text
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == param


def _streamed_choice(url: str, body: dict[str, Any]) -> tuple[str | None, dict[int, dict[str, str]], str]:
    """Choice 0 of a streamed answer: its finish reason, its calls (index -> name, arguments), its text."""
    events, done = read_events(url, {**body, "stream": True})
    assert done
    reason, calls, content = None, {}, ""
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
        for choice in event["choices"]:
            reason = choice["finish_reason"] or reason
            content += choice["delta"].get("content") or ""
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"name": "", "arguments": ""})
                call["name"] += delta["function"].get("name") or ""
                call["arguments"] += delta["function"].get("arguments") or ""
    return reason, calls, content


@pytest.mark.parametrize("limit", [22, 26])
def test_a_call_cut_by_the_limit_finishes_with_length_streamed_or_not(url: str, limit: int) -> None:
    """The limit ends the answer inside a call's arguments: `finish_reason` is `length` (as OpenAI says),
    not `tool_calls`, and the cut call is the same streamed or not: its name and the arguments so far."""
    body = {
        "model": "gpt-audio",
        "messages": ASK,
        "tools": TOOLS,
        "tool_choice": "required",
        "seed": 3,
        "max_completion_tokens": limit,
    }
    whole = completion(url, body, timeout=300)
    validate(whole, "CreateChatCompletionResponse")
    choice = whole["choices"][0]
    assert choice["finish_reason"] == "length"
    calls = choice["message"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["function"]["name"] in SCHEMAS
    arguments = calls[0]["function"]["arguments"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)  # cut
    reason, streamed, _ = _streamed_choice(url, body)
    assert reason == "length"
    assert streamed == {0: {"name": calls[0]["function"]["name"], "arguments": arguments}}


ANSWER = {
    "type": "object",
    "properties": {"reply": {"type": "string", "maxLength": 30}, "sure": {"type": "boolean"}},
    "required": ["reply", "sure"],
    "additionalProperties": False,
}
ANSWER_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER, "strict": True}}
#: SmolLM2's tokens that start with `<`: banned, the model cannot begin a call and must answer.
OPENING = [44, 2067, 9617, 10204, 22577, 22646, 33691]


def _accepts(model: Any, grammar: str, text: str) -> bool:
    constraint = model.constrain(grammar)
    try:
        for token in model.tokenize(text):
            if not constraint.allows(token):
                return False
            constraint.accept(token)
        return True
    finally:
        constraint.close()


def test_one_grammar_takes_a_call_or_a_schema_valid_answer() -> None:
    from omnivox.backends.logits.tool_format import calls_grammar
    from omnivox.config import LanguageModelSettings
    from omnivox.runtimes.chat_model import JsonSchema, Tool, ToolChoice
    from omnivox.serving.registry import load_llama_cpp

    tools = tuple(Tool(t["function"]["name"], "", t["function"]["parameters"]) for t in TOOLS)
    answer = JsonSchema(ANSWER, "answer")
    model = load_llama_cpp(LanguageModelSettings(id="smollm2", context_window=512))
    try:
        auto = calls_grammar(ToolChoice(tools, "auto", True, answer=answer))
        call = '<tool_call>{"name": "get_time", "arguments": {"city": "Oslo"}}</tool_call>'
        assert _accepts(model, auto, call)
        assert _accepts(model, auto, '{"reply": "hi", "sure": true}')
        assert not _accepts(model, auto, "Hello")  # free text: not without the schema
        assert not _accepts(model, auto, '{"other": 1}')
        required = calls_grammar(ToolChoice(tools, "required", True, answer=answer))
        assert _accepts(model, required, call)
        assert not _accepts(model, required, '{"reply": "hi", "sure": true}')
    finally:
        model.close()


COMMUTE = {
    "type": "object",
    "properties": {"home": {"$ref": "#/$defs/city"}, "work": {"$ref": "#/$defs/city"}},
    "required": ["home", "work"],
    "additionalProperties": False,
    "$defs": {"city": {"type": "string", "enum": ["Oslo", "Rome"]}},
}


def test_a_tools_refs_resolve_within_its_own_parameters() -> None:
    """`#/$defs/...` in a function's parameters points into those parameters (not into a wrapper holding
    every tool), on the real vocabulary; the other function's bounds hold alongside."""
    from omnivox.backends.logits.tool_format import calls_grammar
    from omnivox.config import LanguageModelSettings
    from omnivox.runtimes.chat_model import Tool, ToolChoice
    from omnivox.serving.registry import load_llama_cpp

    age = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 0, "maximum": 120}}}
    tools = (Tool("commute", "", COMMUTE), Tool("born", "", age | {"required": ["age"]}))
    model = load_llama_cpp(LanguageModelSettings(id="smollm2", context_window=512))
    try:
        grammar = calls_grammar(ToolChoice(tools, "required", True))
        call = '<tool_call>{"name": "commute", "arguments": {"home": "Oslo", "work": "Rome"}}</tool_call>'
        assert _accepts(model, grammar, call)
        assert not _accepts(model, grammar, call.replace("Rome", "Paris"))
        assert _accepts(model, grammar, '<tool_call>{"name": "born", "arguments": {"age": 120}}</tool_call>')
        assert not _accepts(
            model, grammar, '<tool_call>{"name": "born", "arguments": {"age": 121}}</tool_call>'
        )
    finally:
        model.close()


def test_a_call_with_refs_through_the_sdk(url: str) -> None:
    tools = [{"type": "function", "function": {"name": "commute", "parameters": COMMUTE}}]
    ask = [{"role": "user", "content": "I live in Oslo and work in Rome."}]
    fields = {"tool_choice": "required", "parallel_tool_calls": False, "temperature": 0}
    choice = _complete(url, messages=ask, tools=tools, **fields)["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    for call in choice["message"]["tool_calls"]:
        jsonschema.validate(json.loads(call["function"]["arguments"]), COMMUTE)


@pytest.mark.parametrize("seed", [1, 2])
def test_tools_with_a_json_schema_call_or_answer_valid_json(url: str, seed: int) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=1200)
    for streamed in (False, True):
        kwargs: dict[str, Any] = {"model": "gpt-audio", "messages": ASK, "tools": TOOLS, "seed": seed}
        kwargs |= {"response_format": ANSWER_FORMAT, "max_completion_tokens": 300}
        if not streamed:
            choice = client.chat.completions.create(**kwargs).choices[0]
            calls = [c.model_dump() for c in choice.message.tool_calls or []]
            reason, content = choice.finish_reason, choice.message.content
        else:
            reason, streamed_calls, content = _streamed_choice(url, kwargs)
            calls = [{"function": c} for c in streamed_calls.values()]
        if reason == "tool_calls":
            for call in calls:
                jsonschema.validate(
                    json.loads(call["function"]["arguments"]), SCHEMAS[call["function"]["name"]]
                )
        else:
            assert reason == "stop"
            jsonschema.validate(json.loads(content or ""), ANSWER)


def test_tools_with_a_json_schema_answer_when_no_call_can_start(url: str) -> None:
    choice = _complete(
        url, response_format=ANSWER_FORMAT, logit_bias={str(t): -100 for t in OPENING}, seed=4
    )["choices"][0]
    assert choice["finish_reason"] == "stop" and not choice["message"].get("tool_calls")
    jsonschema.validate(json.loads(choice["message"]["content"]), ANSWER)


def _spoken_stream(url: str, **fields: Any) -> tuple[str | None, dict[int, dict[str, str]], dict[str, Any]]:
    """A streamed spoken answer through the SDK: its finish reason, its calls, and its audio (id,
    transcript, pcm16 bytes) read from `delta.audio` (a dict on openai 1.x, typed on 2.x: dumped)."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=1200)
    stream = client.chat.completions.create(
        model="gpt-audio",
        tools=TOOLS,
        stream=True,
        modalities=["text", "audio"],
        audio={"voice": "coral", "format": "pcm16"},
        **fields,
    )
    reason, calls = None, {}
    audio: dict[str, Any] = {"id": None, "transcript": "", "data": b""}
    for chunk in stream:
        validate(chunk.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionStreamResponse")
        for choice in chunk.choices:
            reason = choice.finish_reason or reason
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                call["name"] += (delta.function and delta.function.name) or ""
                call["arguments"] += (delta.function and delta.function.arguments) or ""
            spoken = choice.delta.model_dump().get("audio") or {}
            audio["id"] = spoken.get("id") or audio["id"]
            audio["transcript"] += spoken.get("transcript") or ""
            audio["data"] += base64.b64decode(spoken.get("data") or "")
    return reason, calls, audio


def test_a_streamed_spoken_answer_calls_a_tool_and_the_turn_after_is_spoken(url: str) -> None:
    reason, calls, audio = _spoken_stream(url, messages=ASK, tool_choice="required", seed=1)
    assert reason == "tool_calls" and calls and audio["id"] is None and not audio["data"]
    for call in calls.values():
        jsonschema.validate(json.loads(call["arguments"]), SCHEMAS[call["name"]])
    name, arguments = calls[0]["name"], calls[0]["arguments"]
    turn = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }
    result = {"role": "tool", "tool_call_id": "call_1", "content": '{"weather": "sunny, 21 C"}'}
    after = [*ASK, turn, result]
    banned = {str(t): -100 for t in OPENING}  # so that the model answers rather than calls again
    reason, calls, audio = _spoken_stream(
        url, messages=after, logit_bias=banned, seed=1, max_completion_tokens=40
    )
    assert reason in ("stop", "length") and not calls
    assert audio["id"] and audio["transcript"].strip() and len(audio["data"]) > 4800  # > 0.1 s of pcm16
    again = [
        *after,
        {"role": "assistant", "audio": {"id": audio["id"]}},
        {"role": "user", "content": "Thanks!"},
    ]
    reply = _complete(url, messages=again, tool_choice="none", max_completion_tokens=5)
    assert reply["choices"][0]["message"]["content"]  # the stored spoken answer is reusable
