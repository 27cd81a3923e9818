"""Structured outputs: a JSON schema (or "any JSON object") -> a GBNF grammar that constrains decoding,
so the output parses, and validates, by construction. The conversion is llama.cpp's own JSON-schema-to-
grammar converter (shipped in llama-cpp-python); grammars are cached per schema."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

#: Keywords the grammar enforces; a schema using any other constraint cannot be honoured (400), rather
#: than have it silently ignored.
ENFORCED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems"}
    | {"enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "pattern", "format"}
    | {"minLength", "maxLength"}
)
#: Keywords that only describe (no constraint on the output).
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$schema", "$id", "$comment", "strict"}
)
FORMATS = frozenset({"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"})
#: The largest count `minLength`, `maxLength`, `minItems` and `maxItems` may give. The converter writes a
#: count out as that many grammar items (a maximum as that many nested optional groups): llama.cpp refuses
#: to parse beyond about a thousand nested groups, crashes (stack overflow) on tens of thousands, and a
#: count of billions exhausts memory while the grammar is being written.
MAX_REPETITIONS = 1000
_REPETITIONS = ("minLength", "maxLength", "minItems", "maxItems")
#: JSON forbids raw control characters in strings; the converter's `char` rule allowed them.
_CHAR_RULE = r'char ::= [^"\\]'
_STRICT_CHAR_RULE = r'char ::= [^"\\\x7F\x00-\x1F]'


@functools.lru_cache(maxsize=256)
def _grammar(schema_json: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    grammar = str(json_schema_to_gbnf(schema_json))
    return grammar.replace(_CHAR_RULE, _STRICT_CHAR_RULE)


def _audit(schema: Any, where: str) -> None:
    """Refuse constraints the grammar would not enforce, naming where they are."""
    if isinstance(schema, list):
        for i, item in enumerate(schema):
            _audit(item, f"{where}[{i}]")
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions"):
            for name, sub in (value or {}).items():
                _audit(sub, f"{where}.{key}.{name}")
        elif key not in ENFORCED | ANNOTATIONS:
            raise ValueError(f"`{key}` at {where} is not supported in structured outputs here")
        elif key in ("items", "prefixItems", "anyOf", "oneOf", "allOf", "additionalProperties"):
            _audit(value, f"{where}.{key}")
    for key in _REPETITIONS:
        count = schema.get(key, 0)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPETITIONS:
            raise ValueError(f"`{key}` at {where} must be an integer from 0 to {MAX_REPETITIONS}")
    if "format" in schema and schema["format"] not in FORMATS:
        raise ValueError(f"format {schema['format']!r} at {where} is not supported here")
    string_rules = [k for k in ("pattern", "format", "minLength") if k in schema] + (
        ["maxLength"] if "maxLength" in schema and "minLength" not in schema else []
    )
    if len(string_rules) > 1:
        raise ValueError(f"{' and '.join(string_rules)} together at {where} are not supported here")


_NESTING = ("items", "prefixItems", "additionalProperties")
_ALTERNATIVES = ("anyOf", "oneOf", "allOf", "not")


def _measure(schema: Any, limits: RequestLimits, param: str) -> None:
    """Refuse a schema above the limits before converting it: conversion, grammar parsing and the cost of
    constraining each token all grow with its size (a 20,000-value enum took 32 s to prepare)."""
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


DEFAULT_LIMITS = RequestLimits()


def schema_grammar(schema: Any, *, param: str, limits: RequestLimits = DEFAULT_LIMITS) -> str:
    """The grammar of `schema`; a schema the converter cannot honour, or one above `limits`, is a 400
    naming `param`."""
    if not isinstance(schema, dict):
        raise InvalidRequest("A JSON schema must be an object.", param=param)
    _measure(schema, limits, param)
    if "$ref" in schema:  # the converter resolves references below the root only: same meaning via allOf
        schema = {k: v for k, v in schema.items() if k != "$ref"} | {"allOf": [{"$ref": schema["$ref"]}]}
    try:
        _audit(schema, "schema")
        grammar = _grammar(json.dumps(schema))  # property order is kept: the output follows it
    except (AssertionError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise InvalidRequest(f"This JSON schema cannot be honoured: {exc}", param=param) from None
    if len(grammar) > limits.max_grammar_bytes:
        raise InvalidRequest(
            f"This JSON schema compiles into a grammar of {len(grammar)} bytes; at most "
            f"{limits.max_grammar_bytes} are allowed (fewer properties, enum values or shorter repetitions).",
            param=param,
        )
    return grammar


JSON_OBJECT = {"type": "object"}


def response_grammar(response_format: dict[str, Any] | None, limits: RequestLimits) -> str | None:
    """The grammar a `response_format` asks for; None for plain text."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return schema_grammar(JSON_OBJECT, param="response_format", limits=limits)
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
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidRequest(
            "`name` must be 1-64 letters, digits, underscores or dashes.",
            param="response_format.json_schema.name",
        )
    schema = spec.get("schema", {"type": "object"})
    return schema_grammar(schema, param="response_format.json_schema.schema", limits=limits)
