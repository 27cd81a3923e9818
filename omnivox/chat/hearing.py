"""Hearing `input_audio` parts: decode, check the limits, recognise, and render what was heard for the
language model -- the words, as if typed, plus the cues a transcript alone drops when they carry
information (`[audio] cues`, docs/audio-input.md).

Runs in `ChatService.prepare`, before any byte of the answer: a file that cannot be used is a 400 naming
its part, never a silent drop.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

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

CueMode = Literal["auto", "always", "never"]


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
    """The full block for audio part `number` (`cues = "always"`): a header of every cue, then the
    transcript in quotes."""
    cues = [f"{audio.duration:.1f} s"]
    level = dbfs(audio.samples)
    spoken = _spoken_text(transcript)
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
    if _clipped(audio):
        cues.append("clipped (distorted)")
    header = f"[audio input {number}: " + "; ".join(cues) + "]"
    if not spoken:
        return header
    return header + "\n" + '"' + spoken + '"'


def informative_cues(audio: Audio, transcript: Transcript) -> list[str]:
    """The cues worth the model's attention (`cues = "auto"`): what a transcript drops and a listener
    would notice. Duration, loudness in range, an ordinary speaking rate and English say nothing: left out."""
    cues = []
    if not _spoken_text(transcript):
        cues.append("no speech heard")
    elif transcript.language != "en":
        cues.append(f"language: {transcript.language}")
    level = dbfs(audio.samples)
    if level < QUIET_DBFS:
        cues.append("very quiet")
    if _clipped(audio):
        cues.append("clipped")
    if _spoken_text(transcript):
        cues += [
            f'{gap:.1f} s pause after "{word.strip()}"'
            for gap, word in _pauses(transcript)[:MAX_PAUSES_REPORTED]
        ]
    return cues


def render_heard(number: int, audio: Audio, transcript: Transcript, *, cues: CueMode, lone: bool) -> str:
    """What the language model reads in place of audio part `number`.

    `auto`: a part that is its message's whole content (`lone`) becomes the words said, exactly as if
    typed; informative cues, if any, follow on a line of their own in parentheses. A part beside text or
    other parts is `[audio n] "words"`, cues inside the brackets. `never`: the words alone. `always`:
    the full header (`describe`)."""
    if cues == "always":
        return describe(number, audio, transcript)
    words = _spoken_text(transcript)
    if cues == "never":
        return words
    notes = informative_cues(audio, transcript)
    if lone:
        if not words:
            return "(" + "; ".join(notes) + ")"
        return words + ("\n(" + "; ".join(notes) + ")" if notes else "")
    label = "[" + "; ".join([f"audio {number}", *notes]) + "]"
    return label + (f' "{words}"' if words else "")


def _spoken_text(transcript: Transcript) -> str:
    return "".join(_speech_segments(transcript)).strip()


def _clipped(audio: Audio) -> bool:
    return bool(np.mean(np.abs(audio.samples) >= 0.999) > 0.001)


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

    async def hear(
        self, parts: Sequence[AudioPart], *, native: bool = False, lone: Collection[int] = ()
    ) -> list[Heard]:
        """The strategy per model: transcribe each part and render it (a text model), or, for a model
        that hears (`native`), only decode and check it, so the audio itself reaches the model. `lone`:
        the numbers of the parts that are their message's whole content (`lone_audio`)."""
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
            Heard(
                audio,
                transcript,
                render_heard(
                    part.number, audio, transcript, cues=self._settings.cues, lone=part.number in lone
                ),
            )
            for part, audio, transcript in zip(parts, decoded, transcripts, strict=True)
        ]

    def _decode(self, part: AudioPart) -> Audio:
        try:
            return decode(part.data, part.format, self._limits)
        except FormatMismatch as exc:
            raise InvalidRequest(str(exc), param=f"{part.path}.format") from None
        except InvalidAudio as exc:
            raise InvalidRequest(str(exc), param=f"{part.path}.data") from None
