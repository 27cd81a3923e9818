"""The application's usage accounting, in one object: created with the app (its Prometheus counters exist
from the start), opened in the lifespan (the SQLite store and the thread that writes to it), closed at
shutdown after the model workers have stopped, so their last counts are written."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from omnivox.errors import OmnivoxError
from omnivox.protocol.usage import CompletionsQuery, CostsQuery, UsagePage, UsageQuery
from omnivox.storage.usage_store import SQLiteUsageStore
from omnivox.usage.counts import Surface, Usage
from omnivox.usage.metrics import UsageMetrics
from omnivox.usage.pricing import Prices
from omnivox.usage.recorder import UsageRecorder
from omnivox.usage.report import costs_page, usage_page
from omnivox.usage.settings import UsageSettings


class UsageAccounts:
    def __init__(self, settings: UsageSettings, store: Path, registry: CollectorRegistry) -> None:
        self.prices = Prices(settings.price_table())
        self._metrics = UsageMetrics(registry, self.prices)
        self._store = store
        self._flush_seconds = settings.flush_seconds
        self._recorder: UsageRecorder | None = None

    def open(self) -> None:
        self._recorder = UsageRecorder(
            SQLiteUsageStore(self._store), flush_seconds=self._flush_seconds, observe=self._metrics.observe
        )

    def record(self, api_key: str | None, surface: Surface, model: str, usage: Usage) -> None:
        if self._recorder is not None:
            self._recorder.record(api_key, surface, model, usage)

    def _opened(self) -> UsageRecorder:
        if self._recorder is None:
            raise OmnivoxError("Usage accounting is not running.")
        return self._recorder

    def usage(self, surface: Surface, query: UsageQuery | CompletionsQuery, now: int) -> UsagePage:
        """Blocking (SQLite): call from a thread."""
        return usage_page(self._opened(), surface, query, now)

    def costs(self, query: CostsQuery, now: int) -> UsagePage:
        """Blocking (SQLite): call from a thread."""
        return costs_page(self._opened(), self.prices, query, now)

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None
