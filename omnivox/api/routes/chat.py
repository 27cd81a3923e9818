"""POST /v1/chat/completions: parse, prepare (all validation), then answer as JSON or SSE."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnivox.api.body import parse_json, read_body
from omnivox.api.disconnect import ClientGone, unless_disconnected
from omnivox.api.openapi import errors, event_stream, json_request
from omnivox.api.sse import sse_response
from omnivox.api.state import services
from omnivox.chat.limits import check_counts, check_values
from omnivox.protocol.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest

router = APIRouter()

_EXAMPLE = {
    "model": "gpt-4o-audio-preview",
    "messages": [{"role": "user", "content": "Is a golden retriever a good family dog?"}],
}


@router.post(
    "/v1/chat/completions",
    response_model=None,
    openapi_extra=json_request(ChatCompletionRequest, _EXAMPLE),
    responses={
        200: {
            "model": ChatCompletion,
            "description": "The completion; with `stream: true`, chunks as server-sent events, then "
            "`data: [DONE]` (a failure after the first event is one error event before it).",
            "content": {"text/event-stream": event_stream(ChatCompletionChunk, done=True)},
        },
        **errors(400, 404, 413, 500, 502, 503, 504),
    },
)
async def create_chat_completion(request: Request) -> Response:
    found = services(request)
    raw = await read_body(request, found.settings.max_request_bytes)
    limits = found.settings.limits
    check_values(raw, limits)
    request_body = parse_json(ChatCompletionRequest, raw, lambda plain: check_counts(plain, limits))
    prepared = await found.chat.prepare(request_body)
    if prepared.plan.stream:
        return sse_response(await found.chat.stream(prepared))
    try:
        completion = await unless_disconnected(request, found.chat.complete(prepared))
    except ClientGone:
        return Response(status_code=499)  # nobody reads it; the work was cancelled
    return JSONResponse(completion.model_dump(mode="json", exclude_unset=True))
