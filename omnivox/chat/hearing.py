"""Hearing `input_audio` parts: decode, check the limits, recognise, and describe what was heard for the
language model -- the transcript plus the cues a transcript alone drops (docs/audio-input.md).

Runs in `ChatService.prepare`, before any byte of the answer: a file that cannot be used is a 400 naming
its part, never a silent drop.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread
import numpy as np

from omnivox.audio.decode import AudioLimits, FormatMismatch, InvalidAudio, decode
from omnivox.audio.pcm import Audio, dbfs
from omnivox.chat.messages import AudioPart
from omnivox.config import AudioSettings
from omnivox.errors import InvalidRequest, UnsupportedParameter
from omnivox.runtimes.speech import Transcript
from omnivox.serving.catalog import ServedSpeechModel
from omnivox.telemetry import Telemetry

#: A gap between words at least this long is reported as a pause.
PAUSE_SECONDS = 0.8
MAX_PAUSES_REPORTED = 3
#: Whisper's own test for a hallucinated segment: probably no speech, and decoded with low confidence.
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
QUIET_DBFS = -45.0


@dataclass(frozen=True, slots=True)
class Heard:
    audio: Audio
    transcript: Transcript | None  # None: the model hears the audio itself
    block: str  # what the language model reads in place of the audio (a marker, for a model that hears)


def marker(number: int) -> str:
    """What stands in the text for audio part `number` when the model hears the audio itself: the
    backend finds it and puts the audio there (Conversation.audio[number - 1])."""
    return f"[audio input {number}]"


def _speech_segments(transcript: Transcript) -> list[str]:
    return [
        s.text
        for s in transcript.segments
        if s.text.strip() and not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB)
    ]


def describe(number: int, audio: Audio, transcript: Transcript) -> str:
    """The text block for audio part `number`: a header of cues, then the transcript in quotes."""
    cues = [f"{audio.duration:.1f} s"]
    level = dbfs(audio.samples)
    spoken = _speech_segments(transcript)
    if not spoken:
        cues.append("no speech detected (silence, noise or music)")
    else:
        cues.append(f"language: {transcript.language}")
        words = transcript.words
        if words and transcript.speech_duration > 0:
            rate = len(words) / transcript.speech_duration * 60
            cues.append(f"speaking rate: {rate:.0f} words/min")
        cues += [
            f'pause of {gap:.1f} s after "{word.strip()}"'
            for gap, word in _pauses(transcript)[:MAX_PAUSES_REPORTED]
        ]
    cues.append(f"loudness: {level:.0f} dBFS" + (" (very quiet)" if level < QUIET_DBFS else ""))
    if np.mean(np.abs(audio.samples) >= 0.999) > 0.001:
        cues.append("clipped (distorted)")
    header = f"[audio input {number}: " + "; ".join(cues) + "]"
    if not spoken:
        return header
    return header + "\n" + '"' + "".join(spoken).strip() + '"'


def _pauses(transcript: Transcript) -> list[tuple[float, str]]:
    words = transcript.words
    gaps = [(b.start - a.end, a.text) for a, b in itertools.pairwise(words)]
    return sorted((g for g in gaps if g[0] >= PAUSE_SECONDS), reverse=True)


class Hearing:
    """Hears the audio parts of one request with the configured recogniser."""

    def __init__(
        self, recognizer: ServedSpeechModel | None, settings: AudioSettings, telemetry: Telemetry
    ) -> None:
        self._recognizer = recognizer
        self._telemetry = telemetry
        self._settings = settings
        self._limits = AudioLimits(
            max_seconds=settings.max_seconds_per_part, max_channels=settings.max_channels
        )

    async def hear(self, parts: Sequence[AudioPart], *, native: bool = False) -> list[Heard]:
        """The strategy per model: transcribe each part and describe it (a text model), or, for a model
        that hears (`native`), only decode and check it, so the audio itself reaches the model."""
        if not parts:
            return []
        if self._recognizer is None and not native:
            raise UnsupportedParameter("This server has no speech model configured.", param=parts[0].path)
        decoded = [await anyio.to_thread.run_sync(self._decode, part) for part in parts]
        total = sum(a.duration for a in decoded)
        if total > self._settings.max_seconds_per_request:
            raise InvalidRequest(
                f"The request holds {total:.1f} s of audio; at most "
                f"{self._settings.max_seconds_per_request:g} s are accepted.",
                param="messages",
            )
        if native or self._recognizer is None:
            self._telemetry.heard(total)
            return [
                Heard(audio, None, marker(part.number)) for part, audio in zip(parts, decoded, strict=True)
            ]
        recognizer = self._recognizer
        ticket = recognizer.worker.admit()
        transcripts = await recognizer.worker.run(
            lambda: [recognizer.runtime.recognize(a).complete() for a in decoded], ticket
        )
        self._telemetry.heard(total)
        return [
            Heard(audio, transcript, describe(part.number, audio, transcript))
            for part, audio, transcript in zip(parts, decoded, transcripts, strict=True)
        ]

    def _decode(self, part: AudioPart) -> Audio:
        try:
            return decode(part.data, part.format, self._limits)
        except FormatMismatch as exc:
            raise InvalidRequest(str(exc), param=f"{part.path}.format") from None
        except InvalidAudio as exc:
            raise InvalidRequest(str(exc), param=f"{part.path}.data") from None
