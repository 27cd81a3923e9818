"""A transcript written the way its typed twin would be: what a chat model reads for a spoken question.

Whisper writes small numbers as digits ("What is 2 plus 2?"), often ends a question heard from a
flat synthetic voice with a period or nothing ("which season comes after winter."), and sometimes starts
in lower case. A small model answers such text differently from the question typed (docs/audio-input.md),
so in an English transcript, before the words reach it: numbers from zero to ten standing alone become
words (as people type them, and as style guides write them), a question that starts with a question
word ends with "?", and the first letter is a capital. Only the chat model's text changes:
/v1/audio/transcriptions returns what Whisper wrote.
"""

from __future__ import annotations

import re

_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
#: A whole number from 0 to 10 that is not part of a decimal, a time, a sum, a percentage, an ordinal or
#: a longer number ("2.5", "7:45", "$5", "5%", "3rd", "1,000", "10-4").
_SMALL_NUMBER = re.compile(r"(?<![\w$£€¥.,:/#-])(10|\d)(?![\w%°$£€/:-]|[.,]\d)")
_QUESTION_WORDS = frozenset(
    (
        *("what", "which", "who", "whom", "whose", "where", "when", "why", "how"),
        *("is", "are", "was", "were", "do", "does", "did", "can", "could", "will", "would", "should"),
        *("shall", "may", "might", "must", "have", "has", "had", "am", "isn't", "aren't", "don't"),
        *("doesn't", "didn't", "can't", "won't"),
    )
)
#: The question word may follow a preposition: "At what temperature...", "On which continent...".
_PREPOSITIONS = frozenset(("at", "on", "in", "to", "from", "for", "with", "of", "by", "and", "so"))


def as_typed(text: str) -> str:
    """`text` (one English transcript) with small numbers in words, a question's mark, and a capital."""
    text = _SMALL_NUMBER.sub(lambda m: _SMALL[int(m.group(1))], text.strip())
    if _is_question(text) and not text.endswith("?"):
        text = text.rstrip(" .!?,;:") + "?"
    return text[:1].upper() + text[1:]


def _is_question(text: str) -> bool:
    body = text.rstrip(" .!?,;:")
    if re.search(r"[.!?]\s", body):
        return False  # several sentences: Whisper's punctuation stays
    words = re.findall(r"[a-z']+", body.lower())[:2]
    if not words:
        return False
    first = words[1] if words[0] in _PREPOSITIONS and len(words) > 1 else words[0]
    return text.endswith("?") or first in _QUESTION_WORDS
