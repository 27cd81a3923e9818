"""Structured outputs: `response_format` -> a backend-neutral JsonSchema constraint (or None for free
text). Each backend compiles it its own way (omnivox.backends.logits.structured: an llguidance grammar)."""

from __future__ import annotations

import re
from typing import Any

from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema, OutputConstraint

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What OpenAI accepts as the name of a schema or a function."""

SCHEMA_PARAM = "response_format.json_schema.schema"


def response_constraint(response_format: dict[str, Any] | None, enforced: bool = True) -> JsonSchema | None:
    """The constraint a `response_format` asks for; None for plain text. `enforced` False
    (`structured_outputs: false`): the schema is asked for in the prompt, not enforced by grammar."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return JsonSchema(None, param="response_format", enforced=enforced)
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
    strict = strict if isinstance(strict, bool) else None
    return JsonSchema(schema, name, strict, SCHEMA_PARAM, enforced)


_NESTING = ("items", "prefixItems", "additionalProperties")
_ALTERNATIVES = ("anyOf", "oneOf", "allOf", "not")


def measure_schema(schema: Any, limits: RequestLimits, param: str) -> None:
    """Refuse a schema above the limits before any backend works on it: conversion, grammar parsing and
    the cost of constraining each token all grow with its size (a 20,000-value enum took 32 s)."""
    properties = enums = deepest = 0
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, list):
            stack.extend((item, depth) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        deepest = max(deepest, depth)
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                properties += len(value) if key == "properties" else 0
                stack.extend((sub, depth + (key == "properties")) for sub in value.values())
            elif key == "enum" and isinstance(value, list):
                enums += len(value)
            elif key in _NESTING or key in _ALTERNATIVES:
                stack.append((value, depth + (key in _NESTING)))
    for what, count, limit in (
        ("object properties", properties, limits.max_schema_properties),
        ("enum values", enums, limits.max_schema_enum_values),
        ("levels of nesting", deepest, limits.max_schema_depth),
    ):
        if count > limit:
            raise InvalidRequest(
                f"This JSON schema has {count} {what}; at most {limit} are allowed.", param=param
            )


def measure_constraint(constraint: OutputConstraint | None, limits: RequestLimits) -> None:
    """The schema limits on a response_format schema, or on all the tools' parameters together."""
    if isinstance(constraint, JsonSchema):
        if constraint.schema is not None:
            measure_schema(constraint.schema, limits, constraint.param)
    elif constraint is not None:
        measure_schema({"anyOf": [dict(t.parameters) for t in constraint.tools]}, limits, "tools")
        measure_constraint(constraint.answer, limits)
