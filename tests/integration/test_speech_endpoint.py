"""/v1/audio/speech on a real server with all real voices (Piper joe, flite slt, rms, awb), driven by the
openai SDK and by httpx; what it says is checked by ear, i.e. by Whisper tiny.en, and every JSON body
against OpenAI's schema."""

from __future__ import annotations

import base64
import itertools
import json
import math
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.audio.decode import AudioLimits, decode
from omnivox.audio.pcm import Audio
from omnivox.config import DEFAULT_VOICE_MAP, load_settings
from omnivox.runtimes.speech import SpeechRecognizer
from tests.support.openapi import validate
from tests.support.questions import spoken_words
from tests.support.server import live_server
from tests.support.wer import wer, word_errors

pytestmark = [pytest.mark.model, pytest.mark.sdk]

SENTENCE = "The quick brown fox jumps over the lazy dog. It costs twenty dollars."
STORY = " ".join(
    (
        "The lighthouse keeper climbed the stairs at dusk.",
        "He lit the great lamp for the ships at sea.",
        "A storm was coming from the west.",
        "The waves grew tall and grey.",
        "By midnight the rain was falling hard.",
        "At dawn the sea was calm again.",
    )
)
RATE = 24_000
Format = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
MEDIA_TYPES: dict[Format, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
#: Symbols the flite voices dropped or misread before they were spelled out for them
#: (omnivox/synthesis/normalize.py): "100 C", "ampersand", "hash 4", "2 2 equals 4".
SYMBOLS = "Water boils at 100°C. Mix flour & sugar. Room #4 is 5 km away. We know that 2 + 2 = 4."
#: OpenAI voice name -> the configured voice it speaks with (four different speakers).
VOICES = {"alloy": "joe", "coral": "slt", "onyx": "rms", "fable": "awb"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("speech") / "audio.sqlite3"
    settings = load_settings(models=[{"context_window": 1024}], synthesis={"store": str(store)})
    with live_server(create_app(settings)) as base:
        yield base


@pytest.fixture
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)


def _speech(url: str, **fields: Any) -> httpx.Response:
    body = {"model": "tts-1", "input": SENTENCE, "voice": "coral", **fields}
    return httpx.post(f"{url}/v1/audio/speech", json=body, timeout=120)


def _audio(data: bytes, fmt: str) -> Audio:
    if fmt == "pcm":  # raw 16-bit little-endian mono at 24 kHz
        return Audio(np.frombuffer(data, "<i2").astype(np.float32) / np.float32(32768), RATE)
    return decode(data, "ogg" if fmt == "opus" else fmt, AudioLimits())


def _heard(recognizer: SpeechRecognizer, audio: Audio) -> str:
    """What Whisper hears, with the amount spelled as SENTENCE spells it (Whisper writes "$20")."""
    return recognizer.recognize(audio).complete().text.replace("$20", "twenty dollars")


def _spectrum(audio: Audio) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Mean magnitude spectrum (1024-sample Hann frames) scaled to unit length."""
    n = 1024
    frames = audio.samples[: audio.samples.size // n * n].reshape(-1, n) * np.hanning(n)
    magnitude = np.abs(np.fft.rfft(frames, axis=1)).mean(axis=0)
    result: np.ndarray[Any, np.dtype[np.float64]] = magnitude / np.linalg.norm(magnitude)
    return result


def _opus_input_rate(data: bytes) -> int:
    """The input sample rate an Ogg Opus file's OpusHead declares (Opus itself always decodes at 48 kHz)."""
    head = data.index(b"OpusHead")
    rate: int = struct.unpack_from("<I", data, head + 12)[0]
    return rate


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body: dict[str, Any] = response.json()
    validate(body, "ErrorResponse")
    error: dict[str, Any] = body["error"]
    return error


def _events(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line.removeprefix("data:")) for line in response.text.splitlines() if line]
    for event in events:
        validate(event, "CreateSpeechResponseStreamEvent")
    return events


@pytest.mark.parametrize("fmt", list(MEDIA_TYPES))
def test_every_format_round_trips_through_whisper(
    client: openai.OpenAI, tiny_whisper: SpeechRecognizer, fmt: Format
) -> None:
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=SENTENCE, response_format=fmt)
    data = response.read()
    assert response.response.headers["content-type"] == MEDIA_TYPES[fmt]
    audio = _audio(data, fmt)
    if fmt == "opus":
        assert audio.sample_rate == 48_000 and _opus_input_rate(data) == RATE
    else:
        assert audio.sample_rate == RATE
    assert 2.5 < audio.duration < 8
    assert wer([SENTENCE], [_heard(tiny_whisper, audio)]) < 0.2


def test_four_voices_sound_different_and_all_speak(
    client: openai.OpenAI, tiny_whisper: SpeechRecognizer
) -> None:
    assert {name: DEFAULT_VOICE_MAP[name] for name in VOICES} == VOICES
    spoken = {
        name: _audio(
            client.audio.speech.create(
                model="tts-1", voice=name, input=SENTENCE, response_format="wav"
            ).read(),
            "wav",
        )
        for name in VOICES
    }
    for name, audio in spoken.items():
        assert wer([SENTENCE], [_heard(tiny_whisper, audio)]) < 0.3, name
    for a, b in itertools.combinations(spoken, 2):
        similarity = float(_spectrum(spoken[a]) @ _spectrum(spoken[b]))
        assert similarity < 0.95, (a, b, similarity)  # measured at most 0.84


def test_the_least_intelligible_voice_says_numbers_and_symbols(
    client: openai.OpenAI, tiny_whisper: SpeechRecognizer
) -> None:
    """awb (fable, ballad) has the highest round-trip WER of the voices (docs/benchmarks.md); the symbols
    it used to drop or spell come through as the words they stand for."""
    said = client.audio.speech.create(model="tts-1", voice="fable", input=SYMBOLS, response_format="wav")
    heard = tiny_whisper.recognize(_audio(said.read(), "wav")).complete().text
    reference = spoken_words(SYMBOLS)
    assert word_errors(reference, spoken_words(heard)) <= 2, heard  # not spelled out: 9 (measured)


def test_custom_voice_by_id_is_the_configured_voice(client: openai.OpenAI, url: str) -> None:
    coral = client.audio.speech.create(model="tts-1", voice="coral", input=SENTENCE).read()
    with client.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice={"id": "slt"},
        input=SENTENCE,
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        custom = b"".join(response.iter_bytes())
    assert custom == coral  # flite is deterministic: the same voice gives the same bytes
    error = _error(_speech(url, voice="nobody"), 400)
    assert error["param"] == "voice" and "alloy" in error["message"]
    error = _error(_speech(url, voice={"id": "voice_1234"}), 400)
    assert error["param"] == "voice"
    with pytest.raises(openai.BadRequestError) as raised:
        client.audio.speech.create(model="tts-1", voice="nobody", input=SENTENCE)
    assert raised.value.status_code == 400


def test_speed_changes_the_duration(url: str) -> None:
    def seconds(speed: float) -> float:
        response = _speech(url, voice="alloy", response_format="pcm", speed=speed)
        assert response.status_code == 200, response.text
        return _audio(response.content, "pcm").duration

    normal = seconds(1.0)
    assert seconds(2.0) < 0.7 * normal  # measured 0.60-0.65 (Piper varies)
    assert seconds(0.5) > 1.4 * normal  # measured 1.72-1.85
    for speed in (0.2, 4.5):
        assert _error(_speech(url, speed=speed), 400)["param"] == "speed"


def test_input_limits(url: str) -> None:
    words = "The lighthouse keeper climbed the stairs at dusk and lit the great lamp for the ships at sea. "
    longest = (words * 50)[:4096]
    response = _speech(url, input=longest, response_format="pcm", speed=4.0)  # flite at 4x: fast
    assert response.status_code == 200, response.text
    assert _audio(response.content, "pcm").duration > 45  # all of it spoken (measured 62.6 s)
    for too_long in (longest + "x", "x" * 4097):
        assert _error(_speech(url, input=too_long), 400)["param"] == "input"
    for empty in ("", "  \n "):
        assert _error(_speech(url, input=empty), 400)["param"] == "input"


def test_models_instructions_and_unknown_fields(url: str, client: openai.OpenAI) -> None:
    for model in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts"):
        data = client.audio.speech.create(model=model, voice="coral", input="Hello.", response_format="wav")
        assert _audio(data.read(), "wav").duration > 0.3
    with_instructions = client.audio.speech.create(
        model="gpt-4o-mini-tts",
        voice="coral",
        input="Hello.",
        response_format="wav",
        extra_body={"instructions": "Speak in a cheerful and positive tone."},  # a kwarg from openai 1.68
    )
    assert _audio(with_instructions.read(), "wav").duration > 0.3
    error = _error(_speech(url, model="tts-9"), 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    with pytest.raises(openai.NotFoundError):
        client.audio.speech.create(model="tts-9", voice="coral", input="Hello.")
    error = _error(_speech(url, pitch=1.2), 400)
    assert error["code"] == "unknown_parameter" and error["param"] == "pitch"
    assert _error(_speech(url, response_format="ogg"), 400)["param"] == "response_format"


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_sse_events_carry_the_same_audio(url: str, fmt: str) -> None:
    """Two sentences with flite (one chunk of audio each): at least two deltas, then one done."""
    plain = _speech(url, response_format=fmt)
    assert plain.status_code == 200
    events = _events(_speech(url, response_format=fmt, stream_format="sse"))
    deltas, done = events[:-1], events[-1]
    assert len(deltas) >= 2 and {e["type"] for e in deltas} == {"speech.audio.delta"}
    assert done["type"] == "speech.audio.done"
    streamed = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert streamed == plain.content  # flite is deterministic: byte for byte the same file
    usage = done["usage"]
    assert usage["input_tokens"] == len(SENTENCE.split())
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    if fmt == "pcm":  # 10 audio tokens per second spoken
        assert usage["output_tokens"] == math.ceil(_audio(plain.content, "pcm").duration * 10)


def test_sse_with_piper(url: str, tiny_whisper: SpeechRecognizer) -> None:
    events = _events(_speech(url, voice="alloy", response_format="wav", stream_format="sse"))
    assert [e["type"] for e in events].count("speech.audio.done") == 1
    assert events[-1]["type"] == "speech.audio.done" and len(events) >= 3
    data = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert wer([SENTENCE], [_heard(tiny_whisper, _audio(data, "wav"))]) < 0.2


def test_audio_streams_as_it_is_spoken(url: str, tiny_whisper: SpeechRecognizer) -> None:
    body = {"model": "tts-1", "input": STORY, "voice": "alloy", "response_format": "mp3"}
    arrivals: list[float] = []
    chunks: list[bytes] = []
    start = time.perf_counter()
    with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "audio/mpeg"
        for chunk in response.iter_raw():
            arrivals.append(time.perf_counter() - start)
            chunks.append(chunk)
    total = time.perf_counter() - start
    assert len(chunks) >= 3
    assert arrivals[0] < 0.5 * total, (arrivals[0], total)  # measured ~0.25
    audio = _audio(b"".join(chunks), "mp3")
    expected = _audio(_speech(url, input=STORY, voice="alloy", response_format="pcm").content, "pcm")
    assert abs(audio.duration - expected.duration) < 0.1 * expected.duration  # Piper's timing varies a bit
    assert wer([STORY], [_heard(tiny_whisper, audio)]) < 0.2


def test_markup_is_not_spoken_and_nothing_speakable_still_gives_a_file(
    url: str, tiny_whisper: SpeechRecognizer
) -> None:
    marked = "# Notes\n**The quick brown fox** jumps over the `lazy` dog.\n- It costs [twenty dollars](x.y)."
    response = _speech(url, input=marked, voice="alloy", response_format="wav")
    heard = _heard(tiny_whisper, _audio(response.content, "wav"))
    assert wer(["Notes " + SENTENCE], [heard]) < 0.2, heard
    for fmt in MEDIA_TYPES:  # Piper says nothing for a lone "-": the file must still be one
        quiet = _speech(url, input="- ", voice="alloy", response_format=fmt)
        assert quiet.status_code == 200 and _audio(quiet.content, fmt).duration > 0


def test_writing_to_a_file_with_the_sdk(client: openai.OpenAI, tmp_path: Path) -> None:
    target = tmp_path / "speech.flac"
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="onyx", input=SENTENCE, response_format="flac"
    ) as response:
        response.stream_to_file(target)
    assert _audio(target.read_bytes(), "flac").duration > 2.5
