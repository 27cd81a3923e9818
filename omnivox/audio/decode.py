"""Encoded bytes -> Audio, with PyAV (FFmpeg bundled). Every way a file can be unusable is an
`InvalidAudio` with a reason a client can act on; callers turn it into a 400 naming the parameter.

The container is identified from the bytes themselves (magic numbers) and checked against the format the
client declared, so a WAV sent as "mp3" is refused rather than guessed at.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray

from omnivox.audio.pcm import Audio, Samples

#: Formats clients may name -> the container family the bytes must be.
FAMILIES: dict[str, str] = {
    "wav": "wav",
    "mp3": "mp3",
    "mpeg": "mp3",
    "mpga": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "oga": "ogg",
    "opus": "ogg",
    "mp4": "mp4",
    "m4a": "mp4",
    "webm": "webm",
    "aac": "aac",
}
#: Container family -> FFmpeg demuxer.
_DEMUXERS = {
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
    "ogg": "ogg",
    "mp4": "mp4",
    "webm": "matroska,webm",
    "aac": "aac",
}


class InvalidAudio(Exception):
    """The bytes are not audio we can use; the message says why."""


class AudioTooLong(InvalidAudio):
    pass


class FormatMismatch(InvalidAudio):
    """The bytes are of another format than the one declared."""


@dataclass(frozen=True, slots=True)
class AudioLimits:
    max_seconds: float = 600.0
    max_channels: int = 32
    min_sample_rate: int = 2000
    max_sample_rate: int = 384_000


def sniff(data: bytes) -> str | None:
    """The container family of `data` from its first bytes, or None."""
    head = data[:16]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:  # ADTS: 12-bit sync, layer 00
        return "aac"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "webm"
    return None


def decode(data: bytes, declared: str | None, limits: AudioLimits) -> Audio:
    """Decode a whole file to mono float32 at its own sample rate."""
    if not data:
        raise InvalidAudio("The audio is empty (0 bytes).")
    family = sniff(data)
    if declared is not None:
        expected = FAMILIES.get(declared)
        if expected is None:
            raise FormatMismatch(f"Unsupported audio format {declared!r}.")
        if family is not None and family != expected:
            raise FormatMismatch(f"The data is a {family} file, but the format given is {declared!r}.")
        family = family or expected
    if family is None:
        raise InvalidAudio("The data is not a recognised audio file (wav, mp3, flac, ogg, mp4/m4a, webm).")
    try:
        return _demux(data, _DEMUXERS[family], limits)
    except av.FFmpegError as exc:
        raise InvalidAudio(f"The {family} audio could not be decoded ({exc.strerror or exc}).") from None


def _demux(data: bytes, demuxer: str, limits: AudioLimits) -> Audio:
    # metadata_errors: a tag that is not UTF-8 (a WAV LIST chunk, an MP4 atom) must not stop the decoding
    with av.open(io.BytesIO(data), format=demuxer, mode="r", metadata_errors="replace") as container:
        if not container.streams.audio:
            raise InvalidAudio("The file has no audio stream.")
        stream = container.streams.audio[0]
        codec = _codec(stream)
        rate = _check_format(codec.sample_rate, codec.channels, limits)
        if stream.duration is not None and stream.time_base is not None:
            declared_seconds = float(stream.duration * stream.time_base)
            if declared_seconds > limits.max_seconds * 1.01:
                raise _too_long(declared_seconds, limits)
        chunks: list[Samples] = []
        total = 0
        for frame in container.decode(stream):
            if frame.sample_rate != rate:
                raise InvalidAudio("The sample rate changes within the file.")
            mono = _mono(frame)
            total += mono.size
            if total > limits.max_seconds * rate:
                raise _too_long(total / rate, limits)
            chunks.append(mono)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise InvalidAudio("The file holds no audio samples.")
    if not np.isfinite(samples).all():
        raise InvalidAudio("The audio contains NaN or infinite samples.")
    return Audio(np.clip(samples, -1.0, 1.0, out=samples), rate)


def _codec(stream: av.AudioStream) -> av.AudioCodecContext:
    """The stream's decoder. PyAV gives None where FFmpeg has no decoder for what the header names (an
    unknown codec tag, or PCM of 0 or 1000 bits per sample)."""
    codec: av.AudioCodecContext | None = stream.codec_context
    if codec is None:
        raise InvalidAudio("The audio codec named in the file is unknown or not supported.")
    return codec


def _check_format(rate: int, channels: int, limits: AudioLimits) -> int:
    if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
        raise InvalidAudio(
            f"Sample rate {rate} Hz is outside {limits.min_sample_rate}-{limits.max_sample_rate} Hz."
        )
    if channels < 1:  # FFmpeg leaves the layout empty for 0 channels and for more than it supports
        raise InvalidAudio(f"The channel count is missing or unusable; 1-{limits.max_channels} are accepted.")
    if channels > limits.max_channels:
        raise InvalidAudio(f"{channels} channels; at most {limits.max_channels} are accepted.")
    return rate


def _too_long(seconds: float, limits: AudioLimits) -> AudioTooLong:
    return AudioTooLong(f"The audio lasts {seconds:.1f} s; at most {limits.max_seconds:g} s are accepted.")


_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0, np.dtype(np.int64): 2.0**63}


def _mono(frame: av.AudioFrame) -> Samples:
    """One decoded frame as mono float32 (channels averaged)."""
    channels = len(frame.layout.channels)
    array = _flat(frame, channels)
    array = array.reshape(channels, -1) if frame.format.is_planar else array.reshape(-1, channels).T
    if array.dtype == np.uint8:
        converted = (array.astype(np.float32) - 128.0) / 128.0
    elif array.dtype in _SCALE:
        converted = array.astype(np.float32) / np.float32(_SCALE[array.dtype])
    else:
        converted = array.astype(np.float32)
    mono: Samples = converted.mean(axis=0, dtype=np.float32) if channels > 1 else converted[0]
    return mono


def _flat(frame: av.AudioFrame, channels: int) -> NDArray[Any]:
    """The frame's samples as PyAV lays them out. PyAV has no numpy conversion for 64-bit integer PCM
    (a WAV of 64 bits per sample), so those are read from the planes themselves."""
    if frame.format.name not in ("s64", "s64p"):
        return frame.to_ndarray()
    per_plane = frame.samples * (1 if frame.format.is_planar else channels)
    return np.concatenate(
        [np.frombuffer(memoryview(plane), dtype=np.int64)[:per_plane] for plane in frame.planes]
    )
