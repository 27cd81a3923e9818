"""Growing text -> pieces worth speaking as soon as they are complete.

A piece ends at a sentence end (. ! ? followed by a space), a line break, or -- once the piece is long
enough to sound natural alone -- a clause end (, ; : followed by a space). Lookahead keeps numbers whole
("$29.99", "1,000", "3.14" have no space after the mark), and a period after a known abbreviation
("Mr.", "e.g.") or an initial ("J.") does not end a sentence. Markdown markup is not spoken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ABBREVIATIONS = frozenset(
    (
        *("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "a.m", "p.m"),
        *("u.s", "u.k", "no", "fig", "approx", "dept", "est", "inc", "ltd", "co"),
    )
)
SENTENCE_END = ".!?"
CLAUSE_END = ",;:"
#: A clause end only cuts a piece at least this long (short fragments sound choppy spoken alone).
MIN_CLAUSE_CHARS = 40

_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"(\*\*|__|\*|`+|~~)")
_LINE_MARK = re.compile(r"^\s*(#{1,6}\s+|[-*+]\s+|>\s*)", re.MULTILINE)


def speakable(text: str) -> str:
    """`text` without markdown markup: links keep their text, emphasis and code marks go, headings and
    list bullets go."""
    return _MARKUP.sub("", _LINE_MARK.sub("", _LINK.sub(r"\1", text)))


def spoken(pieces: Iterable[str]) -> list[str]:
    """What of each piece is spoken: markup removed, surrounding space stripped, empty pieces dropped."""
    return [text for piece in pieces if (text := speakable(piece).strip())]


class Segmenter:
    def __init__(self, min_clause_chars: int = MIN_CLAUSE_CHARS) -> None:
        self._buffer = ""
        self._min_clause = min_clause_chars

    def feed(self, text: str) -> list[str]:
        """Add generated text; return the pieces now complete (with their trailing whitespace)."""
        self._buffer += text
        pieces = []
        while (cut := self._next_cut()) is not None:
            pieces.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return pieces

    def flush(self) -> list[str]:
        """At the end of the text: what is left, if anything."""
        rest, self._buffer = self._buffer, ""
        return [rest] if rest.strip() else []

    def _next_cut(self) -> int | None:
        text = self._buffer
        for i, char in enumerate(text[:-1]):
            after = text[i + 1]
            if char == "\n" and text[:i].strip():
                return i + 1
            if not after.isspace():
                continue
            if char in SENTENCE_END and not (char == "." and self._no_sentence_end(text[:i])):
                return self._with_spaces(i + 1)
            if char in CLAUSE_END and i >= self._min_clause:
                return self._with_spaces(i + 1)
        return None

    def _with_spaces(self, end: int) -> int | None:
        """Extend a cut over the whitespace after it; None while that whitespace may go on (it reaches the
        end of the buffer), so that the pieces do not depend on how the text was chunked."""
        while end < len(self._buffer) and self._buffer[end] in " \t":
            end += 1
        return end if end < len(self._buffer) else None

    @staticmethod
    def _no_sentence_end(before: str) -> bool:
        words = before.split()
        word = words[-1].lower().lstrip("([\"'") if words else ""
        if word in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return True
        return word.isdigit() and len(words) == 1  # "1. " opening a numbered list item
