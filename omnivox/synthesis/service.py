"""/v1/audio/speech, orchestrated: check the request, cut the input into speakable pieces, speak them on
the voice's worker, encode as the audio is produced. The first bytes leave after the first piece."""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import numpy as np

from omnivox.audio.encode import OUTPUT_RATE, StreamEncoder
from omnivox.audio.pcm import Audio
from omnivox.config import OPENAI_TTS_ALIASES
from omnivox.context import record_usage
from omnivox.errors import InvalidRequest, ModelNotFound
from omnivox.protocol.speech import SpeechAudioDelta, SpeechAudioDone, SpeechRequest, SpeechUsage
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.runtimes.worker import JobStream
from omnivox.serving.catalog import ModelCatalog, ServedVoice
from omnivox.synthesis.normalize import for_speech
from omnivox.synthesis.segmenter import Segmenter, spoken
from omnivox.telemetry import Telemetry
from omnivox.usage.counts import Usage, milliseconds

#: omnivox's accounting of spoken audio in tokens (OpenAI's audio models bill by audio tokens too).
AUDIO_TOKENS_PER_SECOND = 10
#: What a response holds when its voice produced no samples at all (for "-", say): a playable file.
SILENCE = Audio(np.zeros(OUTPUT_RATE // 10, dtype=np.float32), OUTPUT_RATE)


def audio_tokens(seconds: float) -> int:
    return math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)


def pieces_of(text: str) -> list[str]:
    """`text` cut where a speaker would breathe, markup removed, empty pieces dropped."""
    segmenter = Segmenter()
    return spoken(segmenter.feed(text) + segmenter.flush())


def speak(voice: SpeechSynthesizer, pieces: Iterator[str] | list[str], speed: float) -> Iterator[Audio]:
    """Each piece spoken in turn, rewritten first where a voice would misread it (`for_speech`)."""
    for piece in pieces:
        yield from voice.synthesize(for_speech(piece), speed=speed)


def never_silent(chunks: Iterator[Audio]) -> Iterator[Audio]:
    """`chunks`, then a moment of silence if they held no samples: an encoder fed nothing writes no
    header, and a 0-byte "file" is not one."""
    empty = True
    for chunk in chunks:
        empty = empty and chunk.samples.size == 0
        yield chunk
    if empty:
        yield SILENCE


@dataclass(frozen=True, slots=True)
class PreparedSpeech:
    request: SpeechRequest
    voice: ServedVoice
    pieces: tuple[str, ...]


class SpeechService:
    def __init__(self, catalog: ModelCatalog, telemetry: Telemetry | None = None) -> None:
        self._catalog = catalog
        self._telemetry = telemetry or Telemetry()

    def prepare(self, request: SpeechRequest) -> PreparedSpeech:
        if request.model not in OPENAI_TTS_ALIASES:
            raise ModelNotFound(
                f"The model `{request.model}` does not exist; text-to-speech models: "
                f"{', '.join(OPENAI_TTS_ALIASES)}.",
                param="model",
            )
        if not request.input.strip():
            raise InvalidRequest("The input holds only whitespace: there is nothing to speak.", param="input")
        voice = self._catalog.resolve_voice(request.voice, param="voice")
        pieces = tuple(pieces_of(request.input)) or (request.input.strip(),)
        return PreparedSpeech(request, voice, pieces)

    def _encoded(self, prepared: PreparedSpeech, cancelled: threading.Event) -> Iterator[bytes | float]:
        """On the voice's worker: encoded bytes as they are ready, then the seconds spoken. The request is
        charged its characters and the seconds spoken when this ends, also when it is cut short."""
        request = prepared.request
        encoder = StreamEncoder(request.response_format)
        seconds = 0.0
        try:
            spoken = speak(prepared.voice.runtime, list(prepared.pieces), request.speed)
            for audio in never_silent(spoken):
                if cancelled.is_set():
                    return
                seconds += audio.duration
                if data := encoder.push(audio):
                    yield data
            if tail := encoder.finish():
                yield tail
            yield seconds
        finally:
            used = Usage(requests=1, characters=len(request.input), audio_ms_out=milliseconds(seconds))
            record_usage("audio_speeches", request.model, used)

    def _start(self, prepared: PreparedSpeech) -> JobStream[bytes | float]:
        """Admit (503 at once when the voice is busy) and start; record first audio and seconds spoken."""
        worker = prepared.voice.worker
        items = worker.submit(lambda cancelled: self._encoded(prepared, cancelled), worker.admit())

        def observe(item: bytes | float) -> None:
            if isinstance(item, bytes):
                self._telemetry.first_audio("speech")
            elif isinstance(item, float):
                self._telemetry.spoke(item)

        items.watch(observe)
        return items

    def audio(self, prepared: PreparedSpeech) -> AsyncIterator[bytes]:
        """Admits and starts now (503 here when the voice is busy); the file's bytes as produced."""
        items = self._start(prepared)

        async def data() -> AsyncIterator[bytes]:
            async for item in items:
                if isinstance(item, bytes):
                    yield item

        return data()

    def events(self, prepared: PreparedSpeech) -> AsyncIterator[SpeechAudioDelta | SpeechAudioDone]:
        items = self._start(prepared)
        input_tokens = len(prepared.request.input.split())

        async def events() -> AsyncIterator[SpeechAudioDelta | SpeechAudioDone]:
            async for item in items:
                if isinstance(item, bytes):
                    yield SpeechAudioDelta(type="speech.audio.delta", audio=base64.b64encode(item).decode())
                else:
                    output = audio_tokens(item)
                    usage = SpeechUsage(
                        input_tokens=input_tokens, output_tokens=output, total_tokens=input_tokens + output
                    )
                    yield SpeechAudioDone(type="speech.audio.done", usage=usage)

        return events()
