"""Schemathesis against omnivox's own OpenAPI document (/openapi.json): every operation, with valid and
invalid requests, on a live loopback server whose models are fakes (language model, recogniser, voice).
No answer may be a 5xx, and every answer must be one the document declares: its status, its content type
and its body (each event of a stream included); what the document calls invalid must be refused
(`negative_data_rejection`), and SRT and WebVTT answers must parse as cues.

Bounded and reproducible: a fixed seed (each operation derives its own), no example database, no values
taken from earlier responses, no shrinking, `FUZZ_EXAMPLES` examples per operation in the fuzzing phase
plus the coverage phase's boundary cases, a 30 s limit per request: about half a minute on 2 cores.
`OMNIVOX_FUZZ_EXAMPLES` and `OMNIVOX_FUZZ_SEED` run a longer or a different exploration.

Valid requests are steered a little (`map_case` below) so that many name a served model, a voice and real
audio, and reach the code behind the checks instead of stopping at a 404.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import wave
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import numpy as np
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from omnivox.api.app import create_app
from omnivox.config import (
    OPENAI_CHAT_ALIASES,
    OPENAI_SPEECH_ALIASES,
    OPENAI_TTS_ALIASES,
    LanguageModelSettings,
    Settings,
)
from tests.conftest import FAKE_ID, SPEECH_ID, serve_fake
from tests.fuzz.fakes import FakeRecognizer, FakeVoice
from tests.support.usage import ADMIN

pytestmark = pytest.mark.fuzz

#: Examples per operation in the fuzzing phase (the coverage phase adds its own boundary cases).
FUZZ_EXAMPLES = int(os.environ.get("OMNIVOX_FUZZ_EXAMPLES", "200"))
#: The run's seed (each operation derives its own from it); another one explores other requests.
SEED = int(os.environ.get("OMNIVOX_FUZZ_SEED", "20240808"))
VOICE = "fake"
_TIMING = {
    "srt": re.compile(r"\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}"),
    "vtt": re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3} --> \d{2}:\d{2}:\d{2}\.\d{3}"),
}
_VTT_RAW = re.compile(r"<|&(?!(amp|lt|gt);)")


def subtitles_are_well_formed(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """SRT and WebVTT answers parse as cues: a number (SRT), a timing line, then text lines that are not
    empty and hold no `-->` (nor, in WebVTT, a raw `<` or `&`). The document can only say "a string"."""
    fmt = case.body.get("response_format") if isinstance(case.body, dict) else None
    if response.status_code != 200 or fmt not in _TIMING or case.body.get("stream") in (True, "true"):
        return
    text = response.content.decode("utf-8")
    if fmt == "vtt":
        assert text.startswith("WEBVTT\n\n"), text[:80]
        text = text.removeprefix("WEBVTT\n\n")
    *blocks, rest = text.split("\n\n")
    assert rest == "", f"the answer does not end with a blank line: {text[-80:]!r}"
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        if fmt == "srt":
            assert lines.pop(0) == str(number), f"cue {number} is not numbered {number}: {block!r}"
        assert _TIMING[fmt].fullmatch(lines[0]), f"cue {number} has no timing line: {block!r}"
        for line in lines[1:] or [""]:
            assert line and "-->" not in line, f"cue {number} has an empty line or a `-->`: {block!r}"
            assert fmt != "vtt" or not _VTT_RAW.search(line), f"cue {number} has a raw < or &: {block!r}"


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    subtitles_are_well_formed,
]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {
            "mode": "all",  # valid and invalid requests
            "max-examples": FUZZ_EXAMPLES,
            "database": "none",
            "no-shrink": True,  # a failure is reported as found (with its curl): no open-ended shrinking
        },
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            # Values seen in earlier responses (ids with random parts) would make runs differ: not used.
            "fuzzing": {
                "enabled": True,
                "extra-data-sources": {"responses": False},
                "error-feedback": {"enabled": False},
            },
            "stateful": {"enabled": False},
        },
    }
)


def _document() -> dict[str, Any]:
    """The document the server serves; it does not depend on the models, so no model is loaded here."""
    app = create_app(Settings(models=[LanguageModelSettings(id=FAKE_ID)]))
    return app.openapi()


SCHEMA = schemathesis.openapi.from_dict(_document(), config=CONFIG)


def _wav(seconds: float) -> bytes:
    samples = (0.2 * np.sin(np.arange(int(16_000 * seconds)) / 5) * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes(samples.tobytes())
    return out.getvalue()


#: Real audio for uploads: nothing heard (under a second), and seven words in three segments.
UPLOADS = (_wav(0.5), _wav(7.0))


#: Chat fields whose random values a served model mostly accepts (the rest are mostly refused with a 400).
PLAIN_CHAT = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "n",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "top_logprobs",
        "user",
        "metadata",
        "store",
    }
)


#: Transcription fields whose random values are mostly refused (an unknown language, `include[]`, ...).
ODD_FORM_FIELDS = ("language", "include[]", "chunking_strategy", "timestamp_granularities[]")
MODEL_IDS = (FAKE_ID, SPEECH_ID, *OPENAI_CHAT_ALIASES, *OPENAI_SPEECH_ALIASES)
#: Ids of the cases `map_case` changed: valid by construction, so `negative_data_rejection` has nothing to
#: say about them (and Schemathesis cannot re-validate a form holding a file: it would call them invalid).
STEERED: set[int] = set()


@SCHEMA.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """Steers valid requests of the fuzzing phase towards what a served model accepts: often a served model,
    a voice, real audio, a user message and only the plain chat fields, so that many reach generation,
    speech, transcription and their formats instead of a 404. The choices are seeded by the case itself,
    so a run stays reproducible. Invalid requests are left as they are (they must be refused)."""
    meta = case.meta
    if meta is None or meta.generation.mode != "positive" or meta.phase.name != "fuzzing":
        return case
    STEERED.add(id(case))
    rng = random.Random(_fingerprint(case))
    path = case.operation.path
    if path == "/v1/models/{model_id}" and rng.random() < 0.7:
        case.path_parameters = {**case.path_parameters, "model_id": rng.choice(MODEL_IDS)}
    if not isinstance(case.body, dict):
        return case
    body = dict(case.body)
    if path == "/v1/chat/completions":
        if rng.random() < 0.7:
            body = {k: v for k, v in body.items() if k in PLAIN_CHAT}
        if rng.random() < 0.8:
            body["model"] = rng.choice([FAKE_ID, *OPENAI_CHAT_ALIASES])
        if rng.random() < 0.6:
            body["messages"] = [{"role": "user", "content": rng.choice(["", *_strings(case.body)])}]
        if rng.random() < 0.4:
            body["stream"] = True
    elif path == "/v1/audio/speech":
        if rng.random() < 0.8:
            body["model"] = rng.choice(OPENAI_TTS_ALIASES)
        if rng.random() < 0.8:
            body["voice"] = rng.choice(["alloy", VOICE, {"id": VOICE}])
    elif path.startswith("/v1/audio/"):
        if rng.random() < 0.8:
            body["model"] = rng.choice([SPEECH_ID, *OPENAI_SPEECH_ALIASES])
        if rng.random() < 0.8:
            body["file"] = rng.choice(UPLOADS)
        if rng.random() < 0.7:
            body = {k: v for k, v in body.items() if k not in ODD_FORM_FIELDS}
    case.body = body
    return case


def _fingerprint(case: schemathesis.Case) -> int:
    """A number that depends only on what was generated (no object address, no hash randomisation)."""
    generated = json.dumps(
        [case.path_parameters, case.body], sort_keys=True, default=lambda o: type(o).__name__
    )
    return zlib.crc32(generated.encode())


def _strings(value: Any) -> list[str]:
    """Every string in a generated value (random text to put in a message)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    # No API keys: every route is open but the usage API, which is reached with the admin key.
    with serve_fake(speech=[FakeRecognizer()], voices={VOICE: FakeVoice()}, admin_api_keys=[ADMIN]) as (
        url,
        _,
    ):
        yield url


def test_the_served_document_is_valid_openapi_3_1(base_url: str) -> None:
    served = httpx.get(f"{base_url}/openapi.json", timeout=30).json()
    assert served == _document()
    assert served["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(served).validate()  # the OpenAPI 3.1 meta-schema
    for schema in _schemas(served):  # and every schema in it is a valid JSON Schema 2020-12
        jsonschema.Draft202012Validator.check_schema(schema)
    operations = {(path, method) for path, item in served["paths"].items() for method in item}
    for path, method in operations:
        operation = served["paths"][path][method]
        assert operation["responses"].get("200"), (method, path)
        if method == "post":
            assert operation["requestBody"]["content"], path
        for status, response in operation["responses"].items():
            if status.startswith("4") or status.startswith("5"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)


def _schemas(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema" and isinstance(value, dict):
                yield value
            yield from _schemas(value)
        if isinstance(node.get("schemas"), dict):
            yield from node["schemas"].values()
    elif isinstance(node, list):
        for item in node:
            yield from _schemas(item)


@SCHEMA.parametrize()
def test_every_operation_conforms(case: schemathesis.Case, base_url: str) -> None:
    steered = id(case) in STEERED
    STEERED.discard(id(case))
    checks = CHECKS if steered else [*CHECKS, negative_data_rejection]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    case.call_and_validate(base_url=base_url, checks=checks, timeout=30, headers=admin)
