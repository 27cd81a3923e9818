from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from omnivox.api.app import create_app
from omnivox.config import OPENAI_CHAT_ALIASES, OPENAI_SPEECH_ALIASES, LanguageModelSettings, Settings
from omnivox.runtimes.catalog import ModelCatalog, ServedModel, ServedSpeechModel
from omnivox.runtimes.speech import SpeechRecognizer
from omnivox.runtimes.worker import ModelWorker
from tests.support.fakes import FakeLanguageModel
from tests.support.server import live_server

FAKE_ID = "fake-chat"
SPEECH_ID = "whisper-test"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@contextlib.contextmanager
def serve_fake(
    model: FakeLanguageModel | None = None,
    *,
    speech: Sequence[SpeechRecognizer] = (),
    max_pending: int = 8,
    **settings: Any,
) -> Iterator[tuple[str, FakeLanguageModel]]:
    """A live server on loopback whose language model is a fake (and whose speech recognisers are the
    given ones, the first under the OpenAI aliases); yields (base_url, fake)."""
    fake = model or FakeLanguageModel()
    recognizers = [
        ServedSpeechModel(
            f"{SPEECH_ID}-{i}" if i else SPEECH_ID,
            runtime,
            ModelWorker(f"speech-{i}", max_pending),
            aliases=() if i else OPENAI_SPEECH_ALIASES,
        )
        for i, runtime in enumerate(speech)
    ]
    served = ServedModel(FAKE_ID, fake, ModelWorker(FAKE_ID, max_pending), aliases=OPENAI_CHAT_ALIASES)
    catalog = ModelCatalog([served], recognizers)
    app = create_app(Settings(models=[LanguageModelSettings(id=FAKE_ID)], **settings), catalog=catalog)
    try:
        with live_server(app) as url:
            yield url, fake
    finally:  # the recognisers are shared between tests: stop only the workers made here
        for worker in [served.worker, *(r.worker for r in recognizers)]:
            worker.shutdown()


@pytest.fixture
def fake_server() -> Iterator[tuple[str, FakeLanguageModel]]:
    with serve_fake() as served:
        yield served


@pytest.fixture(scope="session")
def tiny_whisper() -> Iterator[SpeechRecognizer]:
    """The embedded Whisper tiny.en, loaded once for the whole session."""
    from omnivox.runtimes.registry import resolve_speech_source
    from omnivox.runtimes.whisper import WhisperRecognizer

    recognizer = WhisperRecognizer(resolve_speech_source("embedded:whisper-tiny.en", Path("/nonexistent")))
    yield recognizer
    recognizer.close()


@pytest.fixture(scope="session")
def librivox() -> list[tuple[Path, str]]:
    """Debian's real LibriVox clips (pocketsphinx-testdata) with their reference transcripts."""
    references = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words, _, clip = line.rpartition("(")
        references[clip.rstrip(")").strip()] = words.replace("<s>", "").replace("</s>", "").strip()
    return [(LIBRIVOX / f"{clip}.wav", text) for clip, text in sorted(references.items())]
