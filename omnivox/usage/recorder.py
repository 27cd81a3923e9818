"""The hot path of usage accounting: `record` adds to counters in memory (one lock, no I/O); a thread
writes what has accumulated to the store every `flush_seconds`, in one transaction. `close` (at shutdown,
after the model workers have stopped, so their last counts are in) writes the rest.

A batch the store refuses (a full disk, a locked file) is kept and retried with the next one, so counts
are only lost if the process dies before it can write them: at most `flush_seconds` of them, and none on
SIGTERM, whose graceful shutdown ends in `close`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from omnivox.storage.usage_store import BucketRow, UsageKey, UsageStore
from omnivox.usage.counts import Surface, Usage

log = logging.getLogger("omnivox.usage")

#: Called with each record as it is made (Prometheus counters): key label, surface, model, usage.
Observer = Callable[[str | None, Surface, str, Usage], None]


class UsageRecorder:
    def __init__(
        self,
        store: UsageStore,
        *,
        flush_seconds: float = 1.0,
        observe: Observer | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._observe = observe
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[UsageKey, Usage] = {}
        self._write_lock = threading.Lock()  # one batch at a time reaches the store, in order
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._run, args=(flush_seconds,), name="omnivox-usage", daemon=True
        )
        self._flusher.start()

    def record(self, api_key: str | None, surface: Surface, model: str, usage: Usage) -> None:
        """Count `usage` for the current minute (any thread; nothing is written here)."""
        if usage.empty:
            return
        minute = int(self._clock()) // 60 * 60
        key = UsageKey(minute, surface, model, api_key)
        with self._lock:
            held = self._pending.get(key)
            self._pending[key] = usage if held is None else held + usage
        if self._observe is not None:
            self._observe(api_key, surface, model, usage)

    def flush(self) -> None:
        """Write what has accumulated (on failure it is kept for the next attempt, and the error raised)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, {}
            try:
                self._store.add(batch.items())
            except BaseException:
                with self._lock:
                    for key, usage in batch.items():
                        held = self._pending.get(key)
                        self._pending[key] = usage if held is None else usage + held
                raise

    def buckets(
        self,
        surfaces: Sequence[Surface],
        start: int,
        end: int,
        width: int,
        *,
        models: Sequence[str] | None = None,
        api_keys: Sequence[str] | None = None,
    ) -> list[BucketRow]:
        """The store's answer, with everything recorded until now written first (blocking)."""
        self.flush()
        return self._store.buckets(surfaces, start, end, width, models=models, api_keys=api_keys)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.flush()
            except Exception:
                log.exception("could not write usage counts; they are kept for the next attempt")

    def close(self) -> None:
        """Stop the flusher, write the rest, close the store."""
        self._stop.set()
        self._flusher.join()
        try:
            self.flush()
        finally:
            self._store.close()
