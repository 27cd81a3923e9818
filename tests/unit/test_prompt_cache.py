"""The prompt cache's choices (LRU, budget, prefixes) and the exact-reuse arithmetic, without a model."""

from __future__ import annotations

import pytest

from omnivox.backends.llama_cpp.prompt_cache import (
    ROWS,
    TILE,
    TILED,
    PromptCache,
    canonical_chunks,
    common_prefix,
    exact_length,
    reusable_prefix,
    row_class,
    single_row_exact,
)


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix((5,), [6]) == 0


def test_best_picks_the_longest_shared_prefix() -> None:
    cache = PromptCache(1000)
    cache.save([1, 2, 3, 4], "a", 10)
    cache.save([1, 2, 9], "b", 10)
    entry, shared = cache.best([1, 2, 3, 4, 5])
    assert entry is not None and entry.state == "a" and shared == 4
    entry, shared = cache.best([1, 2, 9, 9])
    assert entry is not None and entry.state == "b" and shared == 3
    assert cache.best([7]) == (None, 0)


def test_ties_go_to_the_most_recently_used() -> None:
    cache = PromptCache(1000)
    first = cache.save([1, 2, 3], "first", 10)
    cache.save([1, 2, 4], "second", 10)
    entry, _ = cache.best([1, 2, 5])
    assert entry is not None and entry.state == "second"
    assert first is not None
    cache.touch(first)
    entry, _ = cache.best([1, 2, 5])
    assert entry is not None and entry.state == "first"


def test_least_recently_used_is_evicted_within_the_budget() -> None:
    cache = PromptCache(30)
    a = cache.save([1], "a", 10)
    cache.save([2], "b", 10)
    cache.save([3], "c", 10)
    assert a is not None
    cache.touch(a)  # now b is the least recently used
    cache.save([4], "d", 10)
    assert [e.state for e in cache.entries()] == ["c", "a", "d"]
    assert cache.used == 30 and len(cache) == 3
    cache.save([5], "e", 25)  # needs 25 of 30: three entries go
    assert [e.state for e in cache.entries()] == ["e"] and cache.used == 25


def test_an_entry_larger_than_the_budget_is_not_kept() -> None:
    cache = PromptCache(10)
    cache.save([1], "small", 5)
    assert cache.save([2], "huge", 11) is None
    assert [e.state for e in cache.entries()] == ["small"]
    with pytest.raises(ValueError):
        PromptCache(-1)


def test_prefixes_of_a_new_entry_are_dropped() -> None:
    cache = PromptCache(1000)
    cache.save([1, 2], "short", 10)
    cache.save([1, 3], "other", 10)
    cache.save([1, 2, 3], "long", 20)
    assert sorted(e.state for e in cache.entries()) == ["long", "other"]
    assert cache.used == 30
    assert cache.covers([1, 2]) and cache.covers([1, 2, 3]) and not cache.covers([1, 2, 3, 4])
    cache.save([1, 2, 3], "again", 20)  # the same tokens replace the old entry
    assert sorted(e.state for e in cache.entries()) == ["again", "other"] and cache.used == 30
    cache.clear()
    assert len(cache) == 0 and cache.used == 0


def test_row_classes_follow_the_kernel_llama_cpp_picks() -> None:
    assert row_class(TILE, 0, False) == TILED and row_class(512, 100, False) == TILED
    assert row_class(2, 5000, False) == ROWS and row_class(TILE - 1, 0, False) == ROWS
    assert row_class(1, 10, True) == ROWS
    assert row_class(1, 10, False) not in (ROWS, TILED)  # one row against a long KV view: split-KV
    assert single_row_exact(255, 131072) and not single_row_exact(256, 131072)
    assert single_row_exact(300, 400)  # a window under 512 cells never reaches the split-KV kernel


def test_canonical_chunks() -> None:
    assert list(canonical_chunks(0, 1300, 512)) == [(0, 512), (512, 1024), (1024, 1280), (1280, 1300)]
    assert list(canonical_chunks(128, 300, 512)) == [(128, 256), (256, 300)]
    assert list(canonical_chunks(260, 300, 512)) == [(260, 300)]  # inside the trailing block
    assert list(canonical_chunks(0, 128, 100)) == [(0, 64), (64, 128)]  # whole tiles per call
    assert list(canonical_chunks(0, 10, 4)) == [(0, 4), (4, 8), (8, 10)]  # no tiles possible
    assert list(canonical_chunks(0, 40, 512)) == [(0, 40)]


def _classes(n: int, *, generated: int = 0) -> bytes:
    """Positions of a prompt of `n` tokens evaluated from scratch, then `generated` tokens appended early
    in the window (row by row)."""
    blocks = n // TILE * TILE
    return bytes([TILED]) * blocks + bytes([ROWS]) * (n - blocks + generated)


def test_reusable_prefix_keeps_whole_tiled_blocks() -> None:
    state = _classes(300)  # T x 256, R x 44
    # a longer prompt: its block 256..320 is tiled from scratch, so only 256 can stay
    assert reusable_prefix(state, 300, 400, last_row_exact=True) == 256
    # a prompt that diverges at 200: back to the block boundary
    assert reusable_prefix(state, 200, 400, last_row_exact=True) == 192
    # a prompt whose trailing block also starts at 256: the row-by-row positions stay too
    assert reusable_prefix(state, 290, 310, last_row_exact=True) == 290
    # the same prompt again: all but the last token (recomputed for its logits)
    assert reusable_prefix(state, 300, 300, last_row_exact=False) == 298  # one row there is not exact
    assert reusable_prefix(state, 300, 300, last_row_exact=True) == 299


def test_reusable_prefix_of_short_prompts_and_generated_tokens() -> None:
    state = _classes(5, generated=1)  # a 5-token prompt and one generated token, all row by row
    assert reusable_prefix(state, 6, 7, last_row_exact=True) == 6
    assert reusable_prefix(state[:5], 5, 6, last_row_exact=True) == 5
    tiled_then_generated = _classes(128, generated=30)
    # a new prompt of 200 tokens computes 128..192 tiled: the generated tokens cannot stay
    assert reusable_prefix(tiled_then_generated, 158, 200, last_row_exact=True) == 128
    # nothing reusable from a state computed in another way
    assert reusable_prefix(bytes([ROWS]) * 100, 100, 150, last_row_exact=True) == 0
    assert reusable_prefix(b"", 0, 10, last_row_exact=True) == 0


def test_exact_length() -> None:
    assert exact_length(_classes(300)) == 300
    assert exact_length(_classes(300, generated=20)) == 320
    assert exact_length(_classes(300) + b"X" + _classes(10)) == 300
    assert exact_length(bytes([TILED]) * 70 + bytes([ROWS]) * 5) == 70  # rows after a partial block
