"""POST /v1/audio/speech: text to speech, streamed as file bytes (chunked) or as SSE events."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from omnivox.api.body import parse_json, read_body
from omnivox.api.openapi import BINARY, errors, event_stream, json_request
from omnivox.api.sse import sse_response
from omnivox.api.state import services
from omnivox.audio.encode import FORMATS, RAW_FORMATS, media_type
from omnivox.protocol.speech import SpeechAudioDelta, SpeechAudioDone, SpeechRequest

router = APIRouter()


_EXAMPLE = {"model": "tts-1", "input": "The quick brown fox jumped over the lazy dog.", "voice": "alloy"}
_AUDIO_TYPES = sorted({media_type(fmt) for fmt in (*FORMATS, *RAW_FORMATS)})


@router.post(
    "/v1/audio/speech",
    response_model=None,
    response_class=Response,  # the answer is audio (or events), never JSON
    openapi_extra=json_request(SpeechRequest, _EXAMPLE),
    responses={
        200: {
            "description": "The audio file in `response_format`, sent as it is made; with "
            "`stream_format: sse`, its pieces as server-sent events.",
            "content": {
                **{audio: BINARY for audio in _AUDIO_TYPES},
                "text/event-stream": event_stream(SpeechAudioDelta, SpeechAudioDone, done=False),
            },
        },
        **errors(400, 404, 413, 500, 503),
    },
)
async def create_speech(request: Request) -> Response:
    found = services(request)
    raw = await read_body(request, found.settings.max_request_bytes)
    prepared = found.speech.prepare(parse_json(SpeechRequest, raw))
    if prepared.request.stream_format == "sse":
        return sse_response(found.speech.events(prepared), done=False)
    fmt = prepared.request.response_format
    return StreamingResponse(found.speech.audio(prepared), media_type=media_type(fmt))
