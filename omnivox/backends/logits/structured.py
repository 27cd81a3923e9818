"""The logits backend's structured outputs: a JSON schema (or "any JSON object") -> a grammar that
constrains decoding, so the output parses, and validates, by construction.

The grammar is llguidance's Lark dialect with each schema embedded as a rule (`name: %json {...}`);
llguidance compiles the schema itself, every keyword of OpenAI's strict mode included: number bounds and
`multipleOf`, string `pattern`, `format` and lengths, array lengths, `anyOf`, `$defs` and recursion. A
schema is checked here first: a keyword the grammar would not enforce is refused (a 400 that names where
it is), never ignored. A schema's `$ref`s resolve within that schema (each tool's parameters are their own
document). Compiled grammars are cached per text, here (the check) and per model (the matcher)."""

from __future__ import annotations

import json
from typing import Any

from omnivox.backends.guidance import compile_error
from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema

#: Keywords the grammar enforces (OpenAI's strict-mode set, plus `oneOf`/`allOf`, `prefixItems` and string
#: lengths, which llguidance enforces too); a schema using any other constraint cannot be honoured (400).
ENFORCED = frozenset(
    {"type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems"}
    | {"enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "pattern", "format"}
    | {"minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
)
#: Keywords that only describe (no constraint on the output).
ANNOTATIONS = frozenset(
    {"title", "description", "default", "examples", "$schema", "$id", "$comment", "strict"}
)
#: OpenAI's string formats, each enforced by llguidance as a regular expression.
FORMATS = frozenset({"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"})
#: The largest count `minLength`, `maxLength`, `minItems` and `maxItems` may give: a count becomes a
#: bounded repetition in the lexer's automaton, whose states grow with it (fuzzing sent 10**12).
MAX_REPETITIONS = 1000
_REPETITIONS = ("minLength", "maxLength", "minItems", "maxItems")
_SUBSCHEMAS = ("items", "prefixItems", "anyOf", "oneOf", "allOf", "additionalProperties")
#: How the JSON is written: compact, with one space after `:` and `,` (as json.dumps). No free whitespace,
#: which a small model would fill with newlines for ever.
_STYLE = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


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
        elif key in _SUBSCHEMAS:
            _audit(value, f"{where}.{key}")
    for key in _REPETITIONS:
        count = schema.get(key, 0)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPETITIONS:
            raise ValueError(f"`{key}` at {where} must be an integer from 0 to {MAX_REPETITIONS}")
    if "format" in schema and schema["format"] not in FORMATS:
        raise ValueError(f"format {schema['format']!r} at {where} is not supported here")


#: An integer without bounds may have at most 16 digits (as llama.cpp's converter wrote them): unbounded,
#: a small model writes digits until the token limit (seen: `{"id": 1234567890123...`).
INTEGER_BOUND = 10**16 - 1


def _bounded(schema: Any) -> Any:
    """`schema` with every integer that lacks a lower or upper bound given +-INTEGER_BOUND."""
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    bounded = {
        k: (v if k in ("enum", "const", "default", "examples") else _bounded(v)) for k, v in schema.items()
    }
    kind = schema.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        if "minimum" not in schema and "exclusiveMinimum" not in schema:
            bounded["minimum"] = -INTEGER_BOUND
        if "maximum" not in schema and "exclusiveMaximum" not in schema:
            bounded["maximum"] = INTEGER_BOUND
    return bounded


def schema_rule(name: str, schema: Any, param: str, where: str = "schema") -> str:
    """The rule `name: %json {...}` of a schema that compiles; else a 400 naming `param`, and the path in
    the schema (from `where`, its root)."""
    if not isinstance(schema, dict):
        raise InvalidRequest("A JSON schema must be an object.", param=param)
    try:
        _audit(schema, where)
    except ValueError as exc:
        raise InvalidRequest(f"This JSON schema cannot be honoured: {exc}", param=param) from None
    rule = f"{name}: %json {json.dumps({**_bounded(schema), 'x-guidance': _STYLE})}"  # property order kept
    error = compile_error(f"start: {name}\n{rule}")
    if error:
        raise InvalidRequest(f"This JSON schema cannot be honoured: {error} (in {where})", param=param)
    return rule


def schema_grammar(schema: Any, *, param: str) -> str:
    """The grammar of `schema` alone; a schema the grammar cannot honour is a 400 naming `param`."""
    return f"start: answer\n{schema_rule('answer', schema, param)}"


JSON_OBJECT = {"type": "object"}


def constraint_grammar(constraint: JsonSchema) -> str:
    """The grammar of a response_format constraint; a schema it cannot honour is a 400 naming its param."""
    schema = JSON_OBJECT if constraint.schema is None else dict(constraint.schema)
    return schema_grammar(schema, param=constraint.param)
