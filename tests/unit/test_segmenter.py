"""The segmenter: where text is cut into pieces to speak, and what markup is dropped before speaking."""

from __future__ import annotations

import random

import pytest

from omnivox.synthesis.segmenter import FIRST_WORDS, Segmenter, speakable
from omnivox.synthesis.service import pieces_of


def cut(text: str, sizes: list[int] | None = None, first_words: int | None = None) -> list[str]:
    """The pieces of `text` fed all at once, or in chunks of the given sizes (cycled)."""
    segmenter = Segmenter(first_words=first_words)
    if sizes is None:
        return segmenter.feed(text) + segmenter.flush()
    pieces: list[str] = []
    start = 0
    for size in _cycle(sizes, len(text)):
        pieces += segmenter.feed(text[start : start + size])
        start += size
    return pieces + segmenter.flush()


def _cycle(sizes: list[int], total: int) -> list[int]:
    out: list[int] = []
    while sum(out) < total:
        out.append(sizes[len(out) % len(sizes)])
    return out


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("It costs $29.99 today. Then more.", "$29.99"),
        ("We sold 1,000 units, and 2,500,000 more later on in the year. Good.", "2,500,000"),
        ("Pi is 3.14 or so. Right.", "3.14"),
        ("Then Mr. Smith arrived. He sat.", "Mr. Smith"),
        ("Some words, e.g. this one, are short. Yes.", "e.g. this"),
        ("Mrs. Dr. Prof. Jones, i.e. her, left. Bye.", "Mrs. Dr. Prof. Jones, i.e. her"),
        ("J. R. R. Tolkien wrote it. The end.", "J. R. R. Tolkien wrote it."),
        ("Read https://example.com/a.b?c=1,2&d=3.5#x, a long page with lots of words in it. Ok.", "https://"),
        ("See www.example.org/docs/v1.2/index.html for the whole story. Thanks!", "v1.2/index.html"),
        ("It was 5 p.m. when the U.S. team left. Late.", "5 p.m. when the U.S. team left."),
        ("Version 2.0.1 shipped at 10:30, on time. Done.", "2.0.1 shipped at 10:30"),
    ],
)
def test_numbers_abbreviations_initials_and_urls_stay_whole(text: str, whole: str) -> None:
    pieces = cut(text)
    assert "".join(pieces) == text  # nothing lost, nothing added
    assert any(whole in piece for piece in pieces), pieces
    assert len(pieces) >= 2  # and it was still cut somewhere


def test_sentence_ends_cut() -> None:
    assert cut("Hello there. How are you? Fine! Good.") == [
        "Hello there. ",
        "How are you? ",
        "Fine! ",
        "Good.",
    ]
    assert cut("Wait... what?! Yes.") == ["Wait... ", "what?! ", "Yes."]


def test_line_breaks_cut() -> None:
    assert cut("A title\nFirst line\n\nSecond para") == ["A title\n", "First line\n", "\nSecond para"]
    assert cut("1. First item\n2. Second item") == ["1. First item\n", "2. Second item"]


def test_clause_ends_cut_only_long_pieces() -> None:
    short = "Yes, no; maybe: so."
    assert cut(short) == [short]
    long = "After a long and winding walk along the cliffs, we sat down; then it rained, a lot."
    assert cut(long) == [
        "After a long and winding walk along the cliffs, ",
        "we sat down; then it rained, a lot.",
    ]


def test_nothing_is_cut_before_the_next_character_decides() -> None:
    segmenter = Segmenter()
    assert segmenter.feed("It costs $29.") == []  # "$29.99" or a sentence end?
    assert segmenter.feed("99") == []
    assert segmenter.feed(" total. And") == ["It costs $29.99 total. "]
    assert segmenter.flush() == ["And"]
    assert segmenter.flush() == []


TEXT = (
    "# Plan\n"
    "Mr. Smith paid $29.99 for 1,000 pins, i.e. 3.14 cents each.  That is a lot, e.g. for J. R. R. "
    "Tolkien, who read https://example.com/a.b?c=1,2 daily; or was it twice, at 10:30 am and 5 p.m.?\n"
    "\n"
    "- **Bold** claim:   one.\t Two!\n"
    "1. Item\n"
    "Wait... what?! The U.S. team won, by far the best team of the whole long season, and went home. End"
)


@pytest.mark.parametrize("sizes", [[1], [2], [3], [7], [1, 5, 2, 13], [64]])
def test_pieces_do_not_depend_on_how_the_text_arrives(sizes: list[int]) -> None:
    assert cut(TEXT, sizes) == cut(TEXT)


@pytest.mark.parametrize("first_words", [None, FIRST_WORDS])
def test_pieces_do_not_depend_on_random_chunks(first_words: int | None) -> None:
    rng = random.Random(5)
    for text in (TEXT, *FIRST_PIECES):
        whole = cut(text, first_words=first_words)
        for _ in range(50):
            assert cut(text, [rng.randint(1, 12) for _ in range(8)], first_words) == whole


FIRST_PIECES = {
    # a few words, ending at a phrase boundary: before a word that opens a phrase
    "The capital of France is Paris.": ["The capital of France ", "is Paris."],
    "The largest planet in our solar system is Jupiter. It has moons.": [
        "The largest planet ",
        "in our solar system is Jupiter. ",
        "It has moons.",
    ],
    "Mr. Smith went to the market to buy milk. Then home.": [
        "Mr. Smith went ",
        "to the market to buy milk. ",
        "Then home.",
    ],
    # no boundary within a few words: the sentence is whole
    "It costs $29.99 and that is a lot of money. Yes.": [
        "It costs $29.99 and that is a lot of money. ",
        "Yes.",
    ],
    # the first clause end, however short; then pieces are sentence-sized again
    "Yes, the capital of France is Paris, a city on the Seine. It is big.": [
        "Yes, ",
        "the capital of France is Paris, a city on the Seine. ",
        "It is big.",
    ],
    # a sentence shorter than a first piece is whole
    "Paris. It is the capital.": ["Paris. ", "It is the capital."],
}


@pytest.mark.parametrize("text", FIRST_PIECES)
def test_a_streamed_answer_starts_with_a_short_first_piece(text: str) -> None:
    assert cut(text, first_words=FIRST_WORDS) == FIRST_PIECES[text]
    assert "".join(cut(text)) == text


def test_only_the_first_piece_is_short() -> None:
    assert cut("The capital of France is Paris.") == ["The capital of France is Paris."]
    text = "The capital of France is Paris. The capital of Spain is Madrid."
    assert cut(text, first_words=FIRST_WORDS) == [
        "The capital of France ",
        "is Paris. ",
        "The capital of Spain is Madrid.",
    ]


def test_speakable_drops_markup() -> None:
    assert speakable("**bold** and __strong__, *em* and ~~gone~~") == "bold and strong, em and gone"
    assert speakable("Run `pip install x` or ```code```.") == "Run pip install x or code."
    assert speakable("# Heading\n### Sub heading\ntext") == "Heading\nSub heading\ntext"
    assert speakable("- one\n* two\n+ three\n> quoted") == "one\ntwo\nthree\nquoted"
    assert speakable("See [the docs](https://example.com/docs) now.") == "See the docs now."
    assert speakable("Costs $29.99, 1,000 times - or so.") == "Costs $29.99, 1,000 times - or so."


def test_pieces_of_speaks_clean_text() -> None:
    assert pieces_of("# Title\n**Hello** there. See [this](http://x.y).\n- `one`\n\n") == [
        "Title",
        "Hello there.",
        "See this.",
        "one",
    ]
    assert pieces_of("  \n **  ") == []
