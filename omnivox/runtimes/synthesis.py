"""The speech-synthesis runtime contract: text in, Audio chunks out (as soon as each is ready)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from omnivox.audio.pcm import Audio


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    sample_rate: int  # Hz of the chunks it produces
    description: str  # e.g. "Piper en_US-joe-medium"


class SpeechSynthesizer(Protocol):
    """Implementations: PiperSynthesizer, FliteSynthesizer; fakes in the tests."""

    @property
    def info(self) -> VoiceInfo: ...

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        """Speak `text` (plain, already cleaned of markup) at `speed` (0.25 to 4, 1 normal). Blocking;
        runs on the voice's worker thread."""
        ...

    def close(self) -> None: ...
