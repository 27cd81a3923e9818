from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from omnivox.api.app import create_app
from omnivox.config import OPENAI_CHAT_ALIASES, LanguageModelSettings, Settings
from omnivox.runtimes.catalog import ModelCatalog, ServedModel
from omnivox.runtimes.worker import ModelWorker
from tests.support.fakes import FakeLanguageModel
from tests.support.server import live_server

FAKE_ID = "fake-chat"


@contextlib.contextmanager
def serve_fake(
    model: FakeLanguageModel | None = None, *, max_pending: int = 8, **settings: Any
) -> Iterator[tuple[str, FakeLanguageModel]]:
    """A live server on loopback whose only model is a fake; yields (base_url, fake)."""
    fake = model or FakeLanguageModel()
    catalog = ModelCatalog(
        [ServedModel(FAKE_ID, fake, ModelWorker(FAKE_ID, max_pending), aliases=OPENAI_CHAT_ALIASES)]
    )
    app = create_app(Settings(models=[LanguageModelSettings(id=FAKE_ID)], **settings), catalog=catalog)
    try:
        with live_server(app) as url:
            yield url, fake
    finally:
        catalog.close()


@pytest.fixture
def fake_server() -> Iterator[tuple[str, FakeLanguageModel]]:
    with serve_fake() as served:
        yield served
