"""The server events of one connection on their way out: one queue, one writer, in the order they were
put; audio deltas of a cancelled response still queued are dropped, so none reaches the client after the
cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from omnivox.realtime.wire import Event

#: Events of a cancelled response that are dropped while still queued.
_MUTED = frozenset({"response.output_audio.delta"})
Transmit = Callable[[Event], Awaitable[None]]


class Outbox:
    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size)
        self._muted: set[str] = set()
        self.closed = False  # the client has gone: what is still put is dropped, never waited on

    async def put(self, item: Event) -> None:
        if not self.closed:
            await self._queue.put(item)

    def mute(self, response_id: str) -> None:
        self._muted.add(response_id)

    async def pump(self, transmit: Transmit) -> None:
        """Send events until cancelled (the connection closed)."""
        while True:
            item = await self._queue.get()
            if item["type"] in _MUTED and item.get("response_id") in self._muted:
                continue
            await transmit(item)
