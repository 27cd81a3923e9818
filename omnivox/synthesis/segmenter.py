"""Growing text -> pieces worth speaking as soon as they are complete.

A piece ends at a sentence end (. ! ? followed by a space), a line break, or -- once the piece is long
enough to sound natural alone -- a clause end (, ; : followed by a space). Lookahead keeps numbers whole
("$29.99", "1,000", "3.14" have no space after the mark), and a period after a known abbreviation
("Mr.", "e.g.") or an initial ("J.") does not end a sentence. Markdown markup is not spoken.

A streamed answer starts sooner with a short first piece (`first_words`): its first clause end cuts at any
length, and without one the first piece ends at the first phrase boundary after a few words: before a word
that opens a phrase ("is", "in", "which"), never after one that needs the next ("the", "of") or an
abbreviation ("The capital of France | is Paris.", "The largest planet | in our solar system is
Jupiter."). The voice starts on those words while the model writes the rest of the sentence; later
pieces are sentence-sized again, for natural prosody.
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
#: A streamed answer's first piece holds at least this many words, and ends at a phrase boundary within
#: `FIRST_MAX_WORDS` (else at the first sentence or clause end, as every other piece).
FIRST_WORDS = 3
FIRST_MAX_WORDS = 8
#: Words a first piece does not end on: said last, they sound cut off ("The capital of").
_HANGING = frozenset(
    (
        *("a", "an", "the", "of", "to", "in", "on", "at", "for", "with", "by", "from", "and", "or", "but"),
        *("is", "are", "was", "were", "be", "my", "your", "his", "her", "its", "our", "their", "that"),
        *("this", "these", "those", "as", "than", "into", "about", "if", "so", "not", "no", "very"),
    )
)
#: Words that open a phrase: a first piece may end just before one.
_PHRASE_STARTS = frozenset(
    (
        *("is", "are", "was", "were", "has", "have", "had", "will", "would", "can", "could", "may"),
        *("in", "on", "at", "for", "with", "by", "from", "to", "into", "near", "between", "during"),
        *("which", "who", "where", "when", "while", "because", "but", "since", "after", "before"),
    )
)

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


def _bare(word: str) -> str:
    return word.lower().strip("\"'()[]*_`.,;:!?")


def _next_word(text: str, start: int) -> str | None:
    """The word after the whitespace at `start`; None until whitespace follows it (it may go on)."""
    rest = text[start:]
    stripped = rest.lstrip()
    if not stripped:
        return None
    parts = stripped.split(maxsplit=1)
    return parts[0] if len(parts) == 2 or stripped[-1].isspace() else None


class Segmenter:
    def __init__(self, min_clause_chars: int = MIN_CLAUSE_CHARS, first_words: int | None = None) -> None:
        """`first_words`: the first piece is short (see the module's docstring); None: every piece is cut
        by the same rules."""
        self._buffer = ""
        self._min_clause = min_clause_chars
        self._first_words = first_words
        self._first = first_words is not None

    def feed(self, text: str) -> list[str]:
        """Add generated text; return the pieces now complete (with their trailing whitespace)."""
        self._buffer += text
        pieces = []
        while (cut := self._next_cut()) is not None:
            pieces.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
            self._first = self._first and not pieces[-1].strip()
        return pieces

    def flush(self) -> list[str]:
        """At the end of the text: what is left, if anything."""
        rest, self._buffer = self._buffer, ""
        return [rest] if rest.strip() else []

    def _next_cut(self) -> int | None:
        text = self._buffer
        min_clause = 0 if self._first else self._min_clause
        words = 0
        for i, char in enumerate(text[:-1]):
            after = text[i + 1]
            if char == "\n" and text[:i].strip():
                return i + 1
            if not after.isspace():
                continue
            if char in SENTENCE_END and not (char == "." and self._no_sentence_end(text[:i])):
                return self._with_spaces(i + 1)
            if char in CLAUSE_END and i >= min_clause:
                return self._with_spaces(i + 1)
            if not self._first or char.isspace():
                continue
            words += 1
            if (self._first_words or 0) <= words <= FIRST_MAX_WORDS:
                following = _next_word(text, i + 1)
                if following is None:
                    return None  # the next word decides, and it is not complete yet
                if _bare(following) in _PHRASE_STARTS and self._ends_phrase(text[: i + 1]):
                    return self._with_spaces(i + 1)
        return None

    def _ends_phrase(self, before: str) -> bool:
        """Whether a first piece may end after `before`: not on a word that needs the next one."""
        word = _bare(before.split()[-1])
        return word not in _HANGING and word not in ABBREVIATIONS and not self._no_sentence_end(before)

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
