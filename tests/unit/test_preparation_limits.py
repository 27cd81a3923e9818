"""The request-preparation limits: counted before any conversion work, refused with the parameter named."""

from __future__ import annotations

from typing import Any

import pytest

from omnivox.backends import guidance
from omnivox.backends.logits.structured import schema_grammar
from omnivox.chat.limits import check_counts, check_values
from omnivox.chat.structured import measure_schema
from omnivox.config import RequestLimits
from omnivox.errors import InvalidRequest

SMALL = RequestLimits(
    max_messages=3,
    max_content_parts=2,
    max_tools=2,
    max_schema_properties=4,
    max_schema_enum_values=5,
    max_schema_depth=3,
)


def _refused(schema: dict[str, Any], limits: RequestLimits = SMALL) -> str:
    with pytest.raises(InvalidRequest) as caught:
        measure_schema(schema, limits, "response_format.json_schema.schema")
    assert caught.value.param == "response_format.json_schema.schema"
    return str(caught.value)


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


def test_properties_are_counted_across_the_whole_schema_including_definitions() -> None:
    place = _object(city={"type": "string"}, zip={"type": "string"})
    schema = _object(home={"$ref": "#/$defs/place"}, work={"$ref": "#/$defs/place"}) | {
        "$defs": {"place": place}
    }
    larger = schema | {"properties": {**schema["properties"], "x": {"type": "string"}}}
    assert "5 object properties; at most 4" in _refused(larger)
    measure_schema(schema, SMALL, "p")  # 2 + 2 properties: at the limit


def test_enum_values_of_every_enum_count_together() -> None:
    three = {"type": "string", "enum": ["a", "b", "c"]}
    message = _refused(_object(x=three, y=three))
    assert "6 enum values" in message and "at most 5" in message
    measure_schema(_object(x=three), SMALL, "p")


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    deep = _object(a=_object(b=_object(c={"type": "string"})))  # string at level 4
    assert "4 levels of nesting" in _refused(deep)
    items = {
        "type": "array",
        "items": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
    }
    assert "4 levels of nesting" in _refused(items)


def test_a_schema_whose_grammar_would_be_too_large_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    long_strings = _object(a={"type": "string", "maxLength": 900})
    assert schema_grammar(long_strings, param="p")  # the default limits allow it
    monkeypatch.setitem(guidance.LIMITS, "max_grammar_size", 20)
    with pytest.raises(InvalidRequest, match="cannot be honoured") as refused:
        schema_grammar(long_strings | {"title": "another"}, param="p")
    assert refused.value.param == "p"


def _param_refused(body: dict[str, Any]) -> str | None:
    with pytest.raises(InvalidRequest) as caught:
        check_counts(body, SMALL)
    return caught.value.param


def test_messages_parts_and_tools_are_counted_before_validation() -> None:
    one = {"role": "user", "content": "a"}
    assert _param_refused({"messages": [one] * 4}) == "messages"
    parts = {"role": "user", "content": [{"type": "text", "text": "a"}] * 2}
    assert _param_refused({"messages": [one, parts, parts]}) == "messages[2].content"  # 4 parts in all
    tools = [{"type": "function", "function": {"name": f"f{i}"}} for i in range(3)]
    assert _param_refused({"messages": [one], "tools": tools}) == "tools"
    check_counts({"messages": [one, parts, one], "tools": tools[:2]}, SMALL)  # at the limits
    check_counts({"messages": "not a list", "tools": {}}, SMALL)  # malformed: left to validation


def test_a_body_is_refused_by_counting_its_structural_bytes_before_parsing() -> None:
    limits = RequestLimits(max_json_values=1000)
    check_values(b'{"messages": [' + b"[]," * 332 + b"[]]}", limits)  # 333 + 333 + 1 + 1 bytes
    with pytest.raises(InvalidRequest) as caught:
        check_values(b'{"x": [' + b"[]," * 600 + b"[]]}", limits)
    assert caught.value.code == "request_too_complex"
    check_values(b'{"data": "' + b"QUJD" * 100_000 + b'"}', limits)  # base64 has no structural bytes
