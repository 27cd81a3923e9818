"""Speaking a chat answer: the whole text at once, or piece by piece while the model is still writing.

Text is cut into speakable pieces (omnivox.synthesis.segmenter); each piece is spoken on the voice's
worker thread while the language model's worker goes on generating, so the first words are heard long
before the answer is complete. The transcript is exactly what was spoken: the pieces, markup removed,
joined by spaces. The spoken answer is stored under its audio id until it expires.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import anyio.to_thread
import numpy as np

from omnivox.audio.encode import encode, pcm16
from omnivox.audio.pcm import Audio
from omnivox.chat.messages import AudioRef
from omnivox.chat.plan import SpeechPlan
from omnivox.context import mark
from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import Holdable, held_until_first
from omnivox.runtimes.events import AudioDelta
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.runtimes.worker import Ticket
from omnivox.serving.catalog import ServedVoice
from omnivox.storage.audio_store import AudioStore, StoredAudio
from omnivox.synthesis.segmenter import FIRST_WORDS, Segmenter, spoken
from omnivox.synthesis.service import pieces_of, speak
from omnivox.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    id: str
    transcript: str
    data: bytes  # the whole answer in the requested format
    expires_at: int
    seconds: float


@dataclass(frozen=True, slots=True)
class SpokenStart:
    """Streaming: the answer's audio id, before any audio."""

    id: str


@dataclass(frozen=True, slots=True)
class SpokenText:
    """Streaming: the transcript of the piece about to be heard (with its leading space)."""

    text: str


@dataclass(frozen=True, slots=True)
class SpokenAudio:
    """Streaming: pcm16 (24 kHz mono) of the current piece."""

    pcm: bytes
    seconds: float


def _joined(chunks: list[Audio]) -> Audio:
    if not chunks:
        return Audio(np.zeros(0, dtype=np.float32), 24_000)
    rate = chunks[0].sample_rate
    return Audio(np.concatenate([c.resampled(rate).samples for c in chunks]), rate)


def _speak_piece(
    voice: SpeechSynthesizer, piece: str, hold: Holdable | None, cancelled: threading.Event
) -> Iterator[Audio]:
    """One piece, spoken on the voice's worker; stops between chunks when the client has gone. `hold`:
    the model writing the answer, held from the moment the voice starts until its first audio."""
    for audio in held_until_first(hold, lambda: speak(voice, [piece], 1.0)):
        if cancelled.is_set():
            return
        yield audio


class Speaker:
    def __init__(
        self,
        store: AudioStore,
        expiry_seconds: int,
        telemetry: Telemetry | None = None,
        *,
        first_piece_words: int = FIRST_WORDS,
    ) -> None:
        """`first_piece_words`: a streamed answer's first piece is short (synthesis.segmenter); 0: not."""
        self._store = store
        self._expiry = expiry_seconds
        self._telemetry = telemetry or Telemetry()
        self._first_words = first_piece_words or None

    @staticmethod
    def new_id() -> str:
        return f"audio_{secrets.token_hex(12)}"

    def expires_at(self) -> int:
        return int(time.time()) + self._expiry

    async def recall(self, refs: list[AudioRef]) -> dict[str, str]:
        """Transcripts of earlier spoken answers; an unknown or expired id is a 400 naming it."""
        recalled = {}
        for ref in refs:
            stored = await anyio.to_thread.run_sync(self._store.get, ref.id)
            if stored is None:
                raise InvalidRequest(f"Audio {ref.id!r} is unknown or has expired.", param=ref.path)
            recalled[ref.id] = stored.transcript
        return recalled

    @staticmethod
    def reserve(voice: ServedVoice) -> Ticket:
        """A place in the voice's queue for one answer, taken before the response starts: a full queue is
        a 503 then, not an error in the middle of a stream."""
        return voice.worker.admit()

    async def speak(
        self,
        speech: SpeechPlan,
        voice: ServedVoice,
        text: str,
        reserved: Ticket,
        charge: Callable[[float], None] | None = None,
    ) -> SpokenAnswer:
        """The whole answer, spoken, encoded and stored (`reserved`: its place in the voice's queue,
        released when done). The seconds spoken are `charge`d on the voice's worker as soon as they are,
        so also when the client has left meanwhile."""
        pieces = pieces_of(text)

        def synthesize() -> tuple[bytes, float]:
            chunks = []
            for chunk in speak(voice.runtime, pieces, 1.0):
                mark("first_synthesis")
                chunks.append(chunk)
            audio = _joined(chunks)
            mark("synthesis")
            if charge is not None:
                charge(audio.duration)
            data = encode(audio, speech.format)
            mark("encoding")
            return data, audio.duration

        data, seconds = await voice.worker.run(synthesize, reserved)
        self._telemetry.first_audio("chat")
        self._telemetry.spoke(seconds)
        answer = SpokenAnswer(self.new_id(), " ".join(pieces), data, self.expires_at(), seconds)
        await self.keep(answer, speech.format)
        return answer

    async def adopt(self, speech: SpeechPlan, pieces: list[AudioDelta]) -> SpokenAnswer:
        """A model that speaks: its whole spoken answer, encoded and stored like one of ours."""
        audio = _joined([p.audio for p in pieces])
        data = await anyio.to_thread.run_sync(encode, audio, speech.format)
        if pieces:
            self._telemetry.first_audio("chat")
        self._telemetry.spoke(audio.duration)
        transcript = "".join(p.transcript for p in pieces)
        answer = SpokenAnswer(self.new_id(), transcript, data, self.expires_at(), audio.duration)
        await self.keep(answer, speech.format)
        return answer

    async def relay(
        self, pieces: AsyncIterator[AudioDelta]
    ) -> AsyncIterator[SpokenStart | SpokenText | SpokenAudio | SpokenAnswer]:
        """A model that speaks, streamed: the same items as `stream`, from the model's own audio."""
        answer_id, expires_at = self.new_id(), self.expires_at()
        transcript: list[str] = []
        pcm: list[bytes] = []
        seconds = 0.0
        yield SpokenStart(answer_id)
        async for piece in pieces:
            if piece.transcript:
                transcript.append(piece.transcript)
                yield SpokenText(piece.transcript)
            self._telemetry.first_audio("chat")
            self._telemetry.spoke(piece.audio.duration)
            pcm.append(pcm16(piece.audio))
            seconds += piece.audio.duration
            yield SpokenAudio(pcm[-1], piece.audio.duration)
        answer = SpokenAnswer(answer_id, "".join(transcript), b"".join(pcm), expires_at, seconds)
        await self.keep(answer, "pcm16")
        yield answer

    async def keep(self, answer: SpokenAnswer, fmt: str) -> None:
        stored = StoredAudio(answer.id, answer.transcript, fmt, answer.data, answer.expires_at)
        await anyio.to_thread.run_sync(self._store.put, stored)

    async def stream(
        self,
        voice: ServedVoice,
        texts: AsyncIterator[str],
        reserved: Ticket,
        *,
        hold: Holdable | None = None,
    ) -> AsyncIterator[SpokenStart | SpokenText | SpokenAudio | SpokenAnswer]:
        """Speak `texts` as they arrive (the text side runs ahead in a task of its own): the audio id
        first, then each piece's transcript and pcm16 audio, and last the whole answer, stored. The
        Speaker owns the answer; `reserved` (its place in the voice's queue) is released at the end.
        `hold`: the model writing `texts`, paused while the voice speaks the first piece."""
        pieces: asyncio.Queue[str | None] = asyncio.Queue()
        cutting = asyncio.create_task(self._cut(texts, pieces, Segmenter(first_words=self._first_words)))
        answer_id, expires_at = self.new_id(), self.expires_at()
        transcript: list[str] = []
        pcm: list[bytes] = []
        seconds = 0.0
        try:
            yield SpokenStart(answer_id)
            while (piece := await pieces.get()) is not None:
                text = piece if not transcript else " " + piece
                transcript.append(text)
                yield SpokenText(text)
                first = hold if not pcm else None
                job = functools.partial(_speak_piece, voice.runtime, piece, first)
                async for audio in voice.worker.submit(job, Ticket.covered()):
                    mark("first_synthesis")
                    pcm.append(pcm16(audio))
                    mark("encoding")
                    self._telemetry.first_audio("chat")
                    self._telemetry.spoke(audio.duration)
                    seconds += audio.duration
                    yield SpokenAudio(pcm[-1], audio.duration)
            await cutting  # raises what the text side raised
            answer = SpokenAnswer(answer_id, "".join(transcript), b"".join(pcm), expires_at, seconds)
            await self.keep(answer, "pcm16")
            yield answer
        finally:
            if hold is not None:
                hold.resume()
            cutting.cancel()
            reserved.release()

    @staticmethod
    async def _cut(
        texts: AsyncIterator[str], pieces: asyncio.Queue[str | None], segmenter: Segmenter
    ) -> None:
        try:
            async for text in texts:
                for piece in spoken(segmenter.feed(text)):
                    mark("first_piece")
                    await pieces.put(piece)
            for piece in spoken(segmenter.flush()):
                mark("first_piece")
                await pieces.put(piece)
        finally:
            await pieces.put(None)
