"""Cheap stand-ins for a speech recogniser and a voice, implementing the real runtime Protocols, so the
fuzzer reaches the code behind /v1/audio/* (formats, streams, encoders) at the speed of the fake model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from omnivox.audio.pcm import Audio
from omnivox.runtimes.speech import Recognition, Segment, SpeechModelInfo, Task, Word
from omnivox.runtimes.synthesis import VoiceInfo

#: What the fake "hears": odd text on purpose (non-ASCII, markup-like, an empty word), one word a second.
WORDS = (" Hello", " wörld", " <b>&amp;</b>", " ", " --> ", " 1:00", " 你好", " done.")


class FakeRecognizer:
    """Hears `WORDS`, one a second of audio, in segments of three words; multilingual, so it translates."""

    info = SpeechModelInfo(
        sample_rate=16_000, multilingual=True, fingerprint="fp_fake_asr", created=1_700_000_000
    )

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
        seconds = int(audio.duration)
        words = [
            Word(start=float(i), end=i + 0.9, text=WORDS[i % len(WORDS)], probability=0.9)
            for i in range(seconds)
        ]
        segments = [
            Segment(
                id=n,
                seek=start * 100,
                start=float(start),
                end=min(start + 3, seconds) - 0.1,
                text="".join(w.text for w in words[start : start + 3]),
                tokens=tuple(range(n, n + 3)),
                words=tuple(words[start : start + 3]) if word_timestamps else (),
                avg_logprob=-0.25,
                no_speech_prob=0.01,
                compression_ratio=1.2,
                temperature=temperature or 0.0,
            )
            for n, start in enumerate(range(0, seconds, 3))
        ]
        return Recognition(
            language=language or "en",
            language_probability=0.99,
            duration=audio.duration,
            speech_duration=audio.duration,
            segments=iter(segments),
        )

    def close(self) -> None:
        pass


class NotingRecognizer(FakeRecognizer):
    """`FakeRecognizer`, noting what each recognition was given: the audio's duration (`heard`) and the
    options (`options`)."""

    def __init__(self) -> None:
        self.heard: list[float] = []
        self.options: list[dict[str, Any]] = []

    def recognize(self, audio: Audio, **options: Any) -> Recognition:
        self.heard.append(audio.duration)
        self.options.append(options)
        return super().recognize(audio, **options)


class FakeVoice:
    """Says any text as a quiet tone, 10 ms per character at normal speed (at most two seconds a piece)."""

    info = VoiceInfo(sample_rate=16_000, description="fake tone")

    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        size = int(min(len(text) * 160 / speed, 32_000))
        yield Audio((0.1 * np.sin(np.arange(size, dtype=np.float32) / 8)).astype(np.float32), 16_000)

    def close(self) -> None:
        pass
