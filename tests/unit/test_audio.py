"""Decoding real-world files to the one Audio value, and the one resampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivox.audio.decode import AudioLimits, AudioTooLong, FormatMismatch, InvalidAudio, decode, sniff
from omnivox.audio.pcm import Audio, dbfs
from tests.support.audio import encode, silence, tone

LIMITS = AudioLimits()


@pytest.mark.parametrize("codec", ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"])
@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (22050, 2), (48000, 6), (96000, 2)])
def test_wav_variants_decode_to_the_same_signal(codec: str, rate: int, channels: int) -> None:
    original = tone(0.5, rate=rate, hz=300.0)
    audio = decode(encode(original, codec=codec, rate=rate, channels=channels), "wav", LIMITS)
    assert audio.sample_rate == rate and audio.samples.dtype == np.float32
    assert audio.samples.shape == original.samples.shape
    tolerance = 1 / 64 if codec == "pcm_u8" else 1e-4
    np.testing.assert_allclose(audio.samples, original.samples, atol=tolerance)


@pytest.mark.parametrize("channels", [1, 2])
def test_mp3_with_id3_tags(channels: int) -> None:
    data = encode(
        tone(1.0, rate=44100),
        container="mp3",
        codec="libmp3lame",
        channels=channels,
        metadata={"title": "A title", "artist": "Somebody"},
    )
    assert data.startswith(b"ID3")
    audio = decode(data, "mp3", LIMITS)
    assert audio.sample_rate == 44100 and abs(audio.duration - 1.0) < 0.05
    assert abs(dbfs(audio.samples) - dbfs(tone(1.0).samples)) < 1.0  # same loudness after the codec


def test_real_speech_file(librivox: list[tuple[Path, str]]) -> None:
    path, _ = librivox[0]
    audio = decode(path.read_bytes(), "wav", LIMITS)
    assert audio.sample_rate == 16000 and 5 < audio.duration < 10


@pytest.mark.parametrize(
    ("data", "family"),
    [
        (b"RIFF\0\0\0\0WAVEfmt ", "wav"),
        (b"ID3\4\0", "mp3"),
        (b"\xff\xfb\x90\x00", "mp3"),
        (b"fLaC", "flac"),
        (b"OggS", "ogg"),
        (b"\0\0\0\x20ftypM4A ", "mp4"),
        (b"\x1a\x45\xdf\xa3", "webm"),
        (b"hello", None),
    ],
)
def test_sniff(data: bytes, family: str | None) -> None:
    assert sniff(data) == family


def test_a_wav_declared_as_mp3_is_a_format_mismatch() -> None:
    with pytest.raises(FormatMismatch, match="wav file"):
        decode(encode(tone(0.2)), "mp3", LIMITS)


def test_too_long_is_refused_while_decoding() -> None:
    with pytest.raises(AudioTooLong, match="at most 2 s"):
        decode(encode(silence(3.0)), "wav", AudioLimits(max_seconds=2))


@pytest.mark.parametrize("data", [b"", b"RIFF", b"\x00" * 100, b"ID3\x04\x00\x00\x00\x00\x00\x00"])
def test_unusable_bytes(data: bytes) -> None:
    with pytest.raises(InvalidAudio):
        decode(data, "wav" if data.startswith(b"RIFF") or not data.startswith(b"ID3") else "mp3", LIMITS)


def test_resampling_keeps_duration_and_pitch() -> None:
    audio = tone(1.0, rate=44100, hz=1000.0)
    down = audio.resampled(16000)
    assert down.sample_rate == 16000 and down.samples.size == 16000
    spectrum = np.abs(np.fft.rfft(down.samples))
    assert abs(np.argmax(spectrum) * 16000 / down.samples.size - 1000.0) < 2.0
    assert audio.resampled(44100) is audio


def test_dbfs() -> None:
    assert dbfs(Audio(np.ones(100, dtype=np.float32), 100).samples) == pytest.approx(0.0)
    assert dbfs(tone(1.0, level=0.5).samples) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    assert dbfs(np.zeros(10, dtype=np.float32)) == float("-inf")
