"""The chat contract on a fake model, driven by the real openai SDK over loopback; every response and
chunk validated against OpenAI's OpenAPI description."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import serve_fake
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate
from tests.support.sse import read_events

pytestmark = [pytest.mark.sdk, pytest.mark.usefixtures("through_upstream")]

USER = [{"role": "user", "content": "héllo wörld"}]


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="anything", max_retries=0)


def test_completion_through_the_sdk(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    completion = _client(url).chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=USER,
        temperature=0,  # type: ignore[arg-type]
    )
    validate(completion.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    choice = completion.choices[0]
    assert choice.message.content == "You said: héllo wörld"
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert completion.model == "gpt-4o-audio-preview" and completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    # the fake's own, or (its text stage upstream) the one omnivox derives from the upstream's address
    assert (completion.system_fingerprint or "").startswith("fp_")
    usage = completion.usage
    assert usage is not None
    assert usage.completion_tokens == len("You said: héllo wörld".encode())  # one byte per fake token
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.audio_tokens == 0


def test_stream_concatenates_to_the_completion(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    stream = _client(url).chat.completions.create(
        model="gpt-audio",
        messages=USER,
        temperature=0,
        stream=True,  # type: ignore[arg-type]
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "You said: héllo wörld"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.usage is None for c in chunks)
    assert len({c.id for c in chunks}) == 1


def test_raw_stream_chunks_validate_and_usage_chunk_comes_last(
    fake_server: tuple[str, FakeLanguageModel],
) -> None:
    url, _ = fake_server
    events, done = read_events(
        url,
        {
            "model": "gpt-4o-audio-preview",
            "messages": USER,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
        },
    )
    assert done
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
    *body, last = events
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == len(
        "You said: héllo wörld".encode()
    )
    assert all(e["usage"] is None for e in body)
    assert body[-1]["choices"][0]["finish_reason"] == "stop"
    assert sum(1 for e in body if e["choices"][0]["finish_reason"] is not None) == 1


def test_raw_completion_validates(fake_server: tuple[str, FakeLanguageModel]) -> None:
    import httpx

    url, _ = fake_server
    response = httpx.post(f"{url}/v1/chat/completions", json={"model": "gpt-audio", "messages": USER})
    assert response.status_code == 200
    body = response.json()
    validate(body, "CreateChatCompletionResponse")
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["refusal"] is None


@pytest.mark.parametrize("stream", [False, True])
def test_stop_string_split_across_tokens_is_cut(stream: bool) -> None:
    # every fake token is one byte, so the 3-byte stop string always spans several tokens
    with serve_fake(FakeLanguageModel(lambda _: "alpha beta STOP gamma")) as (url, _):
        client = _client(url)
        kwargs = {"model": "gpt-audio", "messages": USER, "stop": ["STOP", "zzz"], "temperature": 0}
        if stream:
            chunks = list(client.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            reason = chunks[-1].choices[0].finish_reason
        else:
            completion = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
            text, reason = completion.choices[0].message.content, completion.choices[0].finish_reason
    assert text == "alpha beta " and reason == "stop"


def test_a_partial_stop_match_is_released() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "a STO b")) as (url, _):
        chunks = list(
            _client(url).chat.completions.create(
                model="gpt-audio",
                messages=USER,
                stop="STOP",
                temperature=0,
                stream=True,  # type: ignore[arg-type]
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a STO b"


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_token_limit_finishes_with_length(fake_server: tuple[str, FakeLanguageModel], param: str) -> None:
    url, _ = fake_server
    completion = _client(url).chat.completions.create(
        model="gpt-audio",
        messages=USER,
        temperature=0,
        **{param: 5},  # type: ignore[call-overload]
    )
    assert completion.choices[0].message.content == "You s"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_generation_stops_at_the_context_window() -> None:
    fake = FakeLanguageModel(lambda _: "x" * 500, context_window=64)
    with serve_fake(fake) as (url, _):
        completion = _client(url).chat.completions.create(model="gpt-audio", messages=USER, temperature=0)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens + usage.completion_tokens == 64
    assert completion.choices[0].finish_reason == "length"


def test_roles_and_content_parts_reach_the_template(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, fake = fake_server
    seen: list[str] = []

    def script(prompt: str) -> str:
        seen.append(prompt)
        return "ok"

    fake._script = script
    _client(url).chat.completions.create(
        model="gpt-audio",
        messages=[
            {"role": "developer", "content": "be brief"},
            {
                "role": "system",
                "content": [{"type": "text", "text": "sys "}, {"type": "text", "text": "two"}],
            },
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "a1"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "42"},
            {"role": "user", "content": [{"type": "text", "text": "q2"}]},
        ],
    )
    assert seen[-1] == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>system\nsys two<|im_end|>\n"
        "<|im_start|>user\nq1<|im_end|>\n<|im_start|>assistant\na1<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>{"name": "f", "arguments": {}}</tool_call><|im_end|>\n'
        "<|im_start|>tool\n42<|im_end|>\n"
        "<|im_start|>user\nq2<|im_end|>\n<|im_start|>assistant\n"
    )


def test_sampling_with_a_seed_reproduces(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, fake = fake_server
    fake._confidence = 1.0  # flat enough that sampling wanders off the script
    client = _client(url)

    def ask(seed: int) -> str | None:
        completion = client.chat.completions.create(
            model="gpt-audio", messages=USER, temperature=1.0, seed=seed, max_tokens=20
        )
        return completion.choices[0].message.content

    assert ask(11) == ask(11)
    assert {ask(s) for s in (1, 2, 3)} != {ask(11)}


def test_models_list_and_retrieve(fake_server: tuple[str, FakeLanguageModel]) -> None:
    import httpx

    url, _ = fake_server
    raw = httpx.get(f"{url}/v1/models").json()
    validate(raw, "ListModelsResponse")
    ids = [m["id"] for m in raw["data"]]
    assert ids == ["fake-chat", "gpt-4o-audio-preview", "gpt-4o-mini-audio-preview", "gpt-audio"]
    assert all(m["context_window"] == 4096 for m in raw["data"])
    client = _client(url)
    assert [m.id for m in client.models.list()] == ids
    card = client.models.retrieve("gpt-audio")
    assert card.id == "gpt-audio" and card.owned_by == "omnivox"
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"


def test_sdk_errors_carry_openai_fields(fake_server: tuple[str, FakeLanguageModel]) -> None:
    url, _ = fake_server
    client = _client(url)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-audio",
            messages=[{"role": "user", "content": "x"}],
            temperature=3,  # type: ignore[arg-type]
        )
    assert caught.value.param == "temperature" and caught.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-5", messages=USER)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found" and missing.value.param == "model"


def test_failure_after_streaming_started_is_one_error_event() -> None:
    with serve_fake(FakeLanguageModel(lambda _: "a long answer", fail_after=4)) as (url, _):
        events, done = read_events(
            url, {"model": "gpt-audio", "messages": USER, "stream": True, "temperature": 0}
        )
        assert done
        assert "error" in events[-1] and "choices" not in events[-1]
        validate(events[-1], "ErrorResponse")
        assert sum("error" in e for e in events) == 1
        with pytest.raises(openai.APIError):
            list(_client(url).chat.completions.create(model="gpt-audio", messages=USER, stream=True))  # type: ignore[arg-type]
        # the server still serves
        assert _client(url).models.list().data


PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
    "additionalProperties": False,
}


def _schema_in_prompt(prompt: str) -> str:
    """A model that answers whether the schema was asked for in its prompt."""
    return '{"name": "asked"}' if '"required": ["name"]' in prompt else "not asked"


@pytest.mark.parametrize("flag", [True, False, None])
def test_structured_outputs_false_asks_for_the_schema_in_the_prompt(flag: bool | None) -> None:
    """`structured_outputs: false` puts the schema in the prompt and enforces nothing, so a model with no
    grammar engine (the fake) serves it; `true` (the default) enforces by grammar, which this model
    cannot: refused naming `response_format`, never ignored."""
    with serve_fake(FakeLanguageModel(_schema_in_prompt)) as (url, _):
        client = _client(url)
        fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON}}
        extra = {} if flag is None else {"structured_outputs": flag}
        if flag is False:
            answer = client.chat.completions.create(
                model="gpt-audio", messages=USER, response_format=fmt, temperature=0, extra_body=extra
            )
            validate(answer.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
            assert answer.choices[0].message.content == '{"name": "asked"}'
        else:
            with pytest.raises(openai.BadRequestError) as refused:
                client.chat.completions.create(
                    model="gpt-audio", messages=USER, response_format=fmt, temperature=0, extra_body=extra
                )
            assert refused.value.body["param"] == "response_format"  # type: ignore[index]
        plain = client.chat.completions.create(
            model="gpt-audio", messages=USER, temperature=0, extra_body=extra
        )
        assert plain.choices[0].message.content == "not asked"  # no schema, nothing asked
