"""What fuzzing found, kept as regression tests.

1. A JSON schema count (`minLength`, `maxLength`, `minItems`, `maxItems`) is written out by llama.cpp's
   JSON-schema converter as that many grammar items: `minLength: 10**12` made the converter raise
   MemoryError (a 500, after trying to allocate terabytes), `maxLength: 2000` made a grammar llama.cpp
   refuses (a 500 when generation starts) and `maxLength: 100000` made llama.cpp overflow its stack while
   parsing it (the server process died). Counts are now bounded (a 400 naming the schema).
2. SRT and WebVTT answers wrote a segment's text as it came: a `-->` in it reads as a timing line, an
   empty segment left a cue without text (and broke SRT's blank-line framing), and in WebVTT `<` and `&`
   start tags and escapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from omnivox.backends.logits.structured import MAX_REPETITIONS, schema_grammar
from omnivox.errors import InvalidRequest
from omnivox.runtimes.speech import Segment
from omnivox.transcription import formats
from tests.conftest import FAKE_ID, serve_fake
from tests.support.fakes import FakeLanguageModel
from tests.support.openapi import validate

pytestmark = pytest.mark.fuzz

PARAM = "response_format.json_schema.schema"
STRING = {"type": "string"}
ARRAY = {"type": "array", "items": {"type": "integer"}}


@pytest.mark.parametrize(
    "schema",
    [
        {**STRING, "minLength": 10**12},
        {**STRING, "maxLength": 100_000},
        {**STRING, "maxLength": MAX_REPETITIONS + 1},
        {**STRING, "minLength": -1},
        {**STRING, "maxLength": 1.5},
        {**STRING, "maxLength": True},
        {**ARRAY, "minItems": 10**9},
        {**ARRAY, "maxItems": 30_000},
        {"type": "object", "properties": {"a": {**STRING, "maxLength": "5"}}},
        {"$defs": {"s": {**STRING, "maxLength": 10**6}}, "$ref": "#/$defs/s"},
    ],
    ids=lambda schema: str(schema)[:60],
)
def test_huge_or_odd_counts_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as refused:
        schema_grammar(schema, param=PARAM)
    assert refused.value.param == PARAM


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # a model that claims grammars: the request reaches the schema compiler, which refuses it
    with serve_fake(FakeLanguageModel(grammars=True)) as (base, _):
        yield base


@pytest.mark.parametrize("where", ["response_format", "tools"])
def test_a_huge_count_is_a_400_not_a_500(url: str, where: str) -> None:
    schema = {"type": "object", "properties": {"name": {**STRING, "minLength": 10**12}}}
    body: dict[str, Any] = {"model": FAKE_ID, "messages": [{"role": "user", "content": "hi"}]}
    if where == "tools":
        body["tools"] = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
    else:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    response = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400, response.text
    validate(response.json(), "ErrorResponse")
    assert "from 0 to" in response.json()["error"]["message"]
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200


@pytest.mark.model
def test_counts_up_to_the_bound_make_grammars_llama_cpp_parses() -> None:
    from omnivox.config import LanguageModelSettings
    from omnivox.serving.registry import load_llama_cpp

    bound = {**STRING, "maxLength": MAX_REPETITIONS}
    schema = {
        "type": "object",
        "properties": {
            "names": {**ARRAY, "items": bound, "minItems": 1, "maxItems": MAX_REPETITIONS},
            "note": {**STRING, "minLength": MAX_REPETITIONS},
            **{f"p{i}": bound for i in range(20)},
        },
    }
    model = load_llama_cpp(LanguageModelSettings(id="smollm2", context_window=512))
    try:
        model.constrain(schema_grammar(schema, param=PARAM)).close()
    finally:
        model.close()


def _segment(n: int, text: str) -> Segment:
    return Segment(n, 0, float(n), n + 0.5, text, (), (), -0.1, 0.0, 1.0, 0.0)


ODD = [
    _segment(0, " a --> b"),
    _segment(1, "   "),
    _segment(2, " x < y & <b>z</b>\n\nw"),
    _segment(3, "end."),
]


def test_srt_cues_stay_cues() -> None:
    assert formats.srt(ODD) == (
        "1\n00:00:00,000 --> 00:00:00,500\na -> b\n\n"
        "2\n00:00:02,000 --> 00:00:02,500\nx < y & <b>z</b> w\n\n"
        "3\n00:00:03,000 --> 00:00:03,500\nend.\n\n"
    )


def test_vtt_cue_text_is_escaped() -> None:
    vtt = formats.vtt(ODD)
    assert vtt == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:00.500\na -&gt; b\n\n"
        "00:00:02.000 --> 00:00:02.500\nx &lt; y &amp; &lt;b&gt;z&lt;/b&gt; w\n\n"
        "00:00:03.000 --> 00:00:03.500\nend.\n\n"
    )
    assert not re.search(r"<|&(?!(amp|lt|gt);)", vtt)
