"""`n` > 1 with audio output, through the SDK over a fake model and a fake voice: every choice spoken,
each under its own audio id, stored and reusable; streamed, every chunk carries its choice's index."""

from __future__ import annotations

import base64
import math
from typing import Any

import openai
import pytest

from tests.conftest import serve_fake
from tests.fuzz.fakes import FakeVoice
from tests.support.openapi import validate

pytestmark = [pytest.mark.sdk, pytest.mark.usefixtures("through_upstream")]

USER = [{"role": "user", "content": "Two answers, please."}]
SAID = "You said: Two answers, please."


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def _reused(client: openai.OpenAI, audio_id: str) -> str:
    """The next turn refers to a spoken answer by its id: the model reads its transcript."""
    messages = [*USER, {"role": "assistant", "audio": {"id": audio_id}}, {"role": "user", "content": "ok"}]
    answer = client.chat.completions.create(model="gpt-audio", messages=messages, temperature=0)  # type: ignore[arg-type]
    return answer.choices[0].message.content or ""


def test_every_choice_is_spoken_under_its_own_id() -> None:
    with serve_fake(voices={"fake": FakeVoice()}) as (url, _):
        client = _client(url)
        answer = client.chat.completions.create(
            model="gpt-audio",
            messages=USER,  # type: ignore[arg-type]
            n=3,
            temperature=0,
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "wav"},
        )
        validate(answer.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionResponse")
        assert [c.index for c in answer.choices] == [0, 1, 2]
        audios = [c.message.audio for c in answer.choices]
        assert all(a is not None for a in audios)
        ids = [a.id for a in audios if a is not None]
        assert len(set(ids)) == 3
        for audio in audios:
            assert audio is not None and audio.transcript == SAID
            assert base64.b64decode(audio.data)[:4] == b"RIFF"
        seconds = len(SAID) * 0.01  # the fake voice: 10 ms a character
        usage = answer.usage
        assert usage is not None and usage.completion_tokens_details is not None
        assert usage.completion_tokens_details.audio_tokens == 3 * math.ceil(seconds * 10)
        assert _reused(client, ids[2]) == "You said: ok"


def test_streamed_choices_are_each_spoken_with_their_index() -> None:
    with serve_fake(voices={"fake": FakeVoice()}) as (url, _):
        client = _client(url)
        stream = client.chat.completions.create(
            model="gpt-audio",
            messages=USER,  # type: ignore[arg-type]
            n=2,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
            modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "pcm16"},
        )
        spoken: dict[int, dict[str, Any]] = {}
        reasons: dict[int, str] = {}
        usage = None
        for chunk in stream:
            validate(chunk.model_dump(mode="json", exclude_unset=True), "CreateChatCompletionStreamResponse")
            usage = chunk.usage or usage
            for choice in chunk.choices:
                audio = choice.delta.model_dump().get("audio") or {}  # a dict on openai 1.x, typed on 2.x
                mine = spoken.setdefault(choice.index, {"id": None, "transcript": "", "data": b""})
                mine["id"] = audio.get("id") or mine["id"]
                mine["transcript"] += audio.get("transcript") or ""
                mine["data"] += base64.b64decode(audio.get("data") or "")
                if choice.finish_reason:
                    reasons[choice.index] = choice.finish_reason
        assert sorted(spoken) == [0, 1] and reasons == {0: "stop", 1: "stop"}
        assert spoken[0]["id"] != spoken[1]["id"]
        for mine in spoken.values():
            assert mine["transcript"] == SAID and len(mine["data"]) > 0
        assert usage is not None and usage.completion_tokens_details is not None
        assert usage.completion_tokens_details.audio_tokens == 2 * math.ceil(len(SAID) * 0.01 * 10)
        assert _reused(client, spoken[1]["id"]) == "You said: ok"
