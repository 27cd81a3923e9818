"""Audio files for tests, encoded with PyAV from real speech or synthetic signals."""

from __future__ import annotations

import io

import av
import numpy as np

from omnivox.audio.pcm import Audio


def encode(
    audio: Audio,
    *,
    container: str = "wav",
    codec: str = "pcm_s16le",
    rate: int | None = None,
    channels: int = 1,
    metadata: dict[str, str] | None = None,
) -> bytes:
    """`audio` as a file: resampled to `rate`, copied to `channels` channels, encoded with `codec`."""
    rate = rate or audio.sample_rate
    samples = audio.resampled(rate).samples
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout=layout)
        if metadata:
            output.metadata.update(metadata)
        planar = np.ascontiguousarray(np.tile(samples, (channels, 1)), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


def tone(seconds: float, rate: int = 16000, hz: float = 440.0, level: float = 0.3) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio((level * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)


def silence(seconds: float, rate: int = 16000) -> Audio:
    return Audio(np.zeros(int(seconds * rate), dtype=np.float32), rate)
