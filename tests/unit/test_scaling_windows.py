"""Events cross processes in short windows: the first alone and at once, then what arrived within the
window; an error after the items before it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from omnivox.scaling.batching import batched


async def _ticking(count: int, every_s: float, fail: bool = False) -> AsyncIterator[int]:
    for i in range(count):
        await asyncio.sleep(every_s)
        yield i
    if fail:
        raise ValueError("broke off")


def _collect(source: AsyncIterator[int], window_s: float) -> list[list[int]]:
    async def run() -> list[list[int]]:
        return [batch async for batch in batched(source, window_s)]

    return asyncio.run(run())


def test_the_first_item_goes_alone_then_windows_gather_the_rest() -> None:
    batches = _collect(_ticking(40, 0.002), window_s=0.05)
    assert batches[0] == [0]
    assert [i for batch in batches for i in batch] == list(range(40))
    assert len(batches) < 10  # 39 items over ~80+ ms in 50 ms windows: a handful of messages


def test_a_zero_window_sends_each_item_alone() -> None:
    batches = _collect(_ticking(5, 0.001), window_s=0)
    assert batches == [[0], [1], [2], [3], [4]]


def test_an_error_comes_after_the_items_before_it() -> None:
    seen: list[int] = []

    async def run() -> None:
        async for batch in batched(_ticking(3, 0.001, fail=True), 0.01):
            seen.extend(batch)

    with pytest.raises(ValueError, match="broke off"):
        asyncio.run(run())
    assert seen == [0, 1, 2]
