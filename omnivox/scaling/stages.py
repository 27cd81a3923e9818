"""The stages as Ray Serve deployment classes: each replica loads omnivox's own engine once, behind the
same contracts as the single process (so sampling, grammars and voices are exactly those), and serves
the ingress's calls (omnivox.scaling.remote). Plain classes: omnivox.scaling.app makes them deployments
with the options of `[ray]`.

A replica owns its model's worker (one thread, as in one process); Serve's `max_ongoing_requests` bounds
what reaches a replica, its `max_queued_requests` what waits at each caller."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from omnivox.audio.pcm import Audio
from omnivox.config import Settings
from omnivox.runtimes.chat_model import Conversation, GenerationSpec, Prompt, ServingInfo
from omnivox.runtimes.events import Event
from omnivox.runtimes.speech import SpeechModelInfo, Transcript
from omnivox.runtimes.synthesis import SpeechSynthesizer, VoiceInfo
from omnivox.runtimes.worker import ModelWorker
from omnivox.scaling.batching import batched
from omnivox.serving.catalog import Loaders


class ChatStage:
    """One language model of `models`. `generate` yields the events in lists, one per `batch_ms`."""

    def __init__(self, settings: Settings, model_id: str, loaders: Loaders | None = None) -> None:
        entry = next(m for m in settings.models if m.id == model_id)
        # the replica's own queue: Serve sends it at most max_ongoing_requests at once
        worker = ModelWorker(model_id, settings.ray.chat.max_ongoing_requests)
        self._model = (loaders or Loaders()).chat(entry, worker)
        self._window = settings.ray.batch_ms / 1000

    def info(self) -> ServingInfo:
        return self._model.info

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        return await self._model.prompt(conversation, spec)

    async def generate(self, prompt: Prompt, spec: GenerationSpec) -> AsyncIterator[list[Event]]:
        stream = self._model.generate(prompt, spec)
        try:
            await stream.ready()
            async for batch in batched(stream, self._window):
                yield batch
        finally:  # the caller cancelled (client gone) or the stream ended: stop at the next token
            stream.cancel()

    def __del__(self) -> None:
        self._model.close()


class SpeechStage:
    """One recogniser of `speech_models`; a whole transcript per call."""

    def __init__(self, settings: Settings, model_id: str, loaders: Loaders | None = None) -> None:
        entry = next(m for m in settings.speech_models if m.id == model_id)
        self._runtime = (loaders or Loaders()).speech(entry, settings.cache_dir)
        self._lock = threading.Lock()  # the runtime is not thread-safe; Serve's threadpool is

    def info(self) -> SpeechModelInfo:
        return self._runtime.info

    def recognize(self, audio: Audio, options: Mapping[str, Any]) -> Transcript:
        with self._lock:
            return self._runtime.recognize(audio, **options).complete()


class VoiceStage:
    """The voices of one family (`synthesis.voices` of one backend); chunks stream as each is spoken."""

    def __init__(self, settings: Settings, backend: str, loaders: Loaders | None = None) -> None:
        load = (loaders or Loaders()).voice
        self._voices: dict[str, SpeechSynthesizer] = {
            v.id: load(v) for v in settings.synthesis.voices if v.backend == backend
        }
        self._lock = threading.Lock()

    def info(self) -> dict[str, VoiceInfo]:
        return {name: voice.info for name, voice in self._voices.items()}

    def synthesize(self, voice: str, text: str, speed: float) -> Iterator[Audio]:
        with self._lock:
            yield from self._voices[voice].synthesize(text, speed=speed)
