"""The llguidance constraint and the schema grammars, over a byte-level vocabulary (token i is byte i,
token 256 ends generation): every keyword of OpenAI's strict mode takes the values its schema allows and
refuses the others; what the grammar would not enforce is refused before any token."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from llguidance import LLTokenizer, TokenizerWrapper

from omnivox.backends.guidance import GuidanceGrammars, compile_error
from omnivox.backends.logits.structured import schema_grammar
from omnivox.backends.logits.tool_format import calls_grammar
from omnivox.errors import InvalidRequest
from omnivox.runtimes.chat_model import JsonSchema, Tool, ToolChoice

END = 256


class _Bytes:
    eos_token_id, bos_token_id = END, None
    tokens = [bytes([i]) for i in range(256)] + [b""]

    def __call__(self, text: bytes) -> list[int]:
        return list(text)


GRAMMARS = GuidanceGrammars(lambda: LLTokenizer(TokenizerWrapper(_Bytes())), END + 1)


def accepts(grammar: str, text: str) -> bool:
    """Whether the grammar takes `text` whole, token by token, and then allows the end."""
    constraint = GRAMMARS.constrain(grammar)
    for token in text.encode():
        if not constraint.allows(token):
            return False
        constraint.accept(token)
    return constraint.allows(END)


def takes(schema: dict[str, Any], value: Any) -> bool:
    return accepts(schema_grammar(schema, param="p"), json.dumps(value))


I = {"type": "integer"}  # noqa: E741
KEYWORDS: dict[str, tuple[dict[str, Any], list[Any], list[Any]]] = {
    "minimum maximum": ({**I, "minimum": 0, "maximum": 120}, [0, 57, 120], [-1, 121, 1000]),
    "exclusive bounds": ({**I, "exclusiveMinimum": 0, "exclusiveMaximum": 10}, [1, 9], [0, 10]),
    "number bounds": ({"type": "number", "minimum": 0.5, "maximum": 2.5}, [0.5, 1.75, 2.5], [0.4, 2.6]),
    "multipleOf": ({**I, "multipleOf": 5}, [10, -15, 0], [11, 7]),
    "number multipleOf": ({"type": "number", "multipleOf": 0.25}, [1.25, 3], [1.3]),
    "email": ({"type": "string", "format": "email"}, ["a.b@example.com"], ["ab", "a@"]),
    "date-time": ({"type": "string", "format": "date-time"}, ["2024-05-01T10:00:00Z"], ["2024-05-01"]),
    "date": ({"type": "string", "format": "date"}, ["2024-02-29"], ["2024-13-01", "May 1"]),
    "time": ({"type": "string", "format": "time"}, ["10:30:00Z"], ["10h30"]),
    "duration": ({"type": "string", "format": "duration"}, ["P3D", "PT1H30M"], ["3 days"]),
    "hostname": ({"type": "string", "format": "hostname"}, ["api.example.com"], ["-bad-", "a b"]),
    "ipv4": ({"type": "string", "format": "ipv4"}, ["192.168.0.1"], ["192.168.0.300"]),
    "ipv6": ({"type": "string", "format": "ipv6"}, ["::1", "2001:db8::8a2e:370:7334"], ["1.2.3.4"]),
    "uuid": ({"type": "string", "format": "uuid"}, ["123e4567-e89b-12d3-a456-426614174000"], ["123"]),
    "pattern": ({"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}, ["ABC-12"], ["abc-12", "ABC-1"]),
    "pattern with lengths": (
        {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 4},
        ["ab", "abcd"],
        ["a", "abcde", "AB"],
    ),
    "minItems maxItems": (
        {"type": "array", "items": I, "minItems": 1, "maxItems": 2},
        [[1], [1, 2]],
        [[], [1, 2, 3]],
    ),
    "additionalProperties false": (
        {"type": "object", "properties": {"a": I}, "required": ["a"], "additionalProperties": False},
        [{"a": 1}],
        [{"a": 1, "b": 2}, {}],
    ),
    "additionalProperties schema": (
        {"type": "object", "additionalProperties": {**I, "maximum": 9}},
        [{"x": 1, "y": 9}],
        [{"x": 10}, {"x": "1"}],
    ),
    "anyOf": ({"anyOf": [I, {"type": "null"}]}, [3, None], ["3"]),
    "enum root": ({"type": "string", "enum": ["red", "green"]}, ["red"], ["blue"]),
    "const": ({"const": "fixed"}, ["fixed"], ["other"]),
    "$defs recursion": (
        {
            "$defs": {
                "n": {
                    "type": "object",
                    "properties": {"c": {"type": "array", "items": {"$ref": "#/$defs/n"}}},
                }
            },
            "$ref": "#/$defs/n",
        },
        [{"c": [{"c": []}]}],
        [{"c": [1]}],
    ),
    "recursion to the root": (
        {
            "type": "object",
            "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
            "required": ["next"],
        },
        [{"next": {"next": None}}],
        [{"next": 1}],
    ),
}


@pytest.mark.parametrize("name", list(KEYWORDS))
def test_each_keyword_is_enforced(name: str) -> None:
    schema, good, bad = KEYWORDS[name]
    for value in good:
        assert takes(schema, value), value
    for value in bad:
        assert not takes(schema, value), value


def test_the_json_is_compact_with_spaces_after_separators() -> None:
    schema = {
        "type": "object",
        "properties": {"a": I, "b": I},
        "required": ["a", "b"],
        "additionalProperties": False,
    }
    grammar = schema_grammar(schema, param="p")
    assert accepts(grammar, '{"a": 1, "b": 2}')
    assert not accepts(grammar, '{"a":1,"b":2}')
    assert not accepts(grammar, '{\n  "a": 1, "b": 2}')  # no free whitespace for a small model to fill


def test_the_mask_matches_allows_and_opens_the_end_only_when_complete() -> None:
    constraint = GRAMMARS.constrain(schema_grammar({**I, "minimum": 10, "maximum": 19}, param="p"))
    logits = np.zeros(END + 1, dtype=np.float32)
    constraint.mask(logits)
    assert [t for t in range(END + 1) if np.isfinite(logits[t])] == [ord("1")]
    constraint.accept(ord("1"))
    logits[:] = 0
    constraint.mask(logits)
    allowed = [t for t in range(END + 1) if np.isfinite(logits[t])]
    assert allowed == [ord(str(d)) for d in range(10)]  # "1" alone is below the minimum: no end yet
    assert all(constraint.allows(t) == (t in allowed) for t in range(END + 1))
    constraint.accept(ord("5"))
    assert constraint.allows(END)
    with pytest.raises(ValueError):
        constraint.accept(ord("x"))


def test_a_compiled_grammar_is_kept_and_each_choice_gets_its_own_state() -> None:
    grammar = schema_grammar({**I, "maximum": 5}, param="p")
    first, second = GRAMMARS.constrain(grammar), GRAMMARS.constrain(grammar)
    first.accept(ord("3"))
    assert second.allows(ord("4")) and not first.allows(ord("4"))


@pytest.mark.parametrize(
    ("schema", "said"),
    [
        ({"type": "array", "uniqueItems": True}, "`uniqueItems` at schema"),
        ({"type": "object", "properties": {"a": {"not": I}}}, "`not` at schema.properties.a"),
        ({"$defs": {"d": {"type": "string", "format": "uri"}}}, "'uri' at schema.$defs.d"),
        ({"type": "object", "patternProperties": {"^a": I}}, "`patternProperties` at schema"),
        ({"type": "object", "x-guidance": {"whitespace_flexible": True}}, "`x-guidance` at schema"),
        ({"type": "string", "maxLength": 10**12}, "`maxLength` at schema"),
        ({"type": "frobnicate"}, "frobnicate"),
        ({"$ref": "#/$defs/missing"}, "/$defs/missing"),
        ({"type": "string", "pattern": "(a|b"}, "regex"),
        ({**I, "minimum": 5, "maximum": 1}, "schema"),
    ],
)
def test_what_the_grammar_cannot_enforce_is_refused_naming_where(schema: dict[str, Any], said: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        schema_grammar(schema, param="response_format.json_schema.schema")
    assert refused.value.param == "response_format.json_schema.schema"
    assert said in refused.value.message, refused.value.message


PLACE = {
    "type": "object",
    "properties": {"home": {"$ref": "#/$defs/city"}, "work": {"$ref": "#/$defs/city"}},
    "required": ["home", "work"],
    "additionalProperties": False,
    "$defs": {"city": {"type": "string", "enum": ["Oslo", "Rome"]}},
}
AGE = {"type": "object", "properties": {"age": {**I, "minimum": 0, "maximum": 120}}, "required": ["age"]}


def _call(name: str, arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_a_tools_refs_resolve_within_its_own_parameters() -> None:
    tools = (Tool("commute", "", PLACE), Tool("born", "", AGE))
    grammar = calls_grammar(ToolChoice(tools, "required", True))
    assert accepts(grammar, _call("commute", {"home": "Oslo", "work": "Rome"}))
    assert not accepts(grammar, _call("commute", {"home": "Oslo", "work": "Paris"}))
    assert accepts(
        grammar, _call("born", {"age": 44}) + "\n" + _call("commute", {"home": "Rome", "work": "Rome"})
    )
    assert not accepts(grammar, _call("born", {"age": 121}))
    assert not accepts(grammar, _call("other", {}))


def test_auto_takes_text_or_calls_and_a_response_format_replaces_the_text() -> None:
    tools = (Tool("born", "", AGE),)
    free = calls_grammar(ToolChoice(tools, "auto", False))
    assert accepts(free, "Hello there,\nfriend.") and accepts(free, _call("born", {"age": 3}))
    assert not accepts(free, "<b>hi</b>")
    assert not accepts(free, _call("born", {"age": 3}) + "\n" + _call("born", {"age": 4}))  # not parallel
    shaped = calls_grammar(ToolChoice(tools, "auto", False, answer=JsonSchema({"enum": ["yes", "no"]}, "a")))
    assert accepts(shaped, '"yes"') and not accepts(shaped, "yes")


def test_a_tool_schema_refused_names_the_function() -> None:
    tools = (Tool("born", "", {"type": "object", "properties": {"d": {"type": "string", "format": "uri"}}}),)
    with pytest.raises(InvalidRequest) as refused:
        calls_grammar(ToolChoice(tools, "auto", False))
    assert refused.value.param == "tools"
    assert "born.parameters.properties.d" in refused.value.message


def test_compile_errors_are_cached_per_grammar_text() -> None:
    compile_error.cache_clear()
    for _ in range(3):
        schema_grammar({"type": "string", "format": "email", "title": "cached"}, param="p")
    assert compile_error.cache_info().misses == 1 and compile_error.cache_info().hits == 2
