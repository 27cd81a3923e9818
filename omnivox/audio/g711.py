"""G.711 mu-law (`audio/pcmu`) and A-law (`audio/pcma`) at 8 kHz, the telephone formats of the Realtime
API (Twilio speaks mu-law). numpy tables, since Python 3.13 has no `audioop`: decoding is a 256-entry
lookup; encoding follows ITU-T G.711 segment by segment."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from omnivox.audio.pcm import Audio

G711_RATE = 8_000
#: Upper ends of the 8 segments (ITU-T G.711): mu-law on 14-bit magnitudes, A-law on 13-bit ones.
_ULAW_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_decode_table() -> NDArray[np.int16]:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> NDArray[np.int16]:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, np.where(seg == 1, t + 0x108, (t + 0x108) << np.maximum(seg - 1, 0)))
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW = _ulaw_decode_table()
_ALAW = _alaw_decode_table()


def _segment(ends: NDArray[np.int64], value: NDArray[np.int32]) -> NDArray[np.int32]:
    """The first segment whose end is at least `value` (8: beyond the last)."""
    return np.searchsorted(ends, value).astype(np.int32)


def encode_ulaw(pcm: NDArray[np.int16]) -> bytes:
    x = pcm.astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + 33  # clip, then bias (0x84 >> 2)
    seg = _segment(_ULAW_ENDS, x)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | ((x >> (seg + 1)) & 0x0F))
    return (code ^ mask).astype(np.uint8).tobytes()


def encode_alaw(pcm: NDArray[np.int16]) -> bytes:
    x = pcm.astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg = _segment(_ALAW_ENDS, x)
    shifted = np.where(seg < 2, x >> 1, x >> seg)
    code = np.where(seg >= 8, 0x7F, (seg << 4) | (shifted & 0x0F))
    return (code ^ mask).astype(np.uint8).tobytes()


def decode_g711(data: bytes, law: str) -> Audio:
    """`law`: "pcmu" or "pcma"."""
    table = _ULAW if law == "pcmu" else _ALAW
    samples = table[np.frombuffer(data, dtype=np.uint8)].astype(np.float32) / 32768.0
    return Audio(samples, G711_RATE)


def encode_g711(audio: Audio, law: str) -> bytes:
    samples = np.clip(audio.resampled(G711_RATE).samples, -1.0, 1.0)
    pcm = (samples * 32767.0).round().astype(np.int16)
    return encode_ulaw(pcm) if law == "pcmu" else encode_alaw(pcm)
