"""Structured outputs: `response_format` -> a backend-neutral JsonSchema constraint (or None for free
text). Each backend compiles it its own way (omnivox.backends.logits.structured: a GBNF grammar)."""

from __future__ import annotations

import re
from typing import Any

from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What OpenAI accepts as the name of a schema or a function."""

SCHEMA_PARAM = "response_format.json_schema.schema"


def response_constraint(response_format: dict[str, Any] | None) -> JsonSchema | None:
    """The constraint a `response_format` asks for; None for plain text."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonSchema(None, param="response_format")
    if kind != "json_schema":
        raise InvalidRequest(f"Unknown response format type {kind!r}.", param="response_format.type")
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict):
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.",
            param="response_format.json_schema",
            code="missing_required_parameter",
        )
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise InvalidRequest(
            "`name` must be 1-64 letters, digits, underscores or dashes.",
            param="response_format.json_schema.name",
        )
    schema = spec.get("schema", {"type": "object"})
    if not isinstance(schema, dict):
        raise InvalidRequest("A JSON schema must be an object.", param=SCHEMA_PARAM)
    strict = spec.get("strict")
    return JsonSchema(schema, name, strict if isinstance(strict, bool) else None, SCHEMA_PARAM)
