"""The Realtime API's service: opens sessions (bounded in number) over the served models.

Any model name is accepted (OpenAI clients send `gpt-realtime`, `gpt-realtime-2.1`, ...): a name the
catalog serves is that model; any other is the default chat model, the one `gpt-4o-audio-preview` names.
Recognition uses the recogniser chat audio uses; the voices are chat's, under OpenAI's names."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

from omnivox.config import OPENAI_CHAT_ALIASES, RealtimeSettings
from omnivox.context import record_usage
from omnivox.errors import ServerOverloaded
from omnivox.realtime.connection import Connection
from omnivox.realtime.hearing import Recognition
from omnivox.realtime.outbox import Outbox
from omnivox.realtime.planning import Planner
from omnivox.realtime.session import Session
from omnivox.realtime.vad import SileroModel, TurnDetector, VadParams
from omnivox.runtimes.events import UsageReport
from omnivox.serving.catalog import ModelCatalog, ServedModel
from omnivox.telemetry import Telemetry
from omnivox.usage.counts import chat_usage

#: Server events queued for one client; a client that reads slower than the models write holds them back.
OUTBOX_EVENTS = 256


class RealtimeService:
    def __init__(
        self,
        catalog: ModelCatalog,
        settings: RealtimeSettings,
        telemetry: Telemetry,
        *,
        first_piece_words: int = 0,
    ) -> None:
        self._catalog = catalog
        self._first_words = first_piece_words or None
        self._settings = settings
        self._telemetry = telemetry
        self._recognition = Recognition(catalog, telemetry)
        self._vad: SileroModel | None = None
        self._open = 0

    def model(self, name: str | None) -> ServedModel:
        names = dict(self._catalog.names())
        if name is not None and name in names:
            return names[name]
        return names.get(OPENAI_CHAT_ALIASES[0]) or self._catalog.models[0]

    def _detector(self, params: VadParams) -> TurnDetector:
        if self._vad is None:
            self._vad = SileroModel()
        return TurnDetector(self._vad, params)

    def open(
        self, model_name: str | None, *, admit: Callable[[], None], charge: Callable[[int], None]
    ) -> Connection:
        """A new session (ServerOverloaded when `max_sessions` are open; call `closed` when it ends).
        `admit` is asked before each response (the client's rate limit), `charge` gets the tokens each
        response used."""
        if self._open >= self._settings.max_sessions:
            raise ServerOverloaded(
                f"This server holds {self._settings.max_sessions} realtime sessions at once; retry shortly."
            )
        served = self.model(model_name)
        loop = asyncio.get_running_loop()
        on_usage = functools.partial(self._used, served.id, loop, charge)
        planner = Planner(served, self._catalog, on_usage, admit, first_words=self._first_words)
        session = Session(model_name or served.id)
        connection = Connection(
            session,
            planner,
            self._recognition,
            Outbox(OUTBOX_EVENTS),
            self._detector,
            max_items=self._settings.max_items,
            max_buffer_seconds=self._settings.max_buffer_seconds,
            early_recognition=self._settings.early_recognition,
            speculative=self._settings.speculative,
        )
        self._open += 1
        return connection

    def closed(self) -> None:
        self._open -= 1

    def _used(
        self, model: str, loop: asyncio.AbstractEventLoop, charge: Callable[[int], None], used: UsageReport
    ) -> None:
        """What a response's generation used (called where the generation ends, maybe the model's thread)."""
        self._telemetry.count_tokens(model, used.prompt_tokens, used.completion_tokens, used.cached_tokens)
        record_usage(
            "completions",
            model,
            chat_usage(used.prompt_tokens, used.completion_tokens, used.cached_tokens, used.audio_tokens),
        )
        loop.call_soon_threadsafe(charge, used.prompt_tokens + used.completion_tokens)
