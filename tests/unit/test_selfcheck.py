"""The start-up self-check over a catalog of fakes that implement the real Protocols: every model runs once,
and one that cannot is named in the failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from omnivox.audio.pcm import Audio
from omnivox.backends.logits.model import LogitsChatModel
from omnivox.runtimes.worker import ModelWorker
from omnivox.serving.catalog import ModelCatalog, ServedModel, ServedSpeechModel, ServedVoice
from omnivox.serving.selfcheck import SelfCheckFailed, check_catalog
from tests.fuzz.fakes import FakeRecognizer, FakeVoice, NotingRecognizer
from tests.support.fakes import FakeLanguageModel


class SilentVoice(FakeVoice):
    def synthesize(self, text: str, *, speed: float = 1.0) -> Iterator[Audio]:
        return iter(())


def _catalog(voice: FakeVoice, recognizer: FakeRecognizer | None = None) -> ModelCatalog:
    return ModelCatalog(
        [ServedModel("chat", LogitsChatModel(FakeLanguageModel(), ModelWorker("chat", 1)))],
        [ServedSpeechModel("asr", recognizer or FakeRecognizer(), ModelWorker("asr", 1))],
        [ServedVoice("v1", voice, ModelWorker("v1", 1))],
    )


def test_every_model_runs_once_and_is_timed() -> None:
    recognizer = NotingRecognizer()
    catalog = _catalog(FakeVoice(), recognizer)
    try:
        checked = check_catalog(catalog)
    finally:
        catalog.close()
    kinds = [(c.kind, c.id) for c in checked]
    assert kinds == [("chat model", "chat"), ("voice", "v1"), ("speech model", "asr")]
    assert all(c.seconds >= 0 for c in checked)
    assert recognizer.heard == [pytest.approx(len("Ready to talk.") * 160 / 16_000)]  # what the voice said


def test_a_voice_that_produces_no_audio_fails_the_check_naming_it() -> None:
    catalog = _catalog(SilentVoice())
    try:
        with pytest.raises(SelfCheckFailed, match="voice 'v1' produced no audio"):
            check_catalog(catalog)
    finally:
        catalog.close()
