"""POST /v1/audio/speech: text to speech, streamed as file bytes (chunked) or as SSE events."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from omnivox.api.body import parse_json, read_body
from omnivox.api.sse import sse_response
from omnivox.api.state import services
from omnivox.audio.encode import media_type
from omnivox.protocol.speech import SpeechRequest

router = APIRouter()


@router.post("/v1/audio/speech", response_model=None)
async def create_speech(request: Request) -> Response:
    found = services(request)
    raw = await read_body(request, found.settings.max_request_bytes)
    prepared = found.speech.prepare(parse_json(SpeechRequest, raw))
    if prepared.request.stream_format == "sse":
        return sse_response(found.speech.events(prepared), done=False)
    fmt = prepared.request.response_format
    return StreamingResponse(found.speech.audio(prepared), media_type=media_type(fmt))
