"""Tool calling, as the request asks for it: `tools` and `tool_choice` checked into a backend-neutral
ToolChoice constraint. How a backend gets its model to call (the logits path's `<tool_call>` text format
under a grammar, an upstream's native `tools`) is the backend's business; calls come back as events."""

from __future__ import annotations

from typing import Any

from omnivox.chat.structured import NAME
from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema, Tool, ToolChoice


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
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(
            "A function name is 1-64 letters, digits, underscores or dashes.", param=f"{path}.function.name"
        )
    parameters = function.get("parameters") or {"type": "object", "properties": {}}
    if not isinstance(parameters, dict):
        raise InvalidRequest("A JSON schema must be an object.", param=f"{path}.function.parameters")
    description = function.get("description") or ""
    return Tool(name, str(description), parameters)


def plan_tools(
    tools: list[dict[str, Any]] | None,
    choice: str | dict[str, Any] | None,
    parallel: bool,
    answer: JsonSchema | None = None,
) -> ToolChoice | None:
    """Check `tools` and `tool_choice`; None when the model must not call (no tools, or `none`).
    `answer`: what an answer that calls nothing must follow (the request's `response_format`)."""
    if not tools:
        if choice is not None:
            raise InvalidRequest(
                "`tool_choice` is only allowed when `tools` are specified.", param="tool_choice"
            )
        return None
    declared = [_tool(entry, f"tools[{i}]") for i, entry in enumerate(tools)]
    names = [t.name for t in declared]
    if len(set(names)) != len(names):
        raise InvalidRequest("Function names must be unique.", param="tools")
    mode = "auto" if choice is None else choice
    if isinstance(mode, dict):
        name = (mode.get("function") or {}).get("name") if mode.get("type") == "function" else None
        if name not in names:
            raise InvalidRequest(f"`tool_choice` names no declared function ({name!r}).", param="tool_choice")
        chosen = tuple(t for t in declared if t.name == name)
        return ToolChoice(chosen, "required", parallel=False, function=name, answer=answer)
    if mode == "none":
        return None
    if mode == "auto":
        return ToolChoice(tuple(declared), "auto", parallel, answer=answer)
    if mode == "required":
        return ToolChoice(tuple(declared), "required", parallel, answer=answer)
    raise InvalidRequest(f"Invalid `tool_choice` {mode!r}.", param="tool_choice")
