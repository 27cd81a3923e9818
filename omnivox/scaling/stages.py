"""The stages as Ray Serve deployment classes: each replica loads omnivox's own engine once, behind the
same contracts as the single process (so sampling, grammars and voices are exactly those), and serves
the ingress's calls (omnivox.scaling.remote). Plain classes: omnivox.scaling.app makes them deployments
with the options of `[ray]`.

A replica owns its model's worker (one thread, as in one process); Serve's `max_ongoing_requests` bounds
what reaches a replica, its `max_queued_requests` what waits at each caller.

Every replica counts its own work in Ray Serve metrics (tagged by Serve with its deployment, replica and
application), exported by each node's metrics agent as `ray_omnivox_replica_*` (docs/scaling.md)."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

from ray.serve import metrics

from omnivox.audio.pcm import Audio
from omnivox.config import Settings
from omnivox.runtimes.chat_model import Conversation, GenerationSpec, Prompt, ServingInfo
from omnivox.runtimes.events import Event, TextDelta
from omnivox.runtimes.speech import SpeechModelInfo, Transcript
from omnivox.runtimes.synthesis import SpeechSynthesizer, VoiceInfo
from omnivox.scaling.batching import batched
from omnivox.serving.catalog import Loaders, chat_worker


class _Meter:
    """What one replica did: requests, their busy seconds, text deltas generated."""

    def __init__(self, stage: str, model: str) -> None:
        tags = {"stage": stage, "model": model}
        keys: Any = ("stage", "model")  # Ray's stub says tuple[str]
        self.requests = metrics.Counter(
            "omnivox_replica_requests_total", "Requests this replica served.", tag_keys=keys
        )
        self.seconds = metrics.Counter(
            "omnivox_replica_busy_seconds_total", "Seconds this replica spent serving.", tag_keys=keys
        )
        self.deltas = metrics.Counter(
            "omnivox_replica_text_deltas_total", "Text deltas (tokens) generated.", tag_keys=keys
        )
        for metric in (self.requests, self.seconds, self.deltas):
            metric.set_default_tags(dict(tags))  # Serve adds its own tags to the dict it is given

    def served(self, started: float) -> None:
        self.requests.inc()
        if (seconds := time.monotonic() - started) > 0:  # Ray's counters refuse 0
            self.seconds.inc(seconds)

    def generated(self, deltas: int) -> None:
        if deltas:
            self.deltas.inc(deltas)


class ChatStage:
    """One language model of `models`. `generate` yields the events in lists, one per `batch_ms`."""

    def __init__(self, settings: Settings, model_id: str, loaders: Loaders | None = None) -> None:
        entry = next(m for m in settings.models if m.id == model_id)
        # the replica's own queue: Serve sends it at most max_ongoing_requests at once; twice that leaves
        # room for generations that were cancelled and are still reaching their next token
        worker = chat_worker(entry, 2 * settings.ray.chat.max_ongoing_requests)
        self._model = (loaders or Loaders()).chat(entry, worker)
        self._window = settings.ray.batch_ms / 1000
        self._meter = _Meter("chat", model_id)

    def info(self) -> ServingInfo:
        return self._model.info

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        return await self._model.prompt(conversation, spec)

    async def generate(self, prompt: Prompt, spec: GenerationSpec) -> AsyncIterator[list[Event]]:
        started = time.monotonic()
        stream = self._model.generate(prompt, spec)
        try:
            await stream.ready()
            async for batch in batched(stream, self._window):
                self._meter.generated(sum(isinstance(e, TextDelta) for e in batch))
                yield batch
        finally:  # the caller cancelled (client gone) or the stream ended: stop at the next token
            stream.cancel()
            self._meter.served(started)

    def __del__(self) -> None:
        self._model.close()


class SpeechStage:
    """One recogniser of `speech_models`; a whole transcript per call."""

    def __init__(self, settings: Settings, model_id: str, loaders: Loaders | None = None) -> None:
        entry = next(m for m in settings.speech_models if m.id == model_id)
        self._runtime = (loaders or Loaders()).speech(entry, settings.cache_dir)
        self._lock = threading.Lock()  # the runtime is not thread-safe; Serve's threadpool is
        self._meter = _Meter("speech", model_id)

    def info(self) -> SpeechModelInfo:
        return self._runtime.info

    def recognize(self, audio: Audio, options: Mapping[str, Any]) -> Transcript:
        started = time.monotonic()
        try:
            with self._lock:
                return self._runtime.recognize(audio, **options).complete()
        finally:
            self._meter.served(started)


class VoiceStage:
    """The voices of one family (`synthesis.voices` of one backend); chunks stream as each is spoken."""

    def __init__(self, settings: Settings, backend: str, loaders: Loaders | None = None) -> None:
        load = (loaders or Loaders()).voice
        self._voices: dict[str, SpeechSynthesizer] = {
            v.id: load(v) for v in settings.synthesis.voices if v.backend == backend
        }
        self._lock = threading.Lock()
        self._meter = _Meter("voices", backend)

    def info(self) -> dict[str, VoiceInfo]:
        return {name: voice.info for name, voice in self._voices.items()}

    def synthesize(self, voice: str, text: str, speed: float) -> Iterator[Audio]:
        started = time.monotonic()
        try:
            with self._lock:
                yield from self._voices[voice].synthesize(text, speed=speed)
        finally:
            self._meter.served(started)
