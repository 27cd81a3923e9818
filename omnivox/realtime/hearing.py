"""Recognising the user's audio on the speech model's worker (the recogniser chat input_audio uses), and
recognising a turn while it is still spoken (`EarlyHearing`), so that at its end little is left to do.

Whisper hears a whole clip at a time (its 30 s window), not a stream, so "while speaking" means: at each
pause in the speech, the turn so far is recognised in the background. When the pause turns out to be the
end of the turn, the transcript is already under way (or done) and the commit uses it; when the user
speaks on, the next pause starts a fresher one. At most one recognition per session runs at a time, and
only the latest pause waits its turn, so a fast talker never queues work on the shared recogniser.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable

from omnivox.audio.pcm import Audio
from omnivox.errors import ModelFailure, ModelNotFound
from omnivox.realtime.inputs import RATE, Samples
from omnivox.runtimes.speech import Transcript
from omnivox.serving.catalog import ModelCatalog, ServedSpeechModel
from omnivox.telemetry import Telemetry

Heard = tuple[str, float]  # (the words, seconds of audio)


def words(transcript: Transcript) -> str:
    """The words said, without segments Whisper made up from silence or noise."""
    return "".join(transcript.speech()).strip()


class Recognition:
    """Hears user turns with the recogniser a session names (`transcription.model`: a configured speech
    model's id or alias), else with the one chat audio is heard with (OpenAI's names map to it)."""

    def __init__(self, catalog: ModelCatalog, telemetry: Telemetry) -> None:
        self._catalog = catalog
        self._telemetry = telemetry

    def recognizer(self, model: str | None) -> ServedSpeechModel | None:
        if model is not None:
            with contextlib.suppress(ModelNotFound):  # an unknown name: the default (OpenAI's: its aliases)
                return self._catalog.resolve_speech(model)
        return self._catalog.hearing

    async def hear(
        self,
        samples: Samples,
        *,
        model: str | None = None,
        language: str | None = None,
        prompt: str | None = None,
    ) -> Heard:
        """(the words, seconds of audio); ServerOverloaded when the recogniser's queue is full. A turn
        needs its words only: no word timestamps (Whisper's alignment pass), and no identification of the
        language when the session names it; and it needs them soon: the recogniser's quick pass."""
        recognizer = self.recognizer(model)
        if recognizer is None:
            raise ModelFailure("This server has no speech model configured.")
        audio = Audio(samples, RATE)
        ticket = recognizer.worker.admit()
        transcript = await recognizer.worker.run(
            lambda: recognizer.runtime.recognize(
                audio, language=language, prompt=prompt, word_timestamps=False, quick=True
            ).complete(),
            ticket,
        )
        self._telemetry.heard(audio.duration)
        return words(transcript), audio.duration


#: Words after which a speaker is not done, even when Whisper ends the text with a full stop or a
#: question mark: conjunctions, articles, possessives, prepositions that rarely end a sentence, fillers.
#: Words that often end one ("so", "in", "you", "like") are not here: a wrong "not done" costs the
#: eagerness's longest wait, a wrong "done" only an early turn.
_TRAILING = frozenset(
    [
        "and",
        "or",
        "but",
        "because",
        "if",
        "the",
        "a",
        "an",
        "to",
        "of",
        "for",
        "with",
        "from",
        "my",
        "your",
        "our",
        "their",
        "its",
        "um",
        "uh",
        "er",
        "erm",
        "hmm",
    ]
)
_LAST_WORD = re.compile(r"([A-Za-z']+)\W*$")


def finished(text: str) -> bool:
    """Whether words heard so far end a turn: a complete sentence or question, not a trailing
    conjunction, article or filler, not an ellipsis (Whisper writes "..." where speech trails off)."""
    text = text.strip()
    if not text or text.endswith(("...", "…", ",", "-", ";", ":")) or text[-1] not in ".?!":
        return False
    last = _LAST_WORD.search(text)
    return last is None or last.group(1).lower() not in _TRAILING


class EarlyHearing:
    """One session's recognitions of the turn under way, each of the audio up to a pause (`cut`, ms on
    the session's input timeline). `on_heard(cut, words)` is told each result as it comes."""

    def __init__(
        self, hear: Callable[[Samples], Awaitable[Heard]], on_heard: Callable[[int, str], None]
    ) -> None:
        self._hear = hear
        self._on_heard = on_heard
        self._running: asyncio.Task[None] | None = None
        self._pending: list[tuple[int, Samples, asyncio.Future[Heard]]] = []
        self._claimed: set[asyncio.Future[Heard]] = set()  # handed to a commit: they run whatever comes
        self._cut = -1  # the latest pause of this turn (-1: none yet)
        self._latest: asyncio.Future[Heard] | None = None

    def reset(self) -> None:
        """A new turn: earlier pauses no longer count (what a commit took still runs)."""
        self._cut, self._latest = -1, None

    def pause(self, cut: int, samples: Samples) -> None:
        """The speech paused at `cut`: recognise `samples` (the turn so far) once the recogniser is free.
        A recognition still waiting for an earlier pause is dropped: this one hears more."""
        future: asyncio.Future[Heard] = asyncio.get_running_loop().create_future()
        for pending in [p for p in self._pending if p[2] not in self._claimed]:
            pending[2].cancel()
            self._pending.remove(pending)
        self._pending.append((cut, samples, future))
        self._cut, self._latest = cut, future
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run())

    def latest(self) -> tuple[int, asyncio.Future[Heard]] | None:
        """The latest pause of this turn and its recognition (not kept: a later pause may drop it)."""
        return None if self._latest is None else (self._cut, self._latest)

    def heard_until(self, speech_end: int) -> asyncio.Future[Heard] | None:
        """The recognition of this turn when it covers all speech up to `speech_end` (it is then kept
        until it is done), else None."""
        if self._latest is None or self._cut < speech_end:
            return None
        self._claimed.add(self._latest)
        return self._latest

    async def _run(self) -> None:
        while self._pending:
            cut, samples, future = self._pending.pop(0)
            try:
                heard = await self._hear(samples)
            except Exception as exc:  # the commit then recognises the turn itself
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here, so an unused one is not logged as lost
                continue
            finally:
                self._claimed.discard(future)
            if not future.done():
                future.set_result(heard)
            self._on_heard(cut, heard[0])

    def close(self) -> None:
        if self._running is not None:
            self._running.cancel()
        for _, _, future in self._pending:
            future.cancel()
