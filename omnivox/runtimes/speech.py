"""The speech-recognition runtime contract: Audio in, a timed transcript out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from omnivox.audio.pcm import Audio

Task = Literal["transcribe", "translate"]
#: Whisper's own test for a hallucinated segment: probably no speech, and decoded with low confidence.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


@dataclass(frozen=True, slots=True)
class Word:
    start: float  # seconds from the start of the audio
    end: float
    text: str  # as the recogniser spells it, usually with its leading space
    probability: float


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    seek: int  # decoder window offset, in 10 ms frames
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str  # "" when no speech was found
    language: str  # ISO 639-1 code
    language_probability: float
    duration: float  # seconds of audio given
    speech_duration: float  # seconds left after voice-activity detection
    segments: tuple[Segment, ...]

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    def speech(self) -> list[str]:
        """The segments' texts, without those Whisper made up from silence or noise (its own test)."""
        return [
            s.text
            for s in self.segments
            if s.text.strip() and not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB)
        ]


@dataclass(frozen=True, slots=True)
class Recognition:
    """A recognition under way: what is known up front, and the segments as they are decoded."""

    language: str
    language_probability: float
    duration: float
    speech_duration: float
    segments: Iterator[Segment]

    def complete(self) -> Transcript:
        """Decode the remaining segments into a whole transcript."""
        segments = tuple(self.segments)
        return Transcript(
            text="".join(s.text for s in segments).strip(),
            language=self.language,
            language_probability=self.language_probability,
            duration=self.duration,
            speech_duration=self.speech_duration,
            segments=segments,
        )


@dataclass(frozen=True, slots=True)
class SpeechModelInfo:
    sample_rate: int  # Hz the recogniser wants its input at
    multilingual: bool  # False: English only (no language choice, no translation)
    fingerprint: str
    created: int  # unix time the weights were written, for /v1/models


class SpeechRecognizer(Protocol):
    """Implementations: WhisperRecognizer (faster-whisper); fakes in the tests."""

    @property
    def info(self) -> SpeechModelInfo: ...

    def recognize(
        self,
        audio: Audio,
        *,
        task: Task = "transcribe",
        language: str | None = None,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = True,
        quick: bool = False,
    ) -> Recognition:
        """Start recognising `audio` (any sample rate). Blocking, and so is iterating the segments: both
        run on the model's worker thread. `quick`: the caller prefers the words soon (a realtime turn); a
        recogniser may then hear a short clip a faster way when it is confident of the result."""
        ...

    def close(self) -> None: ...
