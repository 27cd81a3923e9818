from __future__ import annotations

import pytest

from omnivox.sampling.text import StopMatcher, Utf8Assembler


def _run(stops: list[str], pieces: list[str]) -> tuple[list[str], bool]:
    matcher = StopMatcher(stops)
    out = [matcher.feed(p) for p in pieces]
    out.append(matcher.flush())
    return [o for o in out if o], matcher.stopped


def test_stop_split_across_pieces_is_found_and_not_emitted() -> None:
    out, stopped = _run(["END"], ["Hello E", "N", "D and more"])
    assert "".join(out) == "Hello " and stopped


def test_only_a_possible_stop_prefix_is_held_back() -> None:
    matcher = StopMatcher(["###"])
    assert matcher.feed("abc#") == "abc"
    assert matcher.feed("x") == "#x"  # the held '#' turned out not to start a stop
    assert matcher.feed("##") == ""
    assert matcher.flush() == "##"
    assert not matcher.stopped


def test_earliest_of_several_stops_wins() -> None:
    out, stopped = _run(["world", "lo w"], ["hello world"])
    assert "".join(out) == "hel" and stopped


def test_no_stops_passes_everything_through() -> None:
    matcher = StopMatcher([])
    assert matcher.feed("anything") == "anything"
    assert matcher.flush() == ""


def test_nothing_after_a_stop() -> None:
    matcher = StopMatcher(["."])
    assert matcher.feed("One. Two.") == "One"
    assert matcher.feed("more") == ""
    assert matcher.flush() == ""


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
