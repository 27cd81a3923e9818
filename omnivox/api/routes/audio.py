"""POST /v1/audio/transcriptions and /v1/audio/translations (multipart uploads, as OpenAI defines them)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from omnivox.api.body import read_body, to_invalid_request
from omnivox.api.openapi import TEXT, Responses, errors, event_stream, form_request
from omnivox.api.sse import sse_response
from omnivox.api.state import services
from omnivox.errors import InvalidRequest
from omnivox.protocol.audio import (
    TextDelta,
    TextDone,
    TranscriptionForm,
    TranscriptionJson,
    TranscriptionVerboseJson,
)
from omnivox.runtimes.speech import Task
from omnivox.transcription import formats

router = APIRouter()

_LIST_FIELDS = {"timestamp_granularities[]": "timestamp_granularities", "include[]": "include"}
_WIRE_NAMES = {field: name for name, field in _LIST_FIELDS.items()}
_TRANSLATION_FIELDS = {"model", "prompt", "response_format", "temperature"}
_EXAMPLE = {"model": "whisper-1"}


async def _form(request: Request, limit: int, task: Task) -> tuple[TranscriptionForm, bytes, str | None]:
    body = await read_body(request, limit)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=64)
    except Exception as exc:  # malformed multipart: the parser's own errors
        raise InvalidRequest(f"The body is not a valid multipart form: {exc}", code="invalid_body") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest(
            "Missing required parameter: 'file'.", param="file", code="missing_required_parameter"
        )
    fields: dict[str, Any] = {}
    for key in form:
        if key == "file":
            continue
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        name = _LIST_FIELDS.get(key, key)
        if task == "translate" and name not in _TRANSLATION_FIELDS:
            raise InvalidRequest(
                f"Unrecognized request argument supplied: {key}", param=key, code="unknown_parameter"
            )
        fields[name] = values if key in _LIST_FIELDS else values[-1]
    try:
        parsed = TranscriptionForm.model_validate(fields)
    except ValidationError as exc:
        raise to_invalid_request(exc) from None
    return parsed, await upload.read(), upload.filename


async def _answer(request: Request, task: Task) -> Response:
    found = services(request)
    form, data, filename = await _form(request, found.settings.max_request_bytes, task)
    prepared = await found.transcription.prepare(form, data, filename, task)
    if form.stream:
        return sse_response(found.transcription.stream(prepared), done=False)
    transcript = await found.transcription.transcribe(prepared)
    match form.response_format:
        case "text":
            return PlainTextResponse(transcript.text + "\n")
        case "srt":
            return PlainTextResponse(formats.srt(transcript.segments))
        case "vtt":
            return PlainTextResponse(formats.vtt(transcript.segments), media_type="text/vtt")
        case "verbose_json":
            verbose = formats.as_verbose_json(transcript, task, form.timestamp_granularities)
            return JSONResponse(verbose.model_dump(mode="json", exclude_none=True))
        case _:
            return JSONResponse(formats.as_json(transcript).model_dump(mode="json"))


def _responses(description: str) -> Responses:
    return {
        200: {
            "model": TranscriptionJson | TranscriptionVerboseJson,
            "description": f"{description} in `response_format`: JSON (json, verbose_json), plain text "
            "(text, srt) or WebVTT; with `stream: true`, text events as the speech is recognised.",
            "content": {
                "text/plain": TEXT,
                "text/vtt": TEXT,
                "text/event-stream": event_stream(TextDelta, TextDone, done=False),
            },
        },
        **errors(400, 404, 413, 500, 503),
    }


@router.post(
    "/v1/audio/transcriptions",
    response_model=None,
    openapi_extra=form_request(
        TranscriptionForm,
        file="file",
        names=_WIRE_NAMES,
        keep=TranscriptionForm.model_fields,
        example=_EXAMPLE,
    ),
    responses=_responses("The transcript"),
)
async def create_transcription(request: Request) -> Response:
    return await _answer(request, "transcribe")


@router.post(
    "/v1/audio/translations",
    response_model=None,
    openapi_extra=form_request(
        TranscriptionForm, file="file", names=_WIRE_NAMES, keep=_TRANSLATION_FIELDS, example=_EXAMPLE
    ),
    responses=_responses("The English translation"),
)
async def create_translation(request: Request) -> Response:
    return await _answer(request, "translate")
