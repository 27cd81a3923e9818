from __future__ import annotations

import pytest

from omnivox.sampling.text import StopFilter, Utf8Assembler


def _run(stops: list[str], pieces: list[str]) -> tuple[list[tuple[str, int]], bool]:
    """Feed pieces tagged with their position; return everything released, in order."""
    stop_filter = StopFilter[int](stops)
    out: list[tuple[str, int]] = []
    for i, piece in enumerate(pieces):
        out += stop_filter.push(piece, i)
    out += stop_filter.finish()
    return out, stop_filter.stopped


def test_stop_split_across_pieces_is_found_and_not_emitted() -> None:
    out, stopped = _run(["END"], ["Hello E", "N", "D and more"])
    assert "".join(p for p, _ in out) == "Hello " and stopped
    assert out == [("Hello ", 0)]  # the piece the stop starts in is cut before it


def test_pieces_that_cannot_start_a_stop_are_released_at_once() -> None:
    stop_filter = StopFilter[int](["###"])
    assert stop_filter.push("abc", 0) == [("abc", 0)]
    assert stop_filter.push("d#", 1) == []  # '#' may start '###': the whole piece waits
    assert stop_filter.push("x", 2) == [("d#", 1), ("x", 2)]
    assert stop_filter.push("#", 3) == []
    assert stop_filter.push("#", 4) == []
    assert stop_filter.finish() == [("#", 3), ("#", 4)]
    assert not stop_filter.stopped


def test_earliest_of_several_stops_wins() -> None:
    out, stopped = _run(["world", "lo w"], ["hel", "lo", " world"])
    assert out == [("hel", 0)] and stopped


def test_a_stop_at_the_very_start_of_a_piece_drops_the_piece() -> None:
    out, stopped = _run(["\n\n"], ["one", "\n", "\ntwo"])
    assert out == [("one", 0)] and stopped


def test_no_stops_passes_everything_through() -> None:
    stop_filter = StopFilter[None]([])
    assert stop_filter.push("anything", None) == [("anything", None)]
    assert stop_filter.finish() == []


def test_nothing_after_a_stop() -> None:
    stop_filter = StopFilter[int](["."])
    assert stop_filter.push("One. Two.", 0) == [("One", 0)]
    assert stop_filter.push("more", 1) == []
    assert stop_filter.finish() == []


def test_pieces_concatenate_to_the_text_whatever_the_split() -> None:
    text = "The cost is $29.99. Then STOP here."
    for cut in range(1, 8):
        pieces = [text[i : i + cut] for i in range(0, len(text), cut)]
        out, _ = _run(["STOP"], pieces)
        assert "".join(p for p, _ in out) == "The cost is $29.99. Then "


@pytest.mark.parametrize("text", ["héllo", "日本語", "emoji 🎉 ok"])
def test_utf8_characters_split_across_tokens(text: str) -> None:
    assembler = Utf8Assembler()
    pieces = [assembler.feed(bytes([b])) for b in text.encode()]
    assert "".join(pieces) + assembler.finish() == text
    assert all(p == "" or p.isprintable() for p in pieces)


def test_truncated_character_becomes_replacement_at_finish() -> None:
    assembler = Utf8Assembler()
    assert assembler.feed("é".encode()[:1]) == ""
    assert assembler.finish() == "\ufffd"
