"""What one request (or part of one) used: plain integer counters that add up exactly.

Audio is counted in milliseconds, so sums never drift; tokens as the request's `usage` reported them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

#: The API surface a usage belongs to (each has its own usage endpoint and result shape).
Surface = Literal["completions", "audio_transcriptions", "audio_speeches"]
SURFACES: tuple[Surface, ...] = ("completions", "audio_transcriptions", "audio_speeches")


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    input_tokens: int = 0  # every prompt token: text and audio, cached or not
    input_cached_tokens: int = 0  # of which served from the prompt cache
    input_audio_tokens: int = 0  # of which stand for audio input (cached or not)
    input_cached_audio_tokens: int = 0  # of which both
    output_tokens: int = 0  # text and audio
    output_audio_tokens: int = 0  # of which spoken
    audio_ms_in: int = 0  # audio heard (transcriptions, translations)
    audio_ms_out: int = 0  # audio spoken (speech, spoken chat answers)
    characters: int = 0  # text given to /v1/audio/speech

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))

    @property
    def empty(self) -> bool:
        return not any(_values(self))


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Usage))


def _values(usage: Usage) -> tuple[int, ...]:
    return tuple(getattr(usage, name) for name in FIELDS)


def milliseconds(seconds: float) -> int:
    return round(seconds * 1000)


def chat_usage(prompt: int, completion: int, cached: int, audio: int) -> Usage:
    """One chat completion. omnivox knows how many prompt tokens came from the cache and how many stand
    for audio, not which cached tokens were audio: cached tokens count as text first (so no audio token
    is priced as cached unless it must have been)."""
    cached_audio = max(0, cached - (prompt - audio))
    return Usage(
        requests=1,
        input_tokens=prompt,
        input_cached_tokens=cached,
        input_audio_tokens=audio,
        input_cached_audio_tokens=cached_audio,
        output_tokens=completion,
    )


def spoken_usage(audio_tokens: int, seconds: float) -> Usage:
    """The spoken part of a chat answer: audio output tokens (also output tokens, as in `usage`)."""
    return Usage(
        output_tokens=audio_tokens, output_audio_tokens=audio_tokens, audio_ms_out=milliseconds(seconds)
    )
