"""The input audio buffer: what the client appended since the last commit, as 24 kHz float32 samples on
the session's input timeline (milliseconds since the session began), bounded in length."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnivox.audio.g711 import decode_g711
from omnivox.errors import InvalidRequest
from omnivox.protocol.realtime import AudioFormat

RATE = 24_000
Samples = np.ndarray[Any, np.dtype[np.float32]]


def decode_audio(raw: bytes, fmt: AudioFormat) -> Samples:
    """Appended bytes in the session's input format -> 24 kHz float32."""
    if fmt.type == "audio/pcm":
        if len(raw) % 2:
            raise InvalidRequest(
                "Invalid 'audio': audio/pcm is 16-bit samples, an even number of bytes.",
                param="audio",
                code="invalid_value",
            )
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    law = "pcmu" if fmt.type == "audio/pcmu" else "pcma"
    return decode_g711(raw, law).resampled(RATE).samples


class InputBuffer:
    def __init__(self, max_seconds: float) -> None:
        self._chunks: list[Samples] = []
        self._start = 0  # timeline sample where the buffer begins
        self._size = 0
        self._max = int(max_seconds * RATE)

    @property
    def ms(self) -> float:
        """Milliseconds buffered."""
        return self._size * 1000 / RATE

    @property
    def end_ms(self) -> int:
        """Where the buffer (and all audio appended so far) ends on the timeline."""
        return (self._start + self._size) * 1000 // RATE

    def append(self, samples: Samples) -> None:
        if self._size + samples.size > self._max:
            raise InvalidRequest(
                f"The input audio buffer holds at most {self._max / RATE:g} s; commit or clear it first.",
                param="audio",
                code="input_audio_buffer_full",
            )
        self._chunks.append(samples)
        self._size += samples.size

    def _joined(self) -> Samples:
        joined = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.float32)
        self._chunks = [joined] if joined.size else []
        return joined

    def take(self, until_ms: int) -> Samples:
        """The audio up to `until_ms`; the buffer then begins there."""
        joined = self._joined()
        cut = max(0, min(joined.size, until_ms * RATE // 1000 - self._start))
        taken, rest = joined[:cut], joined[cut:]
        self._chunks = [rest] if rest.size else []
        self._start += cut
        self._size = rest.size
        return taken

    def drop_before(self, ms: int) -> None:
        self.take(ms)
