"""The served models: each configured language model loaded once, with its worker, under its id and
aliases."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from omnivox.config import OPENAI_CHAT_ALIASES, Settings
from omnivox.errors import ModelLoadError, ModelNotFound
from omnivox.runtimes.base import LanguageModel
from omnivox.runtimes.registry import load_language_model
from omnivox.runtimes.worker import ModelWorker


@dataclass(frozen=True)
class ServedModel:
    id: str
    runtime: LanguageModel
    worker: ModelWorker
    aliases: tuple[str, ...] = field(default=())
    default_max_tokens: int | None = None  # completion limit for requests that set none


class ModelCatalog:
    """Resolves the model names clients send to loaded models."""

    def __init__(self, models: Iterable[ServedModel]) -> None:
        self._models = tuple(models)
        self._by_name: dict[str, ServedModel] = {}
        for model in self._models:
            for name in (model.id, *model.aliases):
                if name in self._by_name:
                    raise ModelLoadError(f"model name {name!r} is configured twice")
                self._by_name[name] = model

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
        return cls(served)

    @property
    def models(self) -> tuple[ServedModel, ...]:
        return self._models

    def names(self) -> list[tuple[str, ServedModel]]:
        """Every servable name (ids first, then aliases) with its model."""
        return list(self._by_name.items())

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
