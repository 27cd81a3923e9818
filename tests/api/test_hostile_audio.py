"""Malformed and hostile audio (tests/support/hostile_audio.py), sent as a chat `input_audio` part and as a
transcription upload: each is an OpenAI-shaped 400 naming the audio parameter, never a 5xx or a hang, and
the server keeps serving, real speech included, afterwards."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from tests.conftest import serve_fake
from tests.support.hostile_audio import corpus, odd_but_valid
from tests.support.openapi import validate

CORPUS = corpus()
ODD = odd_but_valid()
LIMITS = {"max_seconds_per_part": 20, "max_seconds_per_request": 40}
AUDIO_PARAM = "messages[0].content[1].input_audio"
TIMEOUT = 60.0  # a hang fails the test instead of stalling it


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer) -> Iterator[str]:
    with serve_fake(speech=[tiny_whisper], audio=LIMITS) as (base, _):
        yield base


def _chat(url: str, data: bytes, declared: str, **fields: Any) -> httpx.Response:
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(data).decode(), "format": declared},
    }
    content = [{"type": "text", "text": "hi"}, part]
    body = {"model": "gpt-audio", "messages": [{"role": "user", "content": content}], **fields}
    return httpx.post(f"{url}/v1/chat/completions", json=body, timeout=TIMEOUT)


def _upload(url: str, data: bytes, declared: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/transcriptions",
        files={"file": (f"audio.{declared}", data)},
        data={"model": "whisper-1"},
        timeout=TIMEOUT,
    )


def _refused(response: httpx.Response) -> dict[str, Any]:
    """The error of a 400, checked against OpenAI's ErrorResponse. (No case exceeds the body limit, so
    none is a 413.)"""
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    validate(body, "ErrorResponse")
    assert body["error"]["type"] == "invalid_request_error", body
    assert body["error"]["message"], body
    return body["error"]


def _still_serving(url: str) -> None:
    assert httpx.get(f"{url}/health", timeout=TIMEOUT).status_code == 200


@pytest.mark.parametrize(("case", "data", "declared"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_audio_in_chat_is_a_400(url: str, case: str, data: bytes, declared: str) -> None:
    error = _refused(_chat(url, data, declared))
    assert str(error["param"]).startswith(AUDIO_PARAM), error
    _still_serving(url)


@pytest.mark.parametrize(("case", "data", "declared"), CORPUS, ids=[c[0] for c in CORPUS])
def test_hostile_audio_upload_is_a_400(url: str, case: str, data: bytes, declared: str) -> None:
    error = _refused(_upload(url, data, declared))
    assert error["param"] == "file", error
    _still_serving(url)


@pytest.mark.parametrize(("case", "data", "declared"), ODD, ids=[c[0] for c in ODD])
def test_odd_but_valid_audio_is_heard(url: str, case: str, data: bytes, declared: str) -> None:
    """Files that once made the decoder raise outside `InvalidAudio` (a 500): they are real audio."""
    assert _chat(url, data, declared).status_code == 200
    response = _upload(url, data, declared)
    assert response.status_code == 200, response.text
    assert response.json()["text"].strip()


def test_real_speech_after_the_corpus(url: str, librivox: list[tuple[Path, str]]) -> None:
    path, _ = librivox[0]  # "and mister john dashwood had then leisure ..."
    response = _upload(url, path.read_bytes(), "wav")
    assert response.status_code == 200, response.text
    assert "dashwood" in response.json()["text"].lower()
    chat = _chat(url, path.read_bytes(), "wav", temperature=0)  # greedy: the fake echoes exactly
    assert chat.status_code == 200, chat.text
    assert "dashwood" in chat.json()["choices"][0]["message"]["content"].lower()
