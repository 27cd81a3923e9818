"""The served models: each configured language model loaded once, with its worker, under its id and
aliases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from omnivox.config import OPENAI_CHAT_ALIASES, OPENAI_SPEECH_ALIASES, Settings
from omnivox.errors import ModelLoadError, ModelNotFound
from omnivox.runtimes.base import LanguageModel
from omnivox.runtimes.registry import load_language_model, load_speech_model
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.worker import ModelWorker


@dataclass(frozen=True)
class ServedModel:
    id: str
    runtime: LanguageModel
    worker: ModelWorker
    aliases: tuple[str, ...] = field(default=())
    default_max_tokens: int | None = None  # completion limit for requests that set none


@dataclass(frozen=True)
class ServedSpeechModel:
    id: str
    runtime: SpeechRecognizer
    worker: ModelWorker
    aliases: tuple[str, ...] = field(default=())


class ModelCatalog:
    """Resolves the model names clients send to loaded models: language models and speech recognisers.
    The first speech model is the one chat audio is heard with."""

    def __init__(self, models: Iterable[ServedModel], speech: Iterable[ServedSpeechModel] = ()) -> None:
        self._models = tuple(models)
        self._speech = tuple(speech)
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
    def load(cls, settings: Settings) -> ModelCatalog:
        """Load every configured model (blocking: call from a thread at start-up)."""
        served = []
        for entry in settings.models:
            aliases = tuple(entry.aliases)
            if entry.id == settings.default_model_id:
                aliases += tuple(a for a in OPENAI_CHAT_ALIASES if a not in aliases)
            served.append(
                ServedModel(
                    id=entry.id,
                    runtime=load_language_model(entry),
                    worker=ModelWorker(entry.id, settings.max_queued_requests),
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
                    runtime=load_speech_model(speech_entry, settings.cache_dir),
                    worker=ModelWorker(speech_entry.id, settings.max_queued_requests),
                    aliases=aliases,
                )
            )
        return cls(served, speech)

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
        model = self._speech_by_name.get(name)
        if model is None:
            raise ModelNotFound(
                f"The speech model `{name}` does not exist or you do not have access to it.", param=param
            )
        return model

    def resolve(self, name: str, *, param: str = "model") -> ServedModel:
        model = self._by_name.get(name)
        if model is None:
            raise ModelNotFound(
                f"The model `{name}` does not exist or you do not have access to it.", param=param
            )
        return model

    def close(self) -> None:
        for model in self._models:
            model.worker.shutdown()
            model.runtime.close()
        for recognizer in self._speech:
            recognizer.worker.shutdown()
            recognizer.runtime.close()
