"""The logits backend's structured outputs: a JSON schema (or "any JSON object") -> a GBNF grammar that
constrains decoding, so the output parses, and validates, by construction. The conversion is llama.cpp's
own JSON-schema-to-grammar converter (shipped in llama-cpp-python); grammars are cached per schema."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema

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
def _grammar(named_json: str) -> str:
    """One grammar for `[[rule name, schema], ...]`: each schema becomes the rule of its name ("": root),
    sharing the converter's primitive rules (two schemas' own rules never collide: names are numbered)."""
    from llama_cpp.llama_grammar import SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    for i, (name, schema) in enumerate(json.loads(named_json)):
        converter.visit(converter.resolve_refs(schema, f"schema{i}"), name)
    return str(converter.format_grammar()).replace(_CHAR_RULE, _STRICT_CHAR_RULE)


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


#: The largest grammar a schema may compile into: bounds the parse time and the cost of constraining each
#: token (OpenAI's schema limits, counted before any backend sees a schema, give at most ~330 KiB).
MAX_GRAMMAR_BYTES = 1 << 20


def schema_grammar(schema: Any, *, param: str) -> str:
    """The grammar of `schema`; a schema the converter cannot honour is a 400 naming `param`."""
    return schemas_grammar([("", schema, param)])


def schemas_grammar(named: Sequence[tuple[str, Any, str]]) -> str:
    """One grammar in which each `(rule name, schema, param)` is the rule of that name ("": `root`); a
    schema the converter cannot honour is a 400 naming its `param`."""
    entries = []
    for name, schema, param in named:
        if not isinstance(schema, dict):
            raise InvalidRequest("A JSON schema must be an object.", param=param)
        if "$ref" in schema:  # the converter resolves references below the root only: same via allOf
            schema = {k: v for k, v in schema.items() if k != "$ref"} | {"allOf": [{"$ref": schema["$ref"]}]}
        try:
            _audit(schema, "schema")
        except ValueError as exc:
            raise InvalidRequest(f"This JSON schema cannot be honoured: {exc}", param=param) from None
        entries.append((name, schema))
    param = named[-1][2]
    try:
        grammar = _grammar(json.dumps(entries))  # property order is kept: the output follows it
    except (AssertionError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise InvalidRequest(f"This JSON schema cannot be honoured: {exc}", param=param) from None
    if len(grammar) > MAX_GRAMMAR_BYTES:
        raise InvalidRequest(
            f"This JSON schema compiles into a grammar of {len(grammar)} bytes; at most {MAX_GRAMMAR_BYTES} "
            "are allowed (fewer properties or enum values, or shorter repetitions).",
            param=param,
        )
    return grammar


JSON_OBJECT = {"type": "object"}


def constraint_grammar(constraint: JsonSchema) -> str:
    """The grammar of a response_format constraint; a schema it cannot honour is a 400 naming its param."""
    schema = JSON_OBJECT if constraint.schema is None else dict(constraint.schema)
    return schema_grammar(schema, param=constraint.param)
