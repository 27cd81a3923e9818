"""`input_audio` in chat: the language model (an echoing fake, so we read exactly what it was given)
hears real speech through the real Whisper tiny.en."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from omnivox.runtimes.speech import SpeechRecognizer
from tests.conftest import serve_fake
from tests.support.audio import encode, silence, tone
from tests.support.chat import completion
from tests.support.openapi import validate
from tests.support.sse import read_events
from tests.support.wer import wer

pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module", params=["local", "upstream"])
def url(request: pytest.FixtureRequest, tiny_whisper: SpeechRecognizer) -> Iterator[str]:
    """The fake served directly, and behind an omnivox whose text stage is upstream: omnivox hears the
    audio and the upstream reads the transcript."""
    limits = {"max_seconds_per_part": 12, "max_seconds_per_request": 20}
    upstream = request.param == "upstream"
    with serve_fake(speech=[tiny_whisper], audio=limits, upstream=upstream) as (base, _):
        yield base


def _upstream(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs through an upstream text stage, whose usage cannot say which prompt
    tokens stood for audio (it tokenizes the prompt itself), so `audio_tokens` is 0 there."""
    return bool(request.node.callspec.params["url"] == "upstream")


def _part(data: bytes, fmt: str = "wav") -> dict[str, Any]:
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode(), "format": fmt}}


def _heard(url: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    body = {
        "model": "gpt-4o-audio-preview",
        "temperature": 0,
        "messages": [{"role": "user", "content": content}],
    }
    return completion(url, body, timeout=120)


def _quoted(block: str) -> str:
    """The words of a labelled block, `[audio 1] "words"` or `[audio 1; cues] "words"`."""
    match = re.fullmatch(r'\[audio 1(?:; [^\]]*)?\] "(.*)"', block)
    assert match, block
    return match.group(1)


def _said(result: dict[str, Any]) -> str:
    """What the echoing fake was given as the user's message."""
    return str(result["choices"][0]["message"]["content"]).removeprefix("You said: ")


def test_a_part_beside_text_is_labelled_and_quoted(
    url: str, librivox: list[tuple[Path, str]], request: pytest.FixtureRequest
) -> None:
    path, reference = librivox[0]  # "and mister john dashwood had then leisure ..." (7.1 s)
    result = _heard(url, [{"type": "text", "text": "What is said here?"}, _part(path.read_bytes())])
    said = _said(result)
    block = said.removeprefix("What is said here?\n")
    assert wer([reference], [_quoted(block)]) < 0.1
    usage = result["usage"]
    block_tokens = len(block.encode())  # the fake's tokens are bytes
    if _upstream(request):
        assert usage["prompt_tokens_details"]["audio_tokens"] == 0
    else:
        assert usage["prompt_tokens_details"]["audio_tokens"] == block_tokens
    assert usage["prompt_tokens"] > block_tokens


def test_a_lone_part_reads_as_the_words_said(url: str, librivox: list[tuple[Path, str]]) -> None:
    path, reference = librivox[0]
    said = _said(_heard(url, [_part(path.read_bytes())]))
    assert not said.startswith(("[", '"')) and "audio" not in said
    assert wer([reference], [said.partition("\n")[0]]) < 0.1


def test_several_parts_keep_their_place(url: str, librivox: list[tuple[Path, str]]) -> None:
    (first, ref_first), (second, ref_second) = librivox[1], librivox[4]
    said = _said(
        _heard(
            url, [_part(first.read_bytes()), {"type": "text", "text": "and then"}, _part(second.read_bytes())]
        )
    )
    blocks = re.findall(r'\[audio (\d)[^\]]*\] "([^"]*)"', said)
    assert [number for number, _ in blocks] == ["1", "2"]
    assert said.index('"\nand then\n[audio 2') > 0
    assert wer([ref_first, ref_second], [blocks[0][1], blocks[1][1]]) < 0.15


@pytest.mark.parametrize("sound", ["silence", "tone"])
def test_no_speech_is_said_not_hallucinated(url: str, sound: str) -> None:
    audio = silence(3.0) if sound == "silence" else tone(3.0)
    said = _said(_heard(url, [{"type": "text", "text": "Listen:"}, _part(encode(audio))]))
    assert said.startswith("Listen:\n[audio 1;") and "no speech heard" in said
    assert '"' not in said  # no transcript is given
    alone = _said(_heard(url, [_part(encode(audio))]))
    assert alone.startswith("(no speech heard") and alone.endswith(")")  # silence: also "very quiet"


def test_mp3_stereo_44k_with_tags(url: str, librivox: list[tuple[Path, str]]) -> None:
    from omnivox.audio.decode import AudioLimits, decode

    path, reference = librivox[3]
    speech = decode(path.read_bytes(), "wav", AudioLimits())
    data = encode(
        speech, container="mp3", codec="libmp3lame", rate=44100, channels=2, metadata={"title": "x"}
    )
    said = _said(_heard(url, [_part(data, "mp3")]))
    assert wer([reference], [said.partition("\n")[0]]) < 0.15


def test_streaming_with_audio_input(
    url: str, librivox: list[tuple[Path, str]], request: pytest.FixtureRequest
) -> None:
    path, _ = librivox[2]
    events, done = read_events(
        url,
        {
            "model": "gpt-audio",
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": [_part(path.read_bytes())]}],
        },
    )
    assert done
    for event in events:
        validate(event, "CreateChatCompletionStreamResponse")
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text.startswith("You said: ") and "[audio" not in text
    audio_tokens = events[-1]["usage"]["prompt_tokens_details"]["audio_tokens"]
    assert audio_tokens == 0 if _upstream(request) else audio_tokens > 0


def test_the_sdk_sends_input_audio(
    url: str, librivox: list[tuple[Path, str]], request: pytest.FixtureRequest
) -> None:
    path, reference = librivox[4]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        temperature=0,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Transcribe:"},
                    {
                        "type": "input_audio",
                        "input_audio": {
                            "data": base64.b64encode(path.read_bytes()).decode(),
                            "format": "wav",
                        },
                    },
                ],
            }
        ],
    )
    said = str(completion.choices[0].message.content)
    assert wer([reference], [_quoted(said.rpartition("\n")[2])]) < 0.15
    assert completion.usage and completion.usage.prompt_tokens_details
    assert bool(completion.usage.prompt_tokens_details.audio_tokens) != _upstream(request)


BAD_PARTS = [
    ("bad base64", {"data": "not base64!!", "format": "wav"}, "messages[0].content[1].input_audio.data"),
    ("format not allowed", {"data": "AAAA", "format": "flac"}, "messages[0].content[1].input_audio.format"),
    ("empty", {"data": "", "format": "wav"}, "messages[0].content[1].input_audio.data"),
    (
        "wav declared mp3",
        {"data": base64.b64encode(encode(tone(0.5))).decode(), "format": "mp3"},
        "messages[0].content[1].input_audio.format",
    ),
    (
        "mp3 declared wav",
        {
            "data": base64.b64encode(encode(tone(0.5), container="mp3", codec="libmp3lame")).decode(),
            "format": "wav",
        },
        "messages[0].content[1].input_audio.format",
    ),
    (
        "part too long",
        {"data": base64.b64encode(encode(silence(13.0))).decode(), "format": "wav"},
        "messages[0].content[1].input_audio.data",
    ),
]


@pytest.mark.parametrize(("case", "audio", "param"), BAD_PARTS, ids=[c[0] for c in BAD_PARTS])
def test_unusable_audio_is_a_400_naming_the_part(
    url: str, case: str, audio: dict[str, str], param: str
) -> None:
    body = {
        "model": "gpt-audio",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi"}, {"type": "input_audio", "input_audio": audio}],
            }
        ],
    }
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400, response.text
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == param


def test_request_audio_limit_counts_all_parts(url: str) -> None:
    part = _part(encode(silence(11.0)))
    body = {"model": "gpt-audio", "messages": [{"role": "user", "content": [part, part]}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert (
        response.json()["error"]["param"] == "messages"
        and "22.0 s of audio" in response.json()["error"]["message"]
    )


def test_audio_in_an_assistant_message_is_refused(url: str) -> None:
    body = {"model": "gpt-audio", "messages": [{"role": "assistant", "content": [_part(encode(tone(0.3)))]}]}
    response = httpx.post(f"{url}/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages[0].content[0].type"
