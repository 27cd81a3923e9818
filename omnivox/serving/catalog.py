"""The served models: each configured chat model loaded once, with its worker, under its id and
aliases; the speech recognisers and the voices likewise."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from omnivox.config import (
    OPENAI_CHAT_ALIASES,
    OPENAI_SPEECH_ALIASES,
    OPENAI_VOICES,
    LanguageModelSettings,
    ModelSettings,
    Settings,
    SpeechModelSettings,
    VoiceSettings,
)
from omnivox.errors import InvalidRequest, ModelLoadError, ModelNotFound
from omnivox.runtimes.chat_model import ChatModel
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.registry import load_chat_model, load_speech_model, load_voice, synthesis_jobs

log = logging.getLogger("omnivox.catalog")

R = TypeVar("R")


class _Loading:
    """Start-up progress: each load announced before it starts (a big model takes a while) and timed, as
    step n of the total."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._done = 0

    def __call__(self, kind: str, model_id: str, load: Callable[[], R]) -> R:
        step = f"{self._done + 1}/{self._total}"
        log.info("loading %s %r (%s)", kind, model_id, step)
        started = time.monotonic()
        loaded = load()
        self._done += 1
        log.info("loaded %s %r in %.2f s (%s)", kind, model_id, time.monotonic() - started, step)
        return loaded


@dataclass(frozen=True)
class Loaders:
    """How each configured model becomes a runtime: in this process by default (the registry); Ray
    Serve's ingress passes loaders whose runtimes are deployments elsewhere (omnivox.scaling)."""

    chat: Callable[[ModelSettings, ModelWorker], ChatModel] = load_chat_model
    speech: Callable[[SpeechModelSettings, Path], SpeechRecognizer] = load_speech_model
    voice: Callable[[VoiceSettings], SpeechSynthesizer] = load_voice
    #: admission (+ the threads) of a recogniser, a voice: (name, max_pending, threads)
    worker: Callable[[str, int, int], ModelWorker] = ModelWorker


@dataclass(frozen=True)
class ServedModel:
    id: str
    model: ChatModel
    aliases: tuple[str, ...] = field(default=())
    default_max_tokens: int | None = None  # completion limit for requests that set none

    @property
    def worker(self) -> ModelWorker:
        return self.model.worker


@dataclass(frozen=True)
class ServedSpeechModel:
    id: str
    runtime: SpeechRecognizer
    worker: ModelWorker
    aliases: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class ServedVoice:
    id: str
    runtime: SpeechSynthesizer
    worker: ModelWorker


class ModelCatalog:
    """Resolves the model names clients send to loaded models: language models and speech recognisers.
    The first speech model is the one chat audio is heard with."""

    def __init__(
        self,
        models: Iterable[ServedModel],
        speech: Iterable[ServedSpeechModel] = (),
        voices: Iterable[ServedVoice] = (),
        voice_map: Mapping[str, str] | None = None,
    ) -> None:
        self._models = tuple(models)
        self._speech = tuple(speech)
        self._voices = {voice.id: voice for voice in voices}
        self._voice_map = dict(voice_map or {})
        self._by_name: dict[str, ServedModel] = {}
        self._speech_by_name: dict[str, ServedSpeechModel] = {}
        for model in self._models:
            for name in (model.id, *model.aliases):
                self._claim(name)
                self._by_name[name] = model
        for recognizer in self._speech:
            for name in (recognizer.id, *recognizer.aliases):
                self._claim(name)
                self._speech_by_name[name] = recognizer

    def _claim(self, name: str) -> None:
        if name in self._by_name or name in self._speech_by_name:
            raise ModelLoadError(f"model name {name!r} is configured twice")

    @classmethod
    def load(cls, settings: Settings, loaders: Loaders | None = None) -> ModelCatalog:
        """Load every configured model (blocking: call from a thread at start-up)."""
        loaders = loaders or Loaders()
        total = len(settings.models) + len(settings.speech_models) + len(settings.synthesis.voices)
        _timed_load = _Loading(total)
        served = []
        for entry in settings.models:
            aliases = tuple(entry.aliases)
            if entry.id == settings.default_model_id:
                aliases += tuple(a for a in OPENAI_CHAT_ALIASES if a not in aliases)
            served.append(
                ServedModel(
                    id=entry.id,
                    model=_timed_load(
                        "chat model",
                        entry.id,
                        functools.partial(
                            loaders.chat, entry, chat_worker(entry, settings.max_queued_requests)
                        ),
                    ),
                    aliases=aliases,
                    default_max_tokens=entry.max_completion_tokens,
                )
            )
        speech = []
        default_speech = settings.default_speech_model_id
        for speech_entry in sorted(settings.speech_models, key=lambda m: m.id != default_speech):
            aliases = tuple(speech_entry.aliases)
            if speech_entry.id == default_speech:
                aliases += tuple(a for a in OPENAI_SPEECH_ALIASES if a not in aliases)
            speech.append(
                ServedSpeechModel(
                    id=speech_entry.id,
                    runtime=_timed_load(
                        "speech model",
                        speech_entry.id,
                        functools.partial(loaders.speech, speech_entry, settings.cache_dir),
                    ),
                    worker=loaders.worker(speech_entry.id, settings.max_queued_requests, 1),
                    aliases=aliases,
                )
            )
        voices = [_served_voice(v, settings, loaders, _timed_load) for v in settings.synthesis.voices]
        return cls(served, speech, voices, settings.synthesis.voice_map)

    @property
    def models(self) -> tuple[ServedModel, ...]:
        return self._models

    @property
    def speech(self) -> tuple[ServedSpeechModel, ...]:
        return self._speech

    @property
    def hearing(self) -> ServedSpeechModel | None:
        """The recogniser that chat `input_audio` is heard with (None: none configured)."""
        return self._speech[0] if self._speech else None

    def names(self) -> list[tuple[str, ServedModel]]:
        """Every chat model name (ids first, then aliases) with its model."""
        return list(self._by_name.items())

    def speech_names(self) -> list[tuple[str, ServedSpeechModel]]:
        return list(self._speech_by_name.items())

    def resolve_speech(self, name: str, *, param: str = "model") -> ServedSpeechModel:
        return _find(self._speech_by_name, name, "speech model", param)

    def resolve(self, name: str, *, param: str = "model") -> ServedModel:
        return _find(self._by_name, name, "model", param)

    @property
    def voices(self) -> tuple[ServedVoice, ...]:
        return tuple(self._voices.values())

    def resolve_voice(self, voice: str | Mapping[str, object], *, param: str) -> ServedVoice:
        """A voice by OpenAI name (mapped), by configured id, or as a custom voice `{"id": ...}`."""
        if not self._voices:
            raise InvalidRequest("This server has no voices configured.", param=param)
        if not isinstance(voice, str):
            name = voice.get("id")
            if not isinstance(name, str) or name not in self._voices:
                raise InvalidRequest(
                    f"Unknown custom voice {name!r}; configured voices: {sorted(self._voices)}.", param=param
                )
            return self._voices[name]
        if voice in self._voices:
            return self._voices[voice]
        if voice in OPENAI_VOICES:
            return self._voices.get(self._voice_map.get(voice, ""), next(iter(self._voices.values())))
        raise InvalidRequest(
            f"Unknown voice {voice!r}: use one of {', '.join(OPENAI_VOICES)} or a configured voice "
            f"({', '.join(sorted(self._voices))}).",
            param=param,
        )

    def workers(self) -> list[ModelWorker]:
        return [
            *(m.worker for m in self._models),
            *(r.worker for r in self._speech),
            *(v.worker for v in self._voices.values()),
        ]

    def stop_workers(self) -> None:
        """Cancel what is running or waiting on every runtime's thread and wait for the threads to end."""
        for worker in self.workers():
            worker.cancel_all()
        for worker in self.workers():
            worker.shutdown()

    def close(self) -> None:
        self.stop_workers()
        for model in self._models:
            model.model.close()
        for recognizer in self._speech:
            recognizer.runtime.close()
        for voice in self._voices.values():
            voice.runtime.close()


M = TypeVar("M")


def _served_voice(entry: VoiceSettings, settings: Settings, loaders: Loaders, load: _Loading) -> ServedVoice:
    """A voice whose worker runs as many texts at once as the voice may speak (`parallel`, resolved)."""
    jobs = synthesis_jobs(entry.parallel if entry.parallel is not None else settings.synthesis.parallel)
    resolved = entry.model_copy(update={"parallel": jobs})
    runtime = load("voice", entry.id, functools.partial(loaders.voice, resolved))
    return ServedVoice(
        entry.id, runtime, loaders.worker(f"voice-{entry.id}", settings.max_queued_requests, jobs)
    )


def chat_worker(entry: ModelSettings, max_pending: int) -> ModelWorker:
    """A llama.cpp model decodes up to `max_batch` requests together, each on a worker thread of its own."""
    threads = entry.max_batch if isinstance(entry, LanguageModelSettings) else 1
    return ModelWorker(entry.id, max_pending, threads)


def _find(table: Mapping[str, M], name: str, what: str, param: str) -> M:
    found = table.get(name)
    if found is None:
        raise ModelNotFound(
            f"The {what} `{name}` does not exist or you do not have access to it.", param=param
        )
    return found
