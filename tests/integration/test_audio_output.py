"""Spoken answers in chat: every format, streamed pcm16 while the model writes, stored answers recalled
in later turns. The language model is a scripted fake; the voices, the encoders and the recogniser that
checks the round trip are real."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest

from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.pcm import Audio
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.storage.audio_store import SQLiteAudioStore, StoredAudio
from tests.conftest import serve_fake
from tests.support.chat import completion
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate
from tests.support.sse import read_events
from tests.support.wer import wer

pytestmark = [pytest.mark.model, pytest.mark.sdk]

ANSWER = "Hello there. The **quick** brown fox jumps over the lazy dog, and then it runs far away. Goodbye!"
SPOKEN = "Hello there. The quick brown fox jumps over the lazy dog, and then it runs far away. Goodbye!"
ASK = [{"role": "user", "content": "Tell me about the fox."}]


@pytest.fixture(scope="module", params=["local", "upstream"])
def served(
    request: pytest.FixtureRequest,
    tiny_whisper: SpeechRecognizer,
    voices: dict[str, SpeechSynthesizer],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, FakeLanguageModel]]:
    """The fake served directly, and behind an omnivox whose text stage is upstream: omnivox speaks the
    upstream's text with its own voices."""
    store = tmp_path_factory.mktemp("store") / "audio.sqlite3"
    synthesis = {"store": str(store), "voices": [{"id": v, "source": v} for v in voices]}
    with serve_fake(
        FakeLanguageModel(lambda _: ANSWER),
        speech=[tiny_whisper],
        voices=voices,
        synthesis=synthesis,
        upstream=request.param == "upstream",
    ) as running:
        yield running


@pytest.fixture
def url(served: tuple[str, FakeLanguageModel]) -> str:
    return served[0]


def _pcm16(data: bytes) -> Audio:
    return Audio(np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0, 24_000)


def _heard(recognizer: SpeechRecognizer, audio: Audio) -> str:
    return recognizer.recognize(audio).complete().text


def _ask(url: str, **fields: Any) -> dict[str, Any]:
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": ASK,
        "modalities": ["text", "audio"],
        "temperature": 0,
        **fields,
    }
    return completion(url, body, timeout=120)


@pytest.mark.parametrize("fmt", ["wav", "mp3", "flac", "opus", "aac", "pcm16"])
def test_every_format_speaks_the_transcript(url: str, tiny_whisper: SpeechRecognizer, fmt: str) -> None:
    result = _ask(url, audio={"voice": "alloy", "format": fmt})
    message = result["choices"][0]["message"]
    assert message["content"] is None and message["refusal"] is None
    audio = message["audio"]
    assert audio["id"].startswith("audio_") and audio["transcript"] == SPOKEN  # markup is not spoken
    assert abs(audio["expires_at"] - (time.time() + 3600)) < 60
    data = base64.b64decode(audio["data"])
    decoded = _pcm16(data) if fmt == "pcm16" else decode(data, {"opus": "ogg"}.get(fmt, fmt), AudioLimits())
    assert decoded.sample_rate == (48_000 if fmt == "opus" else 24_000)  # Opus always decodes at 48 kHz
    assert wer([SPOKEN], [_heard(tiny_whisper, decoded)]) < 0.2
    details = result["usage"]["completion_tokens_details"]
    assert details["text_tokens"] == len(ANSWER.encode())  # the fake's tokens are bytes
    assert (
        details["audio_tokens"] == int(np.ceil(decoded.duration * 10))
        or abs(details["audio_tokens"] - decoded.duration * 10) <= 2
    )
    assert result["usage"]["completion_tokens"] == details["text_tokens"] + details["audio_tokens"]


def _audio_delta(chunk: Any) -> dict[str, Any] | None:
    """delta.audio as a dict, from either SDK line (1.x: a dict; 3.x: a typed object)."""
    audio = getattr(chunk.choices[0].delta, "audio", None) if chunk.choices else None
    if audio is None or isinstance(audio, dict):
        return audio
    return {k: v for k, v in audio.model_dump().items() if v is not None}


def test_streamed_pcm16_through_the_sdk(url: str, tiny_whisper: SpeechRecognizer) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-audio-preview",
            messages=ASK,
            modalities=["text", "audio"],  # type: ignore[arg-type]
            audio={"voice": "coral", "format": "pcm16"},
            stream=True,
            stream_options={"include_usage": True},
            temperature=0,
        )
    )
    deltas = [d for c in chunks if (d := _audio_delta(c))]
    assert set(deltas[0]) == {"id"} and deltas[0]["id"].startswith("audio_")
    assert set(deltas[-1]) == {"expires_at"}
    transcript = "".join(d.get("transcript", "") for d in deltas)
    pcm = b"".join(base64.b64decode(d["data"]) for d in deltas if "data" in d)
    assert transcript == SPOKEN
    assert wer([SPOKEN], [_heard(tiny_whisper, _pcm16(pcm))]) < 0.2
    kinds = ["t" if "transcript" in d else "d" for d in deltas[1:-1]]
    assert kinds[0] == "t" and kinds.count("t") == 4  # four pieces, each transcript before its audio
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    usage = chunks[-1].usage
    assert usage and usage.completion_tokens_details and usage.completion_tokens_details.audio_tokens
    assert all(not c.choices or not c.choices[0].delta.content for c in chunks)


def test_streamed_chunks_validate(url: str) -> None:
    events, done = read_events(
        url,
        {
            "model": "gpt-audio",
            "messages": ASK,
            "modalities": ["text", "audio"],
            "audio": {"voice": "onyx", "format": "pcm16"},
            "stream": True,
        },
    )
    assert done
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert events[0]["choices"][0]["delta"]["content"] is None


def test_speech_overlaps_generation(
    tiny_whisper: SpeechRecognizer, voices: dict[str, SpeechSynthesizer]
) -> None:
    """With a slow model (5 ms a token), the first audio arrives long before the text is complete."""
    long_answer = "This is the first sentence of a long answer. " + "And here is more text to say. " * 30
    slow = FakeLanguageModel(lambda _: long_answer, delay=0.005)
    with serve_fake(slow, voices=voices) as (url, _):
        started = time.monotonic()
        first_audio = None
        body = {
            "model": "gpt-audio",
            "messages": ASK,
            "modalities": ["text", "audio"],
            "audio": {"voice": "ballad", "format": "pcm16"},
            "stream": True,
            "temperature": 0,
        }
        with httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=120) as response:
            for line in response.iter_lines():
                if first_audio is None and '"data":"' in line:
                    first_audio = time.monotonic() - started
        total = time.monotonic() - started
    generation = len(long_answer) * 0.005  # the fake alone needs this long for the text
    assert first_audio is not None and first_audio < generation / 3 and total > generation


def test_stored_answer_is_recalled_in_a_later_turn(served: tuple[str, FakeLanguageModel]) -> None:
    url, fake = served
    spoken = _ask(url, audio={"voice": "alloy", "format": "mp3"})["choices"][0]["message"]["audio"]
    prompts: list[str] = []
    original = fake._script
    fake._script = lambda prompt: prompts.append(prompt) or "ok"  # type: ignore[func-returns-value]
    try:
        follow_up = [
            *ASK,
            {"role": "assistant", "audio": {"id": spoken["id"]}},
            {"role": "user", "content": "Say it again."},
        ]
        response = httpx.post(
            f"{url}/v1/chat/completions", json={"model": "gpt-audio", "messages": follow_up}
        )
    finally:
        fake._script = original
    assert response.status_code == 200, response.text
    assert f"<|im_start|>assistant\n{SPOKEN}<|im_end|>" in prompts[-1]


def test_the_store_survives_a_restart_and_expires(tmp_path: Path) -> None:
    path = tmp_path / "audio.sqlite3"
    store = SQLiteAudioStore(path)
    store.put(StoredAudio("audio_a", "kept", "wav", b"RIFF", int(time.time()) + 60))
    store.put(StoredAudio("audio_b", "gone", "wav", b"RIFF", int(time.time()) - 1))
    store.close()
    reopened = SQLiteAudioStore(path)
    assert reopened.get("audio_a") == StoredAudio(
        "audio_a", "kept", "wav", b"RIFF", reopened.get("audio_a").expires_at
    )  # type: ignore[union-attr]
    assert reopened.get("audio_b") is None
    assert reopened.get("audio_a", now=time.time() + 120) is None
    reopened.close()


def test_a_new_server_on_the_same_store_knows_the_answer(
    voices: dict[str, SpeechSynthesizer], tmp_path: Path
) -> None:
    synthesis = {
        "store": str(tmp_path / "audio.sqlite3"),
        "voices": [{"id": "slt", "source": "slt"}],
        "audio_expiry_seconds": 2,
        "voice_map": {"nova": "slt"},
    }
    with serve_fake(
        FakeLanguageModel(lambda _: "Stored words."), voices={"slt": voices["slt"]}, synthesis=synthesis
    ) as (url, _):
        audio_id = _ask(url, audio={"voice": "nova", "format": "wav"})["choices"][0]["message"]["audio"]["id"]
    follow_up = {"model": "gpt-audio", "messages": [{"role": "assistant", "audio": {"id": audio_id}}, *ASK]}
    with serve_fake(
        FakeLanguageModel(lambda _: "ok"), voices={"slt": voices["slt"]}, synthesis=synthesis
    ) as (url, _):
        assert httpx.post(f"{url}/v1/chat/completions", json=follow_up).status_code == 200
        time.sleep(2.1)
        expired = httpx.post(f"{url}/v1/chat/completions", json=follow_up)
    assert expired.status_code == 400 and expired.json()["error"]["param"] == "messages[0].audio.id"


def test_voices_differ_and_custom_voice_ids_work(url: str) -> None:
    durations = {}
    for voice in ("alloy", "coral", "onyx", "fable"):  # joe, slt, rms, awb
        data = base64.b64decode(
            _ask(url, audio={"voice": voice, "format": "pcm16"})["choices"][0]["message"]["audio"]["data"]
        )
        durations[voice] = len(data) / 2 / 24000
    assert len({round(d, 1) for d in durations.values()}) == 4
    custom = _ask(url, audio={"voice": {"id": "rms"}, "format": "pcm16"})["choices"][0]["message"]["audio"]
    assert len(base64.b64decode(custom["data"])) / 2 / 24000 == pytest.approx(durations["onyx"])
    unknown = httpx.post(
        f"{url}/v1/chat/completions",
        json={
            "model": "gpt-audio",
            "messages": ASK,
            "modalities": ["audio"],
            "audio": {"voice": "bob", "format": "wav"},
        },
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "audio.voice"


def test_a_full_voice_queue_is_a_503_before_the_stream(voices: dict[str, SpeechSynthesizer]) -> None:
    """The voice is reserved before the status line: a second spoken answer while the voice's one place
    is held is refused at once, not cut off by an error event after a 200."""
    slow = FakeLanguageModel(lambda _: "Hello there. " * 40, delay=0.02)
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": ASK,
        "modalities": ["text", "audio"],
        "audio": {"voice": "slt", "format": "pcm16"},
        "stream": True,
    }
    with (
        serve_fake(slow, voices={"slt": voices["slt"]}, voice_pending=1) as (url, _),
        httpx.stream("POST", f"{url}/v1/chat/completions", json=body, timeout=60) as first,
    ):
        assert first.status_code == 200
        second = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
        assert second.status_code == 503, second.text
        assert second.json()["error"]["code"] == "server_overloaded"
        assert b"data: [DONE]" in b"".join(first.iter_bytes())  # the first answer is whole
