"""From sampled tokens to the text the client sees: UTF-8 reassembly across tokens and stop strings.

Stop strings are matched on decoded text, so a stop split across tokens is found; it is never emitted.
While streaming, only a tail that could still grow into a stop string is held back.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class Utf8Assembler:
    """Token bytes in, complete characters out (a character may span several tokens)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, data: bytes) -> str:
        return self._decoder.decode(data)

    def finish(self) -> str:
        return self._decoder.decode(b"", final=True)


class StopMatcher:
    """Finds the first occurrence of any stop string in a growing text."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""  # text not yet released: may be the start of a stop string
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add `text`; return what is now safe to emit. After a stop string is found, `stopped` is True
        and everything from it on is dropped."""
        if self.stopped:
            return ""
        buffer = self._pending + text
        cut = self._first_stop(buffer)
        if cut is not None:
            self.stopped = True
            self._pending = ""
            return buffer[:cut]
        keep = self._held_tail(buffer)
        self._pending = buffer[len(buffer) - keep :] if keep else ""
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """At the end of generation: release what was held back."""
        released, self._pending = self._pending, ""
        return "" if self.stopped else released

    def _first_stop(self, buffer: str) -> int | None:
        positions = [i for i in (buffer.find(s) for s in self._stops) if i >= 0]
        return min(positions) if positions else None

    def _held_tail(self, buffer: str) -> int:
        """Length of the longest suffix of `buffer` that is a proper prefix of some stop string."""
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest
