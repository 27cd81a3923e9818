"""The one settings tree. Sources, strongest first: explicit arguments (CLI flags), environment variables
(`OMNIVOX_PORT`, `OMNIVOX_MODELS='[...]'` as JSON, nested with `__`), a TOML config file, the defaults.

The defaults alone serve the embedded models: no configuration is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

#: Model ids that OpenAI clients send for the audio chat model; all resolve to the default chat model.
OPENAI_CHAT_ALIASES: tuple[str, ...] = (
    "gpt-4o-audio-preview",
    "gpt-4o-mini-audio-preview",
    "gpt-audio",
)

EMBEDDED_CHAT_MODEL = "smollm2-135m-instruct"


class LanguageModelSettings(BaseModel):
    """One language model served under `id` (and `aliases`)."""

    id: str = Field(EMBEDDED_CHAT_MODEL, description="The model id clients send and /v1/models lists.")
    source: str = Field(
        f"embedded:{EMBEDDED_CHAT_MODEL}",
        description="Where the weights are: `embedded:<name>` for a model installed from a registry "
        "package, or the path of a local GGUF file.",
    )
    backend: str = Field("llama.cpp", description="Runtime that evaluates the model (registry key).")
    aliases: list[str] = Field(default_factory=list, description="Further ids that resolve to this model.")
    context_window: int = Field(
        8192, ge=64, le=131072, description="Context window in tokens (prompt + completion)."
    )
    threads: int | None = Field(
        None, ge=1, description="CPU threads for generation; None: all cores the process may use."
    )
    max_completion_tokens: int | None = Field(
        None, ge=1, description="Completion limit for requests that set none; None: until the window is full."
    )
    batch_size: int = Field(512, ge=1, description="Prompt tokens evaluated per llama.cpp decode call.")
    chat_template: str | None = Field(
        None,
        description="Jinja chat template overriding the one in the model's metadata (the text itself, "
        "or the path of a file holding it).",
    )


class Settings(BaseSettings):
    """Server settings. Every field can be set in the TOML file, as `OMNIVOX_<FIELD>` or as a flag."""

    model_config = SettingsConfigDict(env_prefix="OMNIVOX_", env_nested_delimiter="__", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on (0: any free port).")
    log_level: str = Field("info", description="Python logging level name.")
    models: list[LanguageModelSettings] = Field(
        default_factory=lambda: [LanguageModelSettings()],
        description="Language models to load at start-up.",
    )
    default_model: str | None = Field(
        None,
        description="Id of the model that OpenAI's audio chat ids (gpt-4o-audio-preview, ...) resolve to; "
        "None: the first of `models`.",
    )
    max_queued_requests: int = Field(
        8, ge=1, description="Requests admitted per model, running + waiting; beyond that, 503 at once."
    )
    max_choices: int = Field(8, ge=1, le=128, description="Largest `n` (choices per request) accepted.")
    max_request_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Largest accepted request body in bytes (413 beyond)."
    )

    @model_validator(mode="after")
    def _check_models(self) -> Settings:
        if not self.models:
            raise ValueError("at least one model must be configured")
        ids = [m.id for m in self.models]
        if self.default_model is not None and self.default_model not in ids:
            raise ValueError(f"default_model {self.default_model!r} is not one of the models {ids}")
        return self

    @property
    def default_model_id(self) -> str:
        return self.default_model or self.models[0].id


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from `overrides` > environment > `config_file` (TOML) > defaults."""

    class _FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if config_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
            return tuple(sources)

    return _FileSettings(**overrides)
