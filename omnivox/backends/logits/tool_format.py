"""The logits backend's tool-call format: the tools are described to the model in the system message,
and its calls are constrained by a grammar so that every call names a declared function and its
arguments validate against that function's schema.

The model writes `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, one block a call; the text is
turned into ToolCallStart / ToolCallArguments events as it is generated (`calls_from_text`), once, on the
worker. `tool_choice`:
- `auto`: free text or calls (the grammar allows either; text may not start with `<`);
- `required`: one call or more; a named function: one call of that function.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from omnivox.backends.logits.structured import JSON_OBJECT, schema_rule
from omnivox.runtimes.chat_model import Tool, ToolChoice
from omnivox.runtimes.events import Event, Finished, TextDelta, ToolCallArguments, ToolCallStart

OPEN, CLOSE = "<tool_call>", "</tool_call>"
#: Parallel calls in one answer at most: unbounded, SmolLM2 at temperature 0 repeats the same call until
#: the token limit.
MAX_CALLS = 4


def calls_grammar(choice: ToolChoice) -> str:
    """The grammar (llguidance Lark) of the answer: one call is `<tool_call>`, the JSON of a declared
    function's call (its arguments valid against its parameters, a schema of their own, in which `$ref`s
    resolve), `</tool_call>`; under `auto`, an answer instead: free text that does not start with `<`, or,
    when a `response_format` came with the tools (and is enforced), JSON that validates against it: one
    grammar for both."""
    rules = []
    for i, tool in enumerate(choice.tools):
        head = json.dumps(f'{OPEN}{{"name": {json.dumps(tool.name)}, "arguments": ')
        rules += [f"call_{i}: {head} args_{i} {json.dumps('}' + CLOSE)}"]
        rules += [schema_rule(f"args_{i}", dict(tool.parameters), "tools", where=f"{tool.name}.parameters")]
    rules.append("call: " + " | ".join(f"call_{i}" for i in range(len(choice.tools))))
    rules.append(f'calls: call ("\\n" call){{0,{MAX_CALLS - 1}}}' if choice.parallel else "calls: call")
    answer = choice.answer if choice.mode == "auto" else None
    if choice.mode == "required":
        rules.append("start: calls")
    elif answer is not None and answer.enforced:
        rules += [
            "start: calls | answer",
            schema_rule("answer", dict(answer.schema or JSON_OBJECT), answer.param),
        ]
    else:
        rules += ["start: calls | text", r"text: /[^<\x00][^\x00]*/"]
    return "\n".join(rules)


def instructions(choice: ToolChoice) -> str:
    """The tools described for the system message; and the answer's format, when one was asked for."""
    described = _instructions(choice.tools, mode=choice.mode)
    if choice.answer is not None and choice.mode == "auto":
        described += f" When you answer instead, {_lowered(choice.answer.instructions())}"
    return described


def _lowered(text: str) -> str:
    return text[:1].lower() + text[1:]


def _instructions(tools: Sequence[Tool], *, mode: str) -> str:
    listing = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": dict(t.parameters)} for t in tools]
    )
    must = "You must call a function." if mode != "auto" else "Call a function when it helps; else answer."
    return (
        f"You can call these functions: {listing}\n{must} To call one, write "
        f'{OPEN}{{"name": <function name>, "arguments": <arguments object>}}{CLOSE}.'
    )


def render_calls(tool_calls: Sequence[dict[str, Any]]) -> str:
    """An earlier assistant turn's calls, as the model writes them (for templates that know no tools)."""
    blocks = []
    for call in tool_calls:
        function = call.get("function") or {}
        arguments = function.get("arguments") or "{}"
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except json.JSONDecodeError:
            parsed = arguments
        blocks.append(f"{OPEN}{json.dumps({'name': function.get('name'), 'arguments': parsed})}{CLOSE}")
    return "\n".join(blocks)


@dataclass(frozen=True, slots=True)
class TextOut:
    text: str


@dataclass(frozen=True, slots=True)
class CallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ArgumentsOut:
    index: int
    fragment: str


StreamItem = TextOut | CallStart | ArgumentsOut
_HEAD = re.compile(r'^\s*\{\s*"name"\s*:\s*"([^"\\]*)"\s*,\s*"arguments"\s*:\s*')


class CallStreamer:
    """Text deltas of an answer that may call tools -> text, or call headers then argument fragments as
    they are generated. The model writes either text or calls (the grammar sees to it)."""

    def __init__(self) -> None:
        self._buffer = ""
        self._mode = ""  # "", "text" or "calls"
        self._state = "between"  # calls: between, head, args, tail
        self._index = -1
        self._depth = 0
        self._in_string = self._escaped = False

    def feed(self, text: str) -> list[StreamItem]:
        if self._mode == "text":
            return [TextOut(text)] if text else []
        self._buffer += text
        if not self._mode:
            start = self._buffer.lstrip()
            if start.startswith(OPEN):
                self._mode = "calls"
            elif OPEN.startswith(start):
                return []
            else:
                self._mode, out, self._buffer = "text", self._buffer, ""
                return [TextOut(out)]
        return self._calls()

    def finish(self) -> list[StreamItem]:
        if not self._mode and self._buffer:
            return [TextOut(self._buffer)]
        return []

    def _calls(self) -> list[StreamItem]:
        out: list[StreamItem] = []
        while True:
            if self._state == "between":
                found = self._buffer.find(OPEN)
                if found < 0:
                    return out
                self._buffer, self._state = self._buffer[found + len(OPEN) :], "head"
            elif self._state == "head":
                match = _HEAD.match(self._buffer)
                if match is None:
                    return out
                self._index += 1
                out.append(CallStart(self._index, f"call_{secrets.token_hex(12)}", match.group(1)))
                self._buffer, self._state, self._depth = self._buffer[match.end() :], "args", 0
            elif self._state == "args":
                if self._depth == 0:  # before the value: spaces that may follow the colon
                    self._buffer = self._buffer.lstrip()
                    if not self._buffer:
                        return out
                end = self._scan()
                fragment, self._buffer = self._buffer[:end], self._buffer[end:]
                if fragment:
                    out.append(ArgumentsOut(self._index, fragment))
                if self._state == "args":
                    return out
            else:  # tail: the call's closing brace and tag
                found = self._buffer.find(CLOSE)
                if found < 0:
                    return out
                self._buffer, self._state = self._buffer[found + len(CLOSE) :], "between"

    def _scan(self) -> int:
        """How much of the buffer belongs to the arguments value; moves to `tail` at its end."""
        for i, char in enumerate(self._buffer):
            if self._in_string:
                self._escaped, self._in_string = (
                    (False, True) if self._escaped else (char == "\\", char != '"')
                )
                continue
            if char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
                if self._depth == 0:
                    self._state = "tail"
                    return i + 1
        return len(self._buffer)


def calls_from_text(events: Iterator[Event]) -> Iterator[Event]:
    """The events of an answer that may call tools: each choice's text deltas pass through a CallStreamer,
    so calls come out as ToolCallStart / ToolCallArguments, and a choice that called finishes with
    `tool_calls`. Text that is plainly text keeps its logprobs; OpenAI reports none for tool calls."""
    streamers: dict[int, CallStreamer] = {}
    called: set[int] = set()
    for event in events:
        if isinstance(event, TextDelta):
            items = streamers.setdefault(event.index, CallStreamer()).feed(event.text)
            if items == [TextOut(event.text)]:
                yield event  # plain text, passed on with its logprobs
            else:
                yield from _events(event.index, items, called)
        elif isinstance(event, Finished):
            streamer = streamers.setdefault(event.index, CallStreamer())
            yield from _events(event.index, streamer.finish(), called)
            yield _finished(event, event.index in called)
        else:
            yield event


def _finished(event: Finished, called: bool) -> Finished:
    """A choice that called ends with `tool_calls`, unless the token limit cut it (`length`, as OpenAI
    says): then its last call's arguments are the fragment written so far, streamed or not."""
    return Finished(event.index, "tool_calls") if called and event.reason != "length" else event


def _events(index: int, items: list[StreamItem], called: set[int]) -> Iterator[Event]:
    for item in items:
        if isinstance(item, TextOut):
            yield TextDelta(index, item.text)
        elif isinstance(item, CallStart):
            called.add(index)
            yield ToolCallStart(index, item.index, item.id, item.name)
        else:
            yield ToolCallArguments(index, item.index, item.fragment)
