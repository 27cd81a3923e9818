"""The model worker's admission: a place in the queue is given back however the work ends."""

from __future__ import annotations

import asyncio
import threading

import pytest

from omnivox.errors import ServerOverloaded
from omnivox.runtimes.worker import ModelWorker


def test_a_call_cancelled_while_it_waits_gives_its_place_back() -> None:
    async def scenario() -> int:
        worker = ModelWorker("test", max_pending=2)
        busy, release = threading.Event(), threading.Event()

        def block() -> None:
            busy.set()
            release.wait(5)

        running = asyncio.create_task(worker.run(block, worker.admit()))
        await asyncio.to_thread(busy.wait, 5)
        waiting = asyncio.create_task(worker.run(lambda: None, worker.admit()))
        await asyncio.sleep(0.05)
        with pytest.raises(ServerOverloaded):
            worker.admit()  # both places taken
        waiting.cancel()  # before the thread ever takes it
        with pytest.raises(asyncio.CancelledError):
            await waiting
        worker.admit().release()  # its place is free again
        release.set()
        await running
        worker.shutdown()
        return worker.pending

    assert asyncio.run(scenario()) == 0
