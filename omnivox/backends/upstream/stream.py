"""UpstreamStream: the events of one upstream request, produced by a task of their own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

from omnivox.runtimes.events import Event
from omnivox.runtimes.worker import Ticket


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a start error as seen: a non-streamed answer reads it from the events instead."""
    if not future.cancelled():
        future.exception()


class UpstreamStream:
    """The events of one upstream request, produced by a task of their own: `cancel` cancels the task,
    which closes the HTTP request. The admission ticket is released when the task ends."""

    def __init__(self, events: AsyncGenerator[Event, None], ticket: Ticket) -> None:
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opened.add_done_callback(_retrieved)
        self._task = asyncio.create_task(self._pump(events))
        # a task cancelled before its first step never runs its `finally`: release on its end instead
        self._task.add_done_callback(lambda _: ticket.release())

    async def _pump(self, events: AsyncGenerator[Event, None]) -> None:
        try:
            async for event in events:
                self._open(None)
                self._queue.put_nowait(("item", event))
        except Exception as exc:  # handed to the consumer, which maps it to an error response
            self._open(exc)
            self._queue.put_nowait(("error", exc))
        finally:
            await events.aclose()  # closes the HTTP request when the task was cancelled
            self._open(None)
            self._queue.put_nowait(("end", None))

    def _open(self, error: Exception | None) -> None:
        if not self._opened.done():
            if error is None:
                self._opened.set_result(None)
            else:
                self._opened.set_exception(error)

    async def ready(self) -> None:
        """Once the first event came (or the request ended): an error before it raises here."""
        await asyncio.shield(self._opened)

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == "item":
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    assert isinstance(value, Exception)
                    raise value
                else:
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._task.cancel()
