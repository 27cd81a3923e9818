"""create_app(settings): the FastAPI application. Models load in the lifespan, before the server
accepts connections; tests may pass a ready catalog (of fakes) instead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from omnivox import __version__
from omnivox.api.errors import install_error_handlers
from omnivox.api.routes import audio, chat, health, models, speech
from omnivox.api.state import Services
from omnivox.chat.service import ChatService
from omnivox.chat.speaking import Speaker
from omnivox.config import Settings
from omnivox.runtimes.catalog import ModelCatalog
from omnivox.storage.audio_store import SQLiteAudioStore
from omnivox.synthesis.service import SpeechService
from omnivox.transcription.service import TranscriptionService


def create_app(settings: Settings, catalog: ModelCatalog | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = (
            catalog if catalog is not None else await anyio.to_thread.run_sync(ModelCatalog.load, settings)
        )
        store = SQLiteAudioStore(settings.synthesis.store)
        speaker = Speaker(store, settings.synthesis.audio_expiry_seconds)
        app.state.services = Services(
            settings=settings,
            catalog=loaded,
            chat=ChatService(loaded, speaker, audio=settings.audio, max_choices=settings.max_choices),
            transcription=TranscriptionService(loaded, settings.audio),
            speech=SpeechService(loaded),
        )
        try:
            yield
        finally:
            store.close()
            if catalog is None:
                loaded.close()

    app = FastAPI(title="omnivox", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    for module in (chat, audio, speech, models, health):
        app.include_router(module.router)
    return app
