"""The logits backend's tool-call text format, parsed into events: `calls_from_text` over scripted
generation events (no model), so each case is exact."""

from __future__ import annotations

from collections.abc import Sequence

from omnivox.backends.logits.tool_format import calls_from_text
from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.events import Event, Finished, TextDelta, ToolCallArguments, ToolCallStart

CALL = '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'


def _events(pieces: Sequence[str], reason: FinishReason) -> list[Event]:
    generated: list[Event] = [TextDelta(0, piece) for piece in pieces]
    return list(calls_from_text(iter([*generated, Finished(0, reason)])))


def _arguments(events: list[Event]) -> str:
    return "".join(e.fragment for e in events if isinstance(e, ToolCallArguments))


def test_a_whole_call_finishes_with_tool_calls() -> None:
    events = _events([CALL[:20], CALL[20:50], CALL[50:]], "stop")
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert [s.name for s in starts] == ["get_weather"]
    assert _arguments(events) == '{"city": "Paris"}'
    assert events[-1] == Finished(0, "tool_calls")


def test_a_call_cut_by_the_token_limit_finishes_with_length() -> None:
    cut = CALL[: CALL.index("Paris") + 2]  # ... "arguments": {"city": "Pa
    events = _events([cut[:30], cut[30:]], "length")
    assert [e.name for e in events if isinstance(e, ToolCallStart)] == ["get_weather"]
    assert _arguments(events) == '{"city": "Pa'  # the fragment written so far, as streamed
    assert events[-1] == Finished(0, "length")


def test_a_call_cut_before_its_arguments_is_no_call() -> None:
    events = _events(['<tool_call>{"name": "get_wea'], "length")
    assert not [e for e in events if isinstance(e, ToolCallStart | TextDelta)]
    assert events[-1] == Finished(0, "length")


def test_text_passes_through_with_its_reason() -> None:
    events = _events(["It is ", "sunny."], "length")
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["It is ", "sunny."]
    assert events[-1] == Finished(0, "length")
