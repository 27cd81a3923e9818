"""Structured outputs on the real SmolLM2: whatever the model would say, the output parses and validates,
because decoding is constrained by a grammar compiled from the schema (llguidance)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from omnivox.api.app import create_app
from omnivox.config import load_settings
from tests.support.chat import completion
from tests.support.openapi import validate
from tests.support.server import live_server

pytestmark = [pytest.mark.model, pytest.mark.sdk]

S = {"type": "string", "maxLength": 24}
N = {"type": "number"}
I = {"type": "integer"}  # noqa: E741
NODE = {
    "type": "object",
    "properties": {
        "value": I,
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2},
    },
    "required": ["value", "children"],
    "additionalProperties": False,
}


def obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
        "additionalProperties": False,
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "flat person": obj({"name": S, "age": I, "email": S}),
    "booleans and nulls": obj({"active": {"type": "boolean"}, "deleted_at": {"type": "null"}}),
    "numbers": obj({"price": N, "quantity": I}),
    "enum": obj({"colour": {"enum": ["red", "green", "blue"]}}),
    "const": obj({"version": {"const": 2}, "kind": {"const": "event"}}),
    "array of strings": obj({"tags": {"type": "array", "items": S, "minItems": 1, "maxItems": 3}}),
    "array bounds": obj({"scores": {"type": "array", "items": I, "minItems": 2, "maxItems": 4}}),
    "nested objects": obj({"user": obj({"name": S, "address": obj({"city": S, "zip": S})})}),
    "array of objects": obj({"items": {"type": "array", "maxItems": 2, "items": obj({"sku": S, "qty": I})}}),
    "optional fields": obj({"title": S, "subtitle": S, "pages": I}, required=["title"]),
    "anyOf": obj({"id": {"anyOf": [I, S]}}),
    "nullable": obj({"nickname": {"anyOf": [S, {"type": "null"}]}}),
    "defs and refs": {
        **obj({"home": {"$ref": "#/$defs/place"}, "work": {"$ref": "#/$defs/place"}}),
        "$defs": {"place": obj({"city": S})},
    },
    "recursive tree": {**obj({"root": {"$ref": "#/$defs/node"}}), "$defs": {"node": NODE}},
    "root ref": {"$defs": {"node": NODE}, "$ref": "#/$defs/node"},
    "string pattern": obj({"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"}}),
    "string length": obj({"word": {"type": "string", "minLength": 3, "maxLength": 6}}),
    "date format": obj({"day": {"type": "string", "format": "date"}}),
    "uuid format": obj({"id": {"type": "string", "format": "uuid"}}),
    "top-level array": {"type": "array", "items": S, "minItems": 1, "maxItems": 3},
    "deep nesting": obj({"a": obj({"b": obj({"c": obj({"d": S})})})}),
    "mixed": obj(
        {
            "ok": {"type": "boolean"},
            "count": I,
            "names": {"type": "array", "items": S, "maxItems": 2},
            "meta": obj({"source": {"enum": ["web", "app"]}, "note": {"anyOf": [S, {"type": "null"}]}}),
        }
    ),
}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("store") / "audio.sqlite3"
    settings = load_settings(
        models=[{"context_window": 2048, "max_completion_tokens": 400}], synthesis={"store": str(store)}
    )
    with live_server(create_app(settings)) as base:
        yield base


def _complete(url: str, **fields: Any) -> dict[str, Any]:
    body = {
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "user", "content": "Fill in an example."}],
        **fields,
    }
    return completion(url, body, timeout=300)


@pytest.mark.parametrize("temperature", [0.3, 1.0])
@pytest.mark.parametrize("name", list(SCHEMAS))
def test_output_validates_against_the_schema(url: str, name: str, temperature: float) -> None:
    schema = SCHEMAS[name]
    fmt = {"type": "json_schema", "json_schema": {"name": "example", "schema": schema, "strict": True}}
    # a tiny model likes to nest forever; a penalty on repeating itself lets it close the tree
    penalty = 1.5 if "$defs" in schema and "node" in schema["$defs"] else 0.0
    result = _complete(url, response_format=fmt, temperature=temperature, seed=7, frequency_penalty=penalty)
    choice = result["choices"][0]
    assert choice["finish_reason"] == "stop", choice
    jsonschema.validate(json.loads(choice["message"]["content"]), schema)
    assert choice["message"]["refusal"] is None


def test_json_object_mode(url: str) -> None:
    finished = 0
    for seed in (1, 2, 3):
        choice = _complete(
            url,
            response_format={"type": "json_object"},
            temperature=1.0,
            seed=seed,
            max_tokens=120,
            frequency_penalty=0.5,
        )["choices"][0]
        if choice["finish_reason"] == "length":  # a long string value can run past the 120 tokens
            continue
        finished += 1
        assert isinstance(json.loads(choice["message"]["content"]), dict)
    assert finished


def test_streamed_json_concatenates_to_valid_output(url: str) -> None:
    schema = SCHEMAS["mixed"]
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="gpt-audio",
            messages=[{"role": "user", "content": "Example please."}],
            stream=True,
            seed=3,
            response_format={"type": "json_schema", "json_schema": {"name": "m", "schema": schema}},  # type: ignore[arg-type,typeddict-item]
        )
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5  # streamed, not one blob
    jsonschema.validate(json.loads(content), schema)


class Recipe(BaseModel):
    title: str = Field(max_length=30)
    minutes: int
    ingredients: list[str] = Field(min_length=1, max_length=4)
    vegetarian: bool


def test_sdk_parse_with_a_pydantic_model(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    parsed = client.chat.completions.parse(
        model="gpt-4o-audio-preview",
        messages=[{"role": "user", "content": "A quick soup recipe."}],
        response_format=Recipe,
        seed=11,
    )
    recipe = parsed.choices[0].message.parsed
    assert isinstance(recipe, Recipe) and 1 <= len(recipe.ingredients) <= 4


def test_logprobs_under_a_grammar_describe_the_constrained_choice(url: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "e", "schema": SCHEMAS["enum"]}}
    choice = _complete(url, response_format=fmt, temperature=0, logprobs=True, top_logprobs=3)["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(e["token"] for e in entries) == choice["message"]["content"]
    for entry in entries:  # masked alternatives are impossible: every listed alternative is allowed
        assert entry["top_logprobs"][0]["logprob"] == entry["logprob"]


def test_grammars_are_cached_per_schema() -> None:
    from omnivox.backends.guidance import compile_error
    from omnivox.backends.logits.structured import schema_grammar

    compile_error.cache_clear()
    schema_grammar(SCHEMAS["mixed"], param="p")
    schema_grammar(json.loads(json.dumps(SCHEMAS["mixed"])), param="p")
    assert compile_error.cache_info().hits == 1 and compile_error.cache_info().misses == 1


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, "`uniqueItems` at schema"),
        (obj({"a": {"not": {"type": "string"}}}), "`not` at schema.properties.a"),
        (obj({"a": {"type": "string", "format": "uri"}}), "'uri' at schema.properties.a"),
        ({"type": "object", "patternProperties": {"^a": I}}, "`patternProperties` at schema"),
        ({"type": "frobnicate"}, "frobnicate"),
        ({"$ref": "#/$defs/missing"}, "/$defs/missing"),
        (obj({"a": {"type": "string", "pattern": "(a|b"}}), "regex"),
    ],
)
def test_schemas_that_cannot_be_honoured_are_refused(url: str, schema: dict[str, Any], where: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    response = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "gpt-audio", "response_format": fmt, "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 400
    validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == "response_format.json_schema.schema"
    assert where in response.json()["error"]["message"]


def test_spoken_json_has_the_json_as_its_transcript(url: str) -> None:
    schema = SCHEMAS["flat person"]
    result = _complete(
        url,
        response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        modalities=["text", "audio"],
        audio={"voice": "coral", "format": "wav"},
        seed=5,
    )
    message = result["choices"][0]["message"]
    assert message["content"] is None and message["refusal"] is None
    jsonschema.validate(json.loads(message["audio"]["transcript"]), schema)
    assert message["audio"]["data"]
