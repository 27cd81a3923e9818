"""An in-memory LRU of evaluated prompt states, so that a request sharing a prefix with an earlier one (the
same system prompt, a conversation that grows, several conversations taking turns) starts from that
prefix's KV state instead of recomputing it.

Pure Python and backend-neutral: an entry is the token sequence a state holds plus an opaque blob (for
llama.cpp, `llama_state_seq_get_data` of seq 0) and its size in bytes. The runtime decides when to save
and how to restore; this class only chooses and forgets. Like the runtime that owns it, it is used from
one worker thread and takes no locks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# --- which positions may be reused -----------------------------------------------------------------
#
# llama.cpp's CPU flash attention computes a position with one of three kernels, chosen by the shape of the
# decode call that computed it: a tiled F32 kernel when the call has at least 64 rows (GGML_FA_TILE_Q), a
# row-by-row kernel with F16 accumulation for 2-63 rows (and for one row while the KV view is under 512
# cells), and a split-KV kernel for one row against a longer KV view. Their roundings differ (measured on
# SmolLM2: up to 0.8 in a logit), and within one kernel a row's result does not depend on the other rows
# of its call. So reusing a prefix yields exactly what evaluating the prompt from scratch yields when every
# reused and every recomputed position has the class the from-scratch evaluation gives it. That
# evaluation ("canonical") computes the whole 64-token blocks of a prompt in calls of >= 64 rows (TILED)
# and its trailing partial block in one call (ROWS when it has 2+ rows or the one row sees under 512
# cells). Generated tokens are decoded one by one: ROWS early in the window, OTHER later.

#: Rows per flash-attention query tile in llama.cpp's CPU backend; calls of at least this many rows run
#: the tiled kernel.
TILE = 64
TILED, ROWS, OTHER = b"T"[0], b"R"[0], b"X"[0]


def row_class(rows: int, start: int, single_row_exact: bool) -> int:
    """Class of the positions computed by one decode call of `rows` rows starting at `start`.
    `single_row_exact`: whether a one-row call at `start` runs the row-by-row kernel (its KV view, padded
    to 256 cells, stays under 512)."""
    if rows >= TILE:
        return TILED
    if rows >= 2 or single_row_exact:
        return ROWS
    return OTHER


def single_row_exact(position: int, window: int) -> bool:
    """Whether one row decoded at `position` sees a KV view under 512 cells (llama.cpp pads the view to a
    multiple of 256 of the cells in use, capped at the window)."""
    return position < 256 or window < 512


def canonical_chunks(start: int, end: int, max_rows: int) -> Iterator[tuple[int, int]]:
    """The decode calls, as (start, end), that compute positions [start, end) as a from-scratch
    evaluation of a prompt of `end` tokens would: whole 64-token blocks in calls of >= 64 rows (at most
    `max_rows`, itself >= TILE), then the trailing partial block in one call. `start` must be a multiple
    of TILE or lie inside the trailing partial block (what `reusable_prefix` returns)."""
    if max_rows < TILE:  # no call can run the tiled kernel (and nothing is reused): plain calls
        yield from ((p, min(p + max_rows, end)) for p in range(start, end, max_rows))
        return
    blocks_end = end // TILE * TILE
    step = max_rows // TILE * TILE
    position = start
    while position < blocks_end:
        stop = min(position + step, blocks_end)
        yield position, stop
        position = stop
    if position < end:
        yield position, end


def reusable_prefix(classes: Sequence[int], common: int, n: int, *, last_row_exact: bool) -> int:
    """How many leading positions of a state whose positions have `classes` (and which shares `common`
    tokens with the new prompt) a prompt of `n` tokens may keep, so that the result is bitwise what a
    from-scratch evaluation gives. At least one token is always recomputed (for its logits).
    `last_row_exact`: whether a one-row call at position n - 1 would be of class ROWS."""
    limit = min(common, n - 1, len(classes))
    blocks_end = n // TILE * TILE
    tiled = 0
    while tiled < limit and classes[tiled] == TILED:
        tiled += 1
    best = min(tiled, blocks_end) // TILE * TILE  # whole blocks computed tiled
    if tiled >= blocks_end and limit > blocks_end:  # and part of the trailing block, computed row by row
        end = blocks_end
        while end < limit and classes[end] == ROWS:
            end += 1
        if n - end == 1 and not last_row_exact:
            end -= 1
        if end > blocks_end:
            best = max(best, end)
    return best


def exact_length(classes: Sequence[int]) -> int:
    """The longest prefix of a state any later prompt could reuse: its tiled positions, then, when those
    end on a block boundary, the row-by-row positions after them. Saving more than this is waste."""
    end = 0
    while end < len(classes) and classes[end] == TILED:
        end += 1
    if end % TILE == 0:
        while end < len(classes) and classes[end] == ROWS:
            end += 1
    return end


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True, slots=True)
class CacheEntry:
    tokens: tuple[int, ...]  # the sequence the saved state holds, position 0 on
    state: object  # the runtime's saved state (opaque here)
    size: int  # bytes the state takes, counted against the budget
    classes: bytes = b""  # the class of each position (see `row_class`), for `reusable_prefix`


class PromptCache:
    """Saved states up to `budget` bytes in all, the least recently used evicted first.

    An entry whose tokens are a prefix of a newly saved one is dropped: the longer state serves every
    request the shorter one could (the runtime truncates after restoring)."""

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError("the prompt cache budget cannot be negative")
        self.budget = budget
        self._entries: OrderedDict[tuple[int, ...], CacheEntry] = OrderedDict()  # oldest use first
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def used(self) -> int:
        """Bytes the kept states take."""
        return self._bytes

    def entries(self) -> list[CacheEntry]:
        """The kept entries, least recently used first."""
        return list(self._entries.values())

    def best(self, tokens: Sequence[int]) -> tuple[CacheEntry | None, int]:
        """The entry sharing the longest prefix with `tokens`, and that length; (None, 0) when none shares
        any. Ties go to the most recently used entry. Does not count as a use (see `touch`)."""
        found: CacheEntry | None = None
        longest = 0
        for entry in reversed(self._entries.values()):  # most recent first: it wins ties
            shared = common_prefix(entry.tokens, tokens)
            if shared > longest:
                found, longest = entry, shared
        return found, longest

    def covers(self, tokens: Sequence[int]) -> bool:
        """Whether some entry holds `tokens` or a longer sequence they begin (saving them gains nothing)."""
        return any(
            len(entry.tokens) >= len(tokens) and common_prefix(entry.tokens, tokens) == len(tokens)
            for entry in self._entries.values()
        )

    def touch(self, entry: CacheEntry) -> None:
        """Mark `entry` as just used, so that it is evicted last."""
        if self._entries.get(entry.tokens) is entry:
            self._entries.move_to_end(entry.tokens)

    def save(
        self, tokens: Sequence[int], state: object, size: int, classes: bytes = b""
    ) -> CacheEntry | None:
        """Keep `state` for `tokens` as the most recently used entry, evicting least recently used ones
        until the budget holds it. Returns the entry, or None when it alone exceeds the budget."""
        if size > self.budget or not tokens:
            return None
        key = tuple(tokens)
        for other in list(self._entries.values()):  # prefixes of the new entry (and itself) are redundant
            if len(other.tokens) <= len(key) and key[: len(other.tokens)] == other.tokens:
                self._remove(other)
        while self._entries and self._bytes + size > self.budget:
            self._remove(next(iter(self._entries.values())))
        entry = CacheEntry(key, state, size, classes)
        self._entries[key] = entry
        self._bytes += size
        return entry

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _remove(self, entry: CacheEntry) -> None:
        del self._entries[entry.tokens]
        self._bytes -= entry.size
