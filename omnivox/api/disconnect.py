"""Work for a client that may leave: a non-streamed answer is cancelled when its client disconnects, so
the model is free again within a token (streamed answers stop when their stream is closed)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

T = TypeVar("T")

#: How often the connection is checked while the work runs, seconds.
POLL_SECONDS = 0.2


class ClientGone(Exception):
    """The client disconnected before the answer was ready; there is no one to answer."""


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone
    finally:
        if not task.done():
            task.cancel()
