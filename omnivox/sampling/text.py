"""From sampled tokens to the text the client sees: UTF-8 reassembly across tokens and stop strings.

Each token contributes a *piece*: the characters its bytes completed ("" for a token that ends inside a
multi-byte character; the character then belongs to the token that completes it). Pieces concatenate to
the text exactly, so per-token data (logprobs) travels with them and concatenates to the content too.

Stop strings are matched on the text, so a stop split across tokens is found; it is never emitted. Pieces
are released whole once no stop string can start in them; only pieces that could still be the start of
a stop string are held back.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Generic, TypeVar

P = TypeVar("P")


class Utf8Assembler:
    """Token bytes in, complete characters out (a character may span several tokens)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)


class StopFilter(Generic[P]):
    """Holds (piece, payload) pairs until they are known not to start a stop string.

    `push` and `finish` return the pairs now safe to emit. Once a stop string is found, `stopped` is True,
    the piece it starts in is cut before it (and still released if something is left), later ones dropped.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending: list[tuple[str, P]] = []
        self.stopped = False

    def push(self, piece: str, payload: P) -> list[tuple[str, P]]:
        if self.stopped:
            return []
        self._pending.append((piece, payload))
        if not self._stops:
            return self._release(len(self._pending))
        text = "".join(p for p, _ in self._pending)
        cut = self._first_stop(text)
        if cut is not None:
            return self._stop_at(cut)
        safe = len(text) - self._held_tail(text)
        count, end = 0, 0
        for piece_text, _ in self._pending:
            if end + len(piece_text) > safe:
                break
            end += len(piece_text)
            count += 1
        return self._release(count)

    def finish(self) -> list[tuple[str, P]]:
        """At the end of generation: release what was held back."""
        return [] if self.stopped else self._release(len(self._pending))

    def _release(self, count: int) -> list[tuple[str, P]]:
        released, self._pending = self._pending[:count], self._pending[count:]
        return released

    def _stop_at(self, cut: int) -> list[tuple[str, P]]:
        self.stopped = True
        released: list[tuple[str, P]] = []
        start = 0
        for piece, payload in self._pending:
            if start + len(piece) <= cut:
                released.append((piece, payload))
            else:
                if cut > start:
                    released.append((piece[: cut - start], payload))
                break
            start += len(piece)
        self._pending = []
        return released

    def _first_stop(self, text: str) -> int | None:
        positions = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        return min(positions) if positions else None

    def _held_tail(self, text: str) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), longest, -1):
                if text.endswith(stop[:size]):
                    longest = size
                    break
        return longest
