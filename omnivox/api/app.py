"""create_app(settings): the FastAPI application. Models load in the lifespan, before the server
accepts connections; tests may pass a ready catalog (of fakes) instead.

Every request passes the gateway (request id, API key, rate limit, metrics, access log). At shutdown,
after uvicorn's grace period, whatever still runs on a runtime's thread is cancelled and the threads are
joined before the audio store closes and the usage counts are written, so no write is cut in half and no
count is lost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from omnivox import __version__
from omnivox.api.errors import install_error_handlers
from omnivox.api.gateway import Gateway
from omnivox.api.keys import AdminKeys, ApiKeys
from omnivox.api.ratelimit import RateLimiter
from omnivox.api.routes import (
    audio,
    chat,
    health,
    metrics,
    models,
    organization,
    playground,
    realtime,
    speech,
)
from omnivox.api.state import Services
from omnivox.chat.service import ChatService
from omnivox.chat.speaking import Speaker
from omnivox.config import Settings
from omnivox.realtime.service import RealtimeService
from omnivox.serving.catalog import ModelCatalog
from omnivox.storage.audio_store import SQLiteAudioStore
from omnivox.synthesis.service import SpeechService
from omnivox.telemetry import Telemetry
from omnivox.transcription.service import TranscriptionService
from omnivox.usage.accounts import UsageAccounts


def create_app(
    settings: Settings,
    catalog: ModelCatalog | None = None,
    *,
    keys: ApiKeys | None = None,
    admin_keys: AdminKeys | None = None,
) -> FastAPI:
    """`keys`, `admin_keys`: as read from the settings (read here when not given; OSError or ValueError
    when the keys file cannot be read or holds a malformed key, or an admin key is also an ordinary one)."""
    keys = keys if keys is not None else ApiKeys.from_settings(settings)
    admin_keys = admin_keys if admin_keys is not None else AdminKeys.from_settings(settings, keys)
    telemetry = Telemetry()
    usage = UsageAccounts(
        settings.usage, settings.usage.store_path(settings.synthesis.store), telemetry.registry
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loaded = (
            catalog if catalog is not None else await anyio.to_thread.run_sync(ModelCatalog.load, settings)
        )
        telemetry.watch(loaded)
        store = SQLiteAudioStore(settings.synthesis.store)
        usage.open()
        speaker = Speaker(
            store,
            settings.synthesis.audio_expiry_seconds,
            telemetry,
            first_piece_words=settings.synthesis.first_piece_words,
        )
        app.state.services = Services(
            settings=settings,
            catalog=loaded,
            chat=ChatService(
                loaded,
                speaker,
                audio=settings.audio,
                max_choices=settings.max_choices,
                limits=settings.limits,
                telemetry=telemetry,
            ),
            transcription=TranscriptionService(loaded, settings.audio, telemetry),
            speech=SpeechService(loaded, telemetry),
            realtime=RealtimeService(
                loaded,
                settings.realtime,
                telemetry,
                first_piece_words=settings.synthesis.first_piece_words,
            ),
        )
        try:
            yield
        finally:
            loaded.stop_workers()
            store.close()
            usage.close()
            if catalog is None:
                loaded.close()

    app = FastAPI(title="omnivox", version=__version__, lifespan=lifespan)
    app.state.telemetry = telemetry
    app.state.usage = usage
    limiter = RateLimiter(settings.rate_limits)
    app.state.keys = keys  # the Realtime route checks them itself: the gateway sees HTTP only
    app.state.limiter = limiter
    install_error_handlers(app)
    routers = [
        module.router
        for module in (chat, audio, speech, realtime, models, organization, health, metrics, playground)
    ]
    for router in routers:
        app.include_router(router)
    app.add_middleware(
        Gateway,
        keys=keys,
        limiter=limiter,
        telemetry=telemetry,
        routes=[route for router in routers for route in router.routes],
        admin_keys=admin_keys,
        usage=usage,
    )
    return app
