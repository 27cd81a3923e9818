"""Recognising a user's audio item on the speech model's worker (the recogniser chat input_audio uses)."""

from __future__ import annotations

from omnivox.audio.pcm import Audio
from omnivox.chat.hearing import LOW_LOGPROB, NO_SPEECH_PROB
from omnivox.errors import ModelFailure
from omnivox.realtime.inputs import RATE, Samples
from omnivox.runtimes.speech import Transcript
from omnivox.serving.catalog import ServedSpeechModel
from omnivox.telemetry import Telemetry


def words(transcript: Transcript) -> str:
    """The words said, without segments Whisper made up from silence or noise (chat's own test)."""
    kept = [
        s.text
        for s in transcript.segments
        if s.text.strip() and not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB)
    ]
    return "".join(kept).strip()


class Recognition:
    def __init__(self, recognizer: ServedSpeechModel | None, telemetry: Telemetry) -> None:
        self._recognizer = recognizer
        self._telemetry = telemetry

    async def hear(self, samples: Samples) -> tuple[str, float]:
        """(the words, seconds of audio); ServerOverloaded when the recogniser's queue is full."""
        recognizer = self._recognizer
        if recognizer is None:
            raise ModelFailure("This server has no speech model configured.")
        audio = Audio(samples, RATE)
        ticket = recognizer.worker.admit()
        transcript = await recognizer.worker.run(
            lambda: recognizer.runtime.recognize(audio).complete(), ticket
        )
        self._telemetry.heard(audio.duration)
        return words(transcript), audio.duration
