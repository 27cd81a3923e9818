"""POST /v1/chat/completions: parse, prepare (all validation), then answer as JSON or SSE."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnivox.api.body import parse_json, read_body
from omnivox.api.disconnect import ClientGone, unless_disconnected
from omnivox.api.sse import sse_response
from omnivox.api.state import services
from omnivox.protocol.chat import ChatCompletionRequest

router = APIRouter()


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(request: Request) -> Response:
    found = services(request)
    raw = await read_body(request, found.settings.max_request_bytes)
    prepared = await found.chat.prepare(parse_json(ChatCompletionRequest, raw))
    if prepared.plan.stream:
        return sse_response(found.chat.stream(prepared))
    try:
        completion = await unless_disconnected(request, found.chat.complete(prepared))
    except ClientGone:
        return Response(status_code=499)  # nobody reads it; the work was cancelled
    return JSONResponse(completion.model_dump(mode="json", exclude_unset=True))
