"""Server-sent events in OpenAI's framing: `data: {json}` per chunk, then `data: [DONE]`. A failure after
the status line was sent becomes one error event before `[DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from omnivox.errors import ModelFailure, OmnivoxError

log = logging.getLogger("omnivox.api")


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


async def _frames(items: AsyncIterator[BaseModel], done: bool) -> AsyncIterator[bytes]:
    try:
        async for item in items:
            yield _event(item.model_dump(mode="json", exclude_unset=True))
    except OmnivoxError as exc:
        yield _event(exc.to_body())
    except Exception:
        log.exception("stream failed")
        yield _event(ModelFailure("The server failed while generating this response.").to_body())
    if done:
        yield b"data: [DONE]\n\n"


def sse_response(items: AsyncIterator[BaseModel], *, done: bool = True) -> StreamingResponse:
    """`done`: close with `data: [DONE]` (chat completions do; transcription streams end with their
    `transcript.text.done` event)."""
    return StreamingResponse(
        _frames(items, done),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
