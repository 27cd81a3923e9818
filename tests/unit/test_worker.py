"""The model worker's admission: a place in the queue is given back however the work ends; a job held
between two items makes none until it is resumed, cancelled, or the hold runs out."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from omnivox.errors import ServerOverloaded
from omnivox.runtimes import worker as worker_module
from omnivox.runtimes.worker import ModelWorker, Ticket


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


def _counting(made: list[float], start: threading.Event) -> Iterator[int]:
    start.wait(5)
    for i in range(20):
        made.append(time.monotonic())
        yield i


def test_a_held_job_makes_nothing_until_resumed_cancelled_or_the_hold_runs_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_module, "HOLD_LIMIT_S", 0.3)

    async def scenario(end: str) -> tuple[list[float], list[int], float]:
        worker = ModelWorker("test", max_pending=2)
        made: list[float] = []
        start = threading.Event()
        stream = worker.submit(lambda cancelled: _counting(made, start), Ticket.covered())
        stream.hold()  # before the first item: the job stops after making it
        start.set()
        reading = aiter(stream)
        items = [await anext(reading)]
        await asyncio.sleep(0.1)
        assert len(made) == 1  # held
        released = time.monotonic()
        if end == "resume":
            stream.resume()
        elif end == "cancel":
            stream.cancel()
        async for item in reading:
            items.append(item)
        worker.shutdown()
        return made, items, released

    made, items, released = asyncio.run(scenario("resume"))
    assert items == list(range(20)) and made[1] >= released
    made, items, _ = asyncio.run(scenario("cancel"))
    assert items == [0] and len(made) == 1  # the job stopped where it was held
    made, items, released = asyncio.run(scenario("none"))  # never resumed: on by itself after 0.3 s
    assert items == list(range(20)) and made[1] - made[0] >= 0.29
    assert made[-1] - made[1] < 0.29  # the hold ended when it ran out: not one wait an item
