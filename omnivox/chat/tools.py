"""Tool calling: the tools are described to the model, and its calls are constrained by a grammar so that
every call names a declared function and its arguments validate against that function's schema.

The wire format the model writes is `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`, one block a
call; omnivox turns the blocks into OpenAI's `tool_calls`. `tool_choice`:
- `none`: no tools are described, free text;
- `auto`: free text or calls (the grammar allows either; text may not start with `<`);
- `required`: one call or more; a named function: one call of that function.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omnivox.chat.structured import schema_grammar
from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest

OPEN, CLOSE = "<tool_call>", "</tool_call>"
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolPlan:
    tools: tuple[Tool, ...]
    instructions: str  # system text describing the tools and the call format
    grammar: str  # what the model may write


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI sends it


def _tool(entry: Any, path: str) -> Tool:
    if not isinstance(entry, dict) or entry.get("type") != "function":
        raise InvalidRequest("Only tools of type `function` are supported.", param=f"{path}.type")
    function = entry.get("function")
    if not isinstance(function, dict):
        raise InvalidRequest(
            "Missing required parameter: 'function'.",
            param=f"{path}.function",
            code="missing_required_parameter",
        )
    name = function.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(
            "A function name is 1-64 letters, digits, underscores or dashes.", param=f"{path}.function.name"
        )
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    description = function.get("description") or ""
    return Tool(name, str(description), parameters)


def _call_schema(tool: Tool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": tool.parameters},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _grammar(tools: Sequence[Tool], *, mode: str, parallel: bool, limits: RequestLimits) -> str:
    """GBNF: one call is `<tool_call>` + the JSON of a declared function's call + `</tool_call>`."""
    schema = {"anyOf": [_call_schema(t) for t in tools]}
    call_json = schema_grammar(schema, param="tools", limits=limits)
    call_json = re.sub(r"^root ::=", "call-json ::=", call_json, count=1, flags=re.MULTILINE)
    calls = 'call ("\\n" call)*' if parallel else "call"
    rules = [call_json, f'call ::= "{OPEN}" call-json "{CLOSE}"', f"calls ::= {calls}"]
    if mode == "auto":
        rules += ["root ::= calls | text", r"text ::= [^<\x00] [^\x00]*"]
    else:
        rules.append("root ::= calls")
    return "\n".join(rules)


def _instructions(tools: Sequence[Tool], *, mode: str) -> str:
    listing = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools]
    )
    must = "You must call a function." if mode != "auto" else "Call a function when it helps; else answer."
    return (
        f"You can call these functions: {listing}\n{must} To call one, write "
        f'{OPEN}{{"name": <function name>, "arguments": <arguments object>}}{CLOSE}.'
    )


def plan_tools(
    tools: list[dict[str, Any]] | None,
    choice: str | dict[str, Any] | None,
    parallel: bool,
    limits: RequestLimits,
) -> ToolPlan | None:
    """Check `tools` and `tool_choice`; None when the model must not call (no tools, or `none`)."""
    if not tools:
        if choice is not None:
            raise InvalidRequest(
                "`tool_choice` is only allowed when `tools` are specified.", param="tool_choice"
            )
        return None
    if len(tools) > limits.max_tools:
        raise InvalidRequest(
            f"At most {limits.max_tools} tools are allowed; got {len(tools)}.", param="tools"
        )
    declared = [_tool(entry, f"tools[{i}]") for i, entry in enumerate(tools)]
    names = [t.name for t in declared]
    if len(set(names)) != len(names):
        raise InvalidRequest("Function names must be unique.", param="tools")
    mode = "auto" if choice is None else choice
    if isinstance(mode, dict):
        name = (mode.get("function") or {}).get("name") if mode.get("type") == "function" else None
        if name not in names:
            raise InvalidRequest(f"`tool_choice` names no declared function ({name!r}).", param="tool_choice")
        declared, mode, parallel = [t for t in declared if t.name == name], "required", False
    elif mode not in ("none", "auto", "required"):
        raise InvalidRequest(f"Invalid `tool_choice` {mode!r}.", param="tool_choice")
    if mode == "none":
        return None
    grammar = _grammar(declared, mode=mode, parallel=parallel, limits=limits)
    return ToolPlan(tuple(declared), _instructions(declared, mode=mode), grammar)


def parse_calls(text: str) -> list[ToolCall]:
    """The calls the model wrote, arguments as written (none when it answered in text)."""
    streamer = CallStreamer()
    calls: list[ToolCall] = []
    for item in [*streamer.feed(text), *streamer.finish()]:
        if isinstance(item, CallStart):
            calls.append(ToolCall(item.id, item.name, ""))
        elif isinstance(item, ArgumentsOut):
            last = calls[item.index]
            calls[item.index] = ToolCall(last.id, last.name, last.arguments + item.fragment)
    return calls


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
