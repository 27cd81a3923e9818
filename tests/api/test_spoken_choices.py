"""`n` > 1 with audio output, through the SDK over a fake model and a fake voice: every choice spoken,
each under its own audio id, stored and reusable; streamed, every chunk carries its choice's index."""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from omnivox.audio.pcm import Audio
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


class RecordingVoice(FakeVoice):
    """The fake voice, taking `seconds` per text and recording when each text was spoken."""

    def __init__(self, seconds: float = 0.3) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self.spans: list[tuple[float, float]] = []

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        started = time.monotonic()
        time.sleep(self._seconds)
        audio = list(super().synthesize(text, speed=speed))
        with self._lock:
            self.spans.append((started, time.monotonic()))
        yield from audio


def _most_at_once(spans: list[tuple[float, float]]) -> int:
    """The most texts the voice was speaking at one moment."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def _ask(url: str, *, n: int, stream: bool) -> None:
    client = _client(url)
    audio: Any = {"voice": "alloy", "format": "pcm16" if stream else "wav"}
    answer = client.chat.completions.create(
        model="gpt-audio",
        messages=USER,
        n=n,
        temperature=0,
        stream=stream,
        modalities=["text", "audio"],
        audio=audio,
    )  # type: ignore[call-overload]
    if stream:
        for _ in answer:
            pass


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_the_choices_are_spoken_at_once(stream: bool) -> None:
    """With `synthesis.parallel` = 2 the voice speaks the two choices at the same time; with 1, strictly
    one after the other (the same requests: so the overlap is the setting's doing)."""
    for parallel, most in [(2, 2), (1, 1)]:
        voice = RecordingVoice()
        with serve_fake(voices={"fake": voice}, voice_parallel=parallel) as (url, _):
            _ask(url, n=2, stream=stream)
        assert len(voice.spans) >= 2
        assert _most_at_once(voice.spans) == most, (parallel, voice.spans)


def _two_spoken_choices(client: openai.OpenAI) -> Any:
    """A streamed answer with two spoken choices (pcm16)."""
    return client.chat.completions.create(
        model="gpt-audio",
        messages=USER,  # type: ignore[arg-type]
        n=2,
        temperature=0,
        stream=True,
        modalities=["text", "audio"],
        audio={"voice": "alloy", "format": "pcm16"},
    )


def test_streamed_choices_interleave() -> None:
    """Streamed, each choice's audio leaves as it is spoken: the second choice's first audio comes
    before the first choice's last (they are not sent one choice after the other)."""
    voice = RecordingVoice(seconds=0.1)
    with serve_fake(voices={"fake": voice}, voice_parallel=2) as (url, _):
        stream = _two_spoken_choices(_client(url))
        audio_from = [
            c.index
            for chunk in stream
            for c in chunk.choices
            if (c.delta.model_dump().get("audio") or {}).get("data")
        ]
    assert sorted(set(audio_from)) == [0, 1]
    assert audio_from.index(1) < len(audio_from) - 1 - audio_from[::-1].index(0), audio_from


def test_leaving_a_streamed_answer_frees_the_voice() -> None:
    """The client leaves while two choices are being spoken at once: the answer's place in the voice's
    queue (its only one) is given back, so the next spoken request is served, not refused with a 503."""
    voice = RecordingVoice(seconds=0.2)
    with serve_fake(voices={"fake": voice}, voice_parallel=2, voice_pending=1) as (url, _):
        client = _client(url)
        stream = _two_spoken_choices(client)
        for chunk in stream:
            if any((c.delta.model_dump().get("audio") or {}).get("data") for c in chunk.choices):
                break
        stream.close()
        deadline = time.monotonic() + 10
        while True:  # the server notices the closed connection at its next write
            try:
                _ask(url, n=2, stream=False)
                break
            except openai.APIStatusError as exc:
                assert exc.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.1)
