"""What one chat request may ask to have prepared, checked before the work it would cause: the body's JSON
values bounded by counting bytes before it is parsed (parsing 31 MB of tiny values held the interpreter
1.5-7.7 s, measured), then messages, content parts and tools counted in the plain JSON before it is
validated into wire types (about 6 us a part). Schema sizes are measured where schemas are compiled
(omnivox.chat.structured)."""

from __future__ import annotations

from typing import Any

from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest

_STRUCTURAL = (b",", b"{", b"[")


def check_values(raw: bytes, limits: RequestLimits) -> None:
    """Refuse a body that may hold more JSON values than allowed: commas, braces and brackets bound the
    number of values (from above: those inside strings count too), at memchr speed (~0.1 s for 32 MB)."""
    count = 0
    for byte in _STRUCTURAL:
        count += raw.count(byte)
        if count > limits.max_json_values:
            raise InvalidRequest(
                f"The request body holds more than {limits.max_json_values} JSON values (counted as its "
                "commas, braces and brackets).",
                code="request_too_complex",
            )


def check_counts(body: Any, limits: RequestLimits) -> None:
    """Refuse a body above the count limits; anything malformed is left to validation."""
    if not isinstance(body, dict):
        return
    messages = body.get("messages")
    if isinstance(messages, list) and len(messages) > limits.max_messages:
        raise InvalidRequest(
            f"At most {limits.max_messages} messages are allowed; got {len(messages)}.", param="messages"
        )
    parts = 0
    for i, message in enumerate(messages if isinstance(messages, list) else ()):
        content = message.get("content") if isinstance(message, dict) else None
        parts += len(content) if isinstance(content, list) else 0
        if parts > limits.max_content_parts:
            raise InvalidRequest(
                f"At most {limits.max_content_parts} content parts are allowed in one request, all messages "
                "together.",
                param=f"messages[{i}].content",
            )
    tools = body.get("tools")
    if isinstance(tools, list) and len(tools) > limits.max_tools:
        raise InvalidRequest(
            f"At most {limits.max_tools} tools are allowed; got {len(tools)}.", param="tools"
        )
