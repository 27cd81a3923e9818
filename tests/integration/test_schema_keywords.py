"""Each JSON-schema keyword of OpenAI's strict mode on the real SmolLM2: the constraint over its own
vocabulary takes what the keyword allows and not what it forbids (every keyword); and, through the SDK,
answers (temperature 0) checked against the keyword, formats with the standard library (a set of them:
a generation costs seconds). Where the
model's own answer breaks the keyword (asked for the schema in the prompt only: `structured_outputs:
false`), that is checked too, so the grammar is seen to do the work. Roots that are not objects (an
extension: OpenAI requires an object) are honoured the same way."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import openai
import pytest

from omnivox.api.app import create_app
from omnivox.backends.logits.structured import schema_grammar
from omnivox.config import load_settings
from tests.support.server import live_server
from tests.unit.test_guidance import KEYWORDS as UNIT_KEYWORDS

pytestmark = [pytest.mark.model, pytest.mark.sdk]


def obj(**properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _email(text: str) -> bool:
    # RFC 5321's domain may be one label ("a@1" is an address); llguidance's format allows it
    return re.fullmatch(r"[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", text) is not None


def _hostname(text: str) -> bool:
    label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    return re.fullmatch(rf"{label}(\.{label})*", text) is not None


def _duration(text: str) -> bool:
    return (
        re.fullmatch(r"P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?", text)
        is not None
    )


def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            parse(text)
        except ValueError:
            return False
        return True

    return check


FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _parses(datetime.datetime.fromisoformat),
    "date": _parses(datetime.date.fromisoformat),
    "time": _parses(datetime.time.fromisoformat),
    "duration": _duration,
    "email": _email,
    "hostname": _hostname,
    "ipv4": _parses(ipaddress.IPv4Address),
    "ipv6": _parses(ipaddress.IPv6Address),
    "uuid": _parses(uuid.UUID),
}
#: keyword -> (schema, question); each question invites an answer that the keyword forbids
KEYWORDS: dict[str, tuple[dict[str, Any], str]] = {
    "minimum maximum": (
        obj(age={"type": "integer", "minimum": 1000, "maximum": 1010}),
        "How old is your cat?",
    ),
    "exclusive bounds": (
        obj(price={"type": "number", "exclusiveMinimum": 100, "exclusiveMaximum": 101}),
        "What does a coffee cost?",
    ),
    "multipleOf": (
        obj(n={"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 50}),
        "Pick a number.",
    ),
    "pattern with lengths": (
        obj(code={"type": "string", "pattern": "^[A-Z]+$", "minLength": 3, "maxLength": 5}),
        "Your name, please.",
    ),
    "minItems maxItems": (
        obj(
            tags={"type": "array", "items": {"type": "string", "maxLength": 12}, "minItems": 3, "maxItems": 4}
        ),
        "One word for the sea.",
    ),
    **{
        # bounded, so that the tiny model cannot write one for ever (an unbounded email ran to the limit)
        f"format {name}": (
            obj(value={"type": "string", "format": name, "maxLength": 40}),
            f"An example {name}.",
        )
        for name in ("date", "email", "uuid")
    },
}


@pytest.fixture(scope="module")
def smollm2() -> Iterator[Any]:
    from omnivox.config import LanguageModelSettings
    from omnivox.serving.registry import load_llama_cpp

    model = load_llama_cpp(LanguageModelSettings(id="smollm2", context_window=512))
    yield model
    model.close()


def _takes(model: Any, grammar: str, text: str) -> bool:
    """Whether SmolLM2's constraint takes `text`, as the model's tokenizer splits it, and then the end."""
    constraint = model.constrain(grammar)
    for token in model.tokenize(text):
        if not constraint.allows(token):
            return False
        constraint.accept(token)
    return any(constraint.allows(t) for t in range(model.info.vocab_size) if model.is_end_of_generation(t))


@pytest.mark.parametrize("keyword", list(UNIT_KEYWORDS))
def test_each_keyword_on_the_real_vocabulary(smollm2: Any, keyword: str) -> None:
    """Every strict-mode keyword (the unit test's table) on SmolLM2's own 49,152 tokens: what the schema
    allows is taken whole, what it forbids is not."""
    schema, good, bad = UNIT_KEYWORDS[keyword]
    grammar = schema_grammar(schema, param="p")
    for value in good:
        assert _takes(smollm2, grammar, json.dumps(value)), value
    for value in bad:
        assert not _takes(smollm2, grammar, json.dumps(value)), value


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    settings = load_settings(models=[{"context_window": 2048, "max_completion_tokens": 80}])
    with live_server(create_app(settings)) as base:
        yield openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=900)


def _answer(client: openai.OpenAI, schema: dict[str, Any], question: str, **extra: Any) -> tuple[str, str]:
    choice = client.chat.completions.create(
        model="gpt-4o-audio-preview",
        messages=[{"role": "user", "content": question}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "a", "schema": schema, "strict": True},
        },
        temperature=0,
        **extra,
    ).choices[0]
    return choice.message.content or "", choice.finish_reason


def _holds(schema: dict[str, Any], content: str) -> bool:
    try:
        value = json.loads(content)
        jsonschema.validate(value, schema)
    except (ValueError, jsonschema.ValidationError):
        return False
    for name, sub in schema.get("properties", {}).items():
        if "format" in sub and not FORMATS[sub["format"]](value[name]):
            return False
    return True


@pytest.mark.parametrize("keyword", list(KEYWORDS))
def test_each_keyword_holds_in_the_answer(client: openai.OpenAI, keyword: str) -> None:
    schema, question = KEYWORDS[keyword]
    content, reason = _answer(client, schema, question)
    assert reason == "stop", content
    assert _holds(schema, content), content


@pytest.mark.parametrize("keyword", ["minimum maximum"])
def test_the_models_own_answer_breaks_the_keyword(client: openai.OpenAI, keyword: str) -> None:
    schema, question = KEYWORDS[keyword]
    content, _ = _answer(client, schema, question, extra_body={"structured_outputs": False})
    assert not _holds(schema, content), content  # so the grammar is what makes the answer above hold


ROOTS: dict[str, dict[str, Any]] = {
    "enum of strings": {"type": "string", "enum": ["red", "green", "blue"]},
    "integer": {"type": "integer", "minimum": 10, "maximum": 20},
    # bounded items: unbounded, the model wrote one integer's digits to the token limit
    "array": {
        "type": "array",
        "items": {"type": "integer", "minimum": 0, "maximum": 99},
        "minItems": 2,
        "maxItems": 3,
    },
}


@pytest.mark.parametrize("root", list(ROOTS))
def test_a_root_that_is_not_an_object_is_honoured(client: openai.OpenAI, root: str) -> None:
    schema = ROOTS[root]
    content, reason = _answer(client, schema, "What is your favourite colour?")
    assert reason == "stop", content
    jsonschema.validate(json.loads(content), schema)
