"""Start-up says what it loads before each load, as step n of the total, and how long each took."""

from __future__ import annotations

import logging
import re
import tempfile

import pytest

from omnivox.backends.logits.model import LogitsChatModel
from omnivox.config import LanguageModelSettings, Settings
from omnivox.serving import catalog as catalog_module
from tests.support.fakes import FakeLanguageModel


def test_each_load_is_announced_and_timed(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = lambda _entry, worker: LogitsChatModel(FakeLanguageModel(), worker)  # noqa: E731
    monkeypatch.setattr(catalog_module, "load_chat_model", fake)
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            models=[LanguageModelSettings(id="fake")],
            speech_models=[],
            synthesis={
                "voices": [{"id": v, "backend": "flite", "source": v} for v in ("slt", "rms")],
                "voice_map": {},
                "store": f"{folder}/audio.sqlite3",
            },
        )
        with caplog.at_level(logging.INFO, logger="omnivox.catalog"):
            catalog_module.ModelCatalog.load(settings).close()
    lines = [r.getMessage() for r in caplog.records if r.name == "omnivox.catalog"]
    expected = [("chat model", "fake", 1), ("voice", "slt", 2), ("voice", "rms", 3)]
    assert len(lines) == 2 * len(expected)
    pairs = list(zip(lines[::2], lines[1::2], strict=True))
    for (kind, name, step), (before, after) in zip(expected, pairs, strict=True):
        assert before == f"loading {kind} '{name}' ({step}/3)"
        assert re.fullmatch(rf"loaded {kind} '{name}' in \d+\.\d\d s \({step}/3\)", after)
