"""Audio -> bytes in the formats OpenAI sends, with PyAV (FFmpeg bundled). Everything leaves at 24 kHz
mono, as OpenAI's audio does; `pcm16`/`pcm` is raw 16-bit little-endian.

`encode` makes a whole file; `StreamEncoder` emits bytes as audio is pushed (for streamed responses),
writing to a sink that cannot seek, so the muxers never rewrite what was already sent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from omnivox.audio.pcm import Audio

OUTPUT_RATE = 24_000


@dataclass(frozen=True, slots=True)
class Codec:
    container: str  # FFmpeg muxer
    codec: str  # FFmpeg encoder
    media_type: str
    bitrate: int | None = None
    options: tuple[tuple[str, str], ...] = ()  # encoder options


#: Output format (chat `audio.format` and /v1/audio/speech `response_format`) -> how to make it.
FORMATS: dict[str, Codec] = {
    "wav": Codec("wav", "pcm_s16le", "audio/wav"),
    # LAME quality 7 (FFmpeg's compression_level): encodes in half the time of the default, and speech at
    # 64 kbit/s does not suffer (measured in docs/benchmarks.md).
    "mp3": Codec("mp3", "libmp3lame", "audio/mpeg", 64_000, (("compression_level", "7"),)),
    "flac": Codec("flac", "flac", "audio/flac"),
    "opus": Codec("ogg", "libopus", "audio/ogg", 32_000),
    "aac": Codec("adts", "aac", "audio/aac", 64_000),
}
RAW_FORMATS = ("pcm16", "pcm")


def media_type(fmt: str) -> str:
    return "audio/pcm" if fmt in RAW_FORMATS else FORMATS[fmt].media_type


def pcm16(audio: Audio) -> bytes:
    """Raw 16-bit little-endian mono at 24 kHz, clipped before conversion."""
    samples = np.clip(audio.resampled(OUTPUT_RATE).samples, -1.0, 1.0)
    return (samples * 32767.0).round().astype("<i2").tobytes()


class _Sink:
    """A write-only, non-seekable file for PyAV: collects what the muxer writes until taken."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: Any) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


class StreamEncoder:
    """Encode audio pushed piece by piece; each call returns the bytes ready so far."""

    def __init__(self, fmt: str, *, seekable: bool = False) -> None:
        self._raw = fmt in RAW_FORMATS
        if self._raw:
            return
        codec = FORMATS[fmt]
        self._file: Any = io.BytesIO() if seekable else _Sink()
        self._output = av.open(self._file, "w", format=codec.container)
        stream = self._output.add_stream(
            codec.codec, rate=OUTPUT_RATE, layout="mono", options=dict(codec.options)
        )
        assert isinstance(stream, av.AudioStream)  # an audio codec gives an audio stream
        self._stream: av.AudioStream = stream
        if codec.bitrate:
            self._stream.bit_rate = codec.bitrate
        self._pts = 0

    def push(self, audio: Audio) -> bytes:
        if self._raw:
            return pcm16(audio)
        samples = np.clip(audio.resampled(OUTPUT_RATE).samples, -1.0, 1.0)
        if samples.size:
            frame = av.AudioFrame.from_ndarray(
                samples[None, :].astype(np.float32), format="flt", layout="mono"
            )
            frame.sample_rate = OUTPUT_RATE
            frame.pts = self._pts
            self._pts += samples.size
            for packet in self._stream.encode(frame):
                self._output.mux(packet)
        return self._drain()

    def finish(self) -> bytes:
        if self._raw:
            return b""
        for packet in self._stream.encode(None):
            self._output.mux(packet)
        self._output.close()
        if isinstance(self._file, io.BytesIO):
            return self._file.getvalue()
        return self._drain()

    def _drain(self) -> bytes:
        return self._file.take() if isinstance(self._file, _Sink) else b""


def encode(audio: Audio, fmt: str) -> bytes:
    """A complete file of `audio` in `fmt`."""
    if fmt in RAW_FORMATS:
        return pcm16(audio)
    encoder = StreamEncoder(fmt, seekable=True)
    encoder.push(audio)
    return encoder.finish()
