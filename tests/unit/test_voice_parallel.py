"""`synthesis.parallel` and a voice's own `parallel`: resolved once at load, into the number of texts the
voice's runtime may speak at once and the threads of its worker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from omnivox.backends.cpu import default_threads
from omnivox.config import Settings, SynthesisSettings, VoiceSettings
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import Loaders, ModelCatalog
from tests.fuzz.fakes import FakeVoice


def _catalog(synthesis: dict[str, Any]) -> tuple[ModelCatalog, dict[str, VoiceSettings]]:
    loaded: dict[str, VoiceSettings] = {}

    def voice(entry: VoiceSettings) -> FakeVoice:
        loaded[entry.id] = entry
        return FakeVoice()

    def chat(entry: object, worker: ModelWorker) -> Any:  # only held: never asked anything here
        return SimpleNamespace(worker=worker, close=lambda: None)

    def speech(entry: object, cache: object) -> Any:
        return SimpleNamespace(close=lambda: None)

    loaders = Loaders(chat=chat, speech=speech, voice=voice)
    return ModelCatalog.load(Settings(synthesis=synthesis), loaders), loaded


def test_each_voice_speaks_as_many_texts_at_once_as_configured() -> None:
    voices = [
        {"id": "a", "source": "x"},
        {"id": "b", "source": "x", "parallel": 1},
        {"id": "c", "source": "x", "parallel": "auto"},
    ]
    catalog, loaded = _catalog({"voices": voices, "voice_map": {}, "parallel": 3})
    try:
        threads = {v.id: v.worker.threads for v in catalog.voices}
        assert threads == {"a": 3, "b": 1, "c": default_threads()}
        assert {name: entry.parallel for name, entry in loaded.items()} == threads  # the runtime's own
    finally:
        catalog.close()


def test_auto_is_one_text_per_core() -> None:
    assert SynthesisSettings().parallel == "auto"
    catalog, _ = _catalog({"voices": [{"id": "a", "source": "x"}], "voice_map": {}})
    try:
        assert catalog.voices[0].worker.threads == default_threads()
    finally:
        catalog.close()


@pytest.mark.parametrize("value", [0, -1, "many", 1.5])
def test_a_parallel_that_is_not_a_count_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="parallel"):
        SynthesisSettings(parallel=value)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="parallel"):
        VoiceSettings(id="a", source="x", parallel=value)  # type: ignore[arg-type]
