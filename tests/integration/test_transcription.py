"""/v1/audio/transcriptions and /v1/audio/translations with the real Whisper models, driven by the
openai SDK; every JSON answer validated against OpenAI's schema."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from omnivox.audio.decode import AudioLimits, decode
from omnivox.backends.whisper import WhisperRecognizer
from omnivox.config import QuickPassSettings
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.serving.registry import resolve_speech_source
from tests.conftest import serve_fake
from tests.support.audio import encode
from tests.support.openapi import validate
from tests.support.questions import words
from tests.support.wer import wer

pytestmark = [pytest.mark.model, pytest.mark.sdk]

#: Word error rate of Whisper tiny.en on the five LibriVox clips, measured 0.0-4.2% (docs/benchmarks.md);
#: asserted with a margin.
MAX_WER = 0.08


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return resolve_speech_source("embedded:whisper-base", tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def whisper_base(base_folder: Path) -> Iterator[SpeechRecognizer]:
    recognizer = WhisperRecognizer(base_folder)
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="module")
def url(tiny_whisper: SpeechRecognizer, whisper_base: SpeechRecognizer) -> Iterator[str]:
    with serve_fake(speech=[tiny_whisper, whisper_base]) as (base, _):
        yield base  # whisper-1 -> tiny.en; whisper-test-1 -> base (multilingual)


@pytest.fixture
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)


def _raw(url: str, path: Path, **fields: str | list[str]) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/transcriptions",
        files={"file": (path.name, path.read_bytes())},
        data={"model": "whisper-1", **fields},
        timeout=120,
    )


def test_word_error_rate_on_real_speech(client: openai.OpenAI, librivox: list[tuple[Path, str]]) -> None:
    texts = []
    for path, _ in librivox:
        with path.open("rb") as f:
            texts.append(client.audio.transcriptions.create(model="whisper-1", file=f).text)
    assert wer([ref for _, ref in librivox], texts) < MAX_WER


def test_json_and_verbose_json_validate(url: str, librivox: list[tuple[Path, str]]) -> None:
    path, _ = librivox[0]
    plain = _raw(url, path).json()
    validate(plain, "CreateTranscriptionResponseJson")
    assert plain["usage"] == {"type": "duration", "seconds": 7.1}
    verbose = _raw(
        url, path, response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}
    ).json()
    validate(verbose, "CreateTranscriptionResponseVerboseJson")
    assert verbose["language"] == "english" and verbose["duration"] == 7.1
    assert [w["word"] for w in verbose["words"]][:3] == ["And", "Mr.", "John"]
    starts = [w["start"] for w in verbose["words"]]
    assert starts == sorted(starts) and verbose["words"][-1]["end"] <= 7.1
    assert verbose["segments"][0]["start"] == 0.0 and verbose["text"] == plain["text"]
    for segment in verbose["segments"]:
        validate(segment, "TranscriptionSegment")
    words_only = _raw(
        url, path, response_format="verbose_json", **{"timestamp_granularities[]": "word"}
    ).json()
    assert "segments" not in words_only and words_only["words"]


def test_text_srt_vtt(url: str, librivox: list[tuple[Path, str]]) -> None:
    path, reference = librivox[0]
    text = _raw(url, path, response_format="text")
    assert text.headers["content-type"].startswith("text/plain") and text.text.endswith("\n")
    assert wer([reference], [text.text]) < MAX_WER
    srt = _raw(url, path, response_format="srt").text
    assert srt.startswith("1\n00:00:00,000 --> 00:00:0") and "\n\n2\n" in srt
    vtt = _raw(url, path, response_format="vtt").text
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")


def test_stream_events(client: openai.OpenAI, url: str, librivox: list[tuple[Path, str]]) -> None:
    path, _ = librivox[0]
    with path.open("rb") as f:
        events = list(client.audio.transcriptions.create(model="whisper-1", file=f, stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    assert len(deltas) >= 2 and len(done) == 1 and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == done[0].text == _raw(url, path).json()["text"]
    with httpx.stream(
        "POST",
        f"{url}/v1/audio/transcriptions",
        files={"file": (path.name, path.read_bytes())},
        data={"model": "whisper-1", "stream": "true"},
        timeout=120,
    ) as response:
        raw = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    for event in raw:
        validate(event, "CreateTranscriptionResponseStreamEvent")


@pytest.mark.parametrize(
    ("container", "codec", "suffix"),
    [
        ("flac", "flac", "flac"),
        ("ogg", "libopus", "ogg"),
        ("mp4", "aac", "m4a"),
        ("webm", "libopus", "webm"),
        ("mp3", "libmp3lame", "mp3"),
    ],
)
def test_upload_formats(
    url: str, librivox: list[tuple[Path, str]], container: str, codec: str, suffix: str
) -> None:
    path, reference = librivox[0]  # the longest clip: a word more or less weighs little
    speech = decode(path.read_bytes(), "wav", AudioLimits())
    rate = 48000 if codec == "libopus" else 44100
    data = encode(speech, container=container, codec=codec, rate=rate, channels=2)
    response = httpx.post(
        f"{url}/v1/audio/transcriptions",
        files={"file": (f"clip.{suffix}", io.BytesIO(data))},
        data={"model": "gpt-4o-transcribe"},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert wer([reference], [response.json()["text"]]) < 0.15


def test_translation_with_the_multilingual_model(
    client: openai.OpenAI, librivox: list[tuple[Path, str]]
) -> None:
    path, reference = librivox[2]
    with path.open("rb") as f:
        translation = client.audio.translations.create(model="whisper-test-1", file=f)
    assert wer([reference], [translation.text]) < 0.15  # English speech "translates" to itself
    with path.open("rb") as f:
        verbose = client.audio.translations.create(
            model="whisper-test-1", file=f, response_format="verbose_json"
        )
    validate(verbose.model_dump(mode="json", exclude_none=True), "CreateTranslationResponseVerboseJson")
    assert verbose.language == "english"


@pytest.mark.parametrize(
    ("route", "fields", "param"),
    [
        ("translations", {"model": "whisper-1"}, "model"),  # English-only model cannot translate
        ("transcriptions", {"model": "whisper-1", "language": "fr"}, "language"),
        ("transcriptions", {"model": "whisper-1", "language": "xx"}, "language"),
        (
            "transcriptions",
            {"model": "whisper-1", "timestamp_granularities[]": "word"},
            "timestamp_granularities",
        ),
        ("transcriptions", {"model": "whisper-1", "response_format": "yaml"}, "response_format"),
        ("transcriptions", {"model": "whisper-1", "temperature": "1.5"}, "temperature"),
        ("transcriptions", {"model": "whisper-1", "include[]": "logprobs"}, "include"),
        ("transcriptions", {"model": "whisper-1", "speed": "2"}, "speed"),
        ("transcriptions", {"model": "whisper-1", "stream": "true", "response_format": "srt"}, "stream"),
        ("translations", {"model": "whisper-test-1", "language": "en"}, "language"),
        ("transcriptions", {}, "model"),
    ],
)
def test_bad_options_are_400s(
    url: str, librivox: list[tuple[Path, str]], route: str, fields: dict[str, str], param: str
) -> None:
    path, _ = librivox[4]
    response = httpx.post(
        f"{url}/v1/audio/{route}", files={"file": (path.name, path.read_bytes())}, data=fields
    )
    assert response.status_code == 400, response.text
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == param


def test_unknown_model_and_missing_file(url: str, librivox: list[tuple[Path, str]]) -> None:
    path, _ = librivox[4]
    unknown = httpx.post(
        f"{url}/v1/audio/transcriptions",
        files={"file": (path.name, path.read_bytes())},
        data={"model": "whisper-9"},
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    missing = httpx.post(
        f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"}, files={"other": ("x.txt", b"x")}
    )
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "file"
    not_multipart = httpx.post(f"{url}/v1/audio/transcriptions", json={"model": "whisper-1"})
    assert not_multipart.status_code == 400


def test_encoder_runs_on_the_clip_not_the_whole_window(
    monkeypatch: pytest.MonkeyPatch, base_folder: Path, librivox: list[tuple[Path, str]]
) -> None:
    """A clip shorter than Whisper's 30 s window is encoded with `encoder_padding_s` of its padding, not
    the whole window (most of a short question's recognition time), and heard the same (Whisper base,
    the default; tiny.en drops a leading "And" of one clip on a cut window: docs/benchmarks.md)."""
    from faster_whisper import WhisperModel

    frames: list[int] = []
    original = WhisperModel.encode

    def counting(self: WhisperModel, features: Any) -> Any:
        frames.append(features.shape[-1])
        return original(self, features)

    monkeypatch.setattr(WhisperModel, "encode", counting)
    seconds = max(decode(p.read_bytes(), "wav", AudioLimits()).duration for p, _ in librivox)
    texts = {}
    for padding in (None, 10.0, 3.0):
        recognizer = WhisperRecognizer(base_folder, encoder_padding_s=padding)
        frames.clear()
        texts[padding] = [
            recognizer.recognize(decode(path.read_bytes(), "wav", AudioLimits()), language="en")
            .complete()
            .text
            for path, _ in librivox
        ]
        recognizer.close()
        if padding is None:
            assert set(frames) == {3000}
        else:  # the clip (after the silence is trimmed) plus the padding, rounded to the encoder's stride
            assert all(f % 2 == 0 for f in frames) and len(frames) >= len(librivox)
            assert max(frames) <= round((seconds + padding) * 100) + 2
    assert [words(t) for t in texts[10.0]] == [words(t) for t in texts[None]]
    assert max(frames) < 1100  # 3 s of padding: shorter still (7.1 s is the longest clip)
    recognizer = WhisperRecognizer(base_folder)
    frames.clear()  # no language given: base identifies it, on an encoding the decoding then reuses
    found = [
        recognizer.recognize(decode(p.read_bytes(), "wav", AudioLimits())).complete() for p, _ in librivox
    ]
    recognizer.close()
    assert len(frames) == len(librivox)
    assert [t.language for t in found] == ["en"] * len(librivox)
    assert [words(t.text) for t in found] == [words(t) for t in texts[10.0]]


def test_a_quick_recognition_keeps_the_fast_words_only_when_whisper_is_sure_of_them(
    monkeypatch: pytest.MonkeyPatch, base_folder: Path, librivox: list[tuple[Path, str]]
) -> None:
    """A realtime turn (`quick=True`) is decoded greedily on the clip plus 5 s first; those words are kept
    when every segment's average log-probability reaches `min_avg_logprob`, else the clip is decoded
    again as configured (beam 5, clip plus 10 s), and the result is then exactly the configured one."""
    from faster_whisper import WhisperModel

    passes: list[tuple[int, int]] = []  # (beam size, encoder frames) of each decoding
    original_transcribe, original_encode = WhisperModel.transcribe, WhisperModel.encode

    def noting(self: WhisperModel, audio: Any, **options: Any) -> Any:
        passes.append((options["beam_size"], 0))
        return original_transcribe(self, audio, **options)

    def encoding(self: WhisperModel, features: Any) -> Any:
        passes[-1] = (passes[-1][0], features.shape[-1])
        return original_encode(self, features)

    monkeypatch.setattr(WhisperModel, "transcribe", noting)
    monkeypatch.setattr(WhisperModel, "encode", encoding)
    clips = [decode(path.read_bytes(), "wav", AudioLimits()) for path, _ in librivox]

    def hear(recognizer: WhisperRecognizer, quick: bool) -> list[tuple[str, list[tuple[int, int]]]]:
        heard = []
        for clip in clips:
            passes.clear()
            text = recognizer.recognize(clip, language="en", word_timestamps=False, quick=quick).complete()
            heard.append((text.text, list(passes)))
        return heard

    configured = WhisperRecognizer(base_folder, quick=QuickPassSettings())
    slow = hear(configured, quick=False)
    fast = hear(configured, quick=True)
    doubtful = WhisperRecognizer(base_folder, quick=QuickPassSettings(min_avg_logprob=0.0))  # never sure
    twice = hear(doubtful, quick=True)
    configured.close()
    doubtful.close()
    for clip, (_, [(beam, frames)]) in zip(clips, slow, strict=True):
        assert beam == 5 and clip.duration * 100 + 500 < frames <= clip.duration * 100 + 1002
    # clear real speech: Whisper is sure of most greedy decodings on the shorter window (the others are
    # decoded again as configured), and the words kept are the configured decoding's, or nearly
    kept = 0
    for clip, (text, decodings), (configured_text, configured_passes) in zip(clips, fast, slow, strict=True):
        beam, frames = decodings[0]
        assert beam == 1 and frames <= clip.duration * 100 + 502
        if len(decodings) == 1:
            kept += 1
        else:
            assert decodings[1:] == configured_passes and text == configured_text
    assert kept >= 3
    assert wer([s for s, _ in slow], [f for f, _ in fast]) < 0.05
    # never sure: every clip decoded again as configured (the padding restored after the quick pass)
    for (text, [quick, again]), (configured_text, [configured_pass]) in zip(twice, slow, strict=True):
        assert quick[0] == 1 and quick[1] < again[1]
        assert again == configured_pass and text == configured_text
