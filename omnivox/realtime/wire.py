"""Server events of the Realtime API (GA), as the dicts that are sent: the one place that builds them.
Every event gets a fresh `event_id`; ids follow OpenAI's conventions (`event_`, `sess_`, `item_`, `resp_`,
`call_`, `conv_`). The shapes are those of the openai SDK's `RealtimeServerEvent` (the tests validate
every event sent against it)."""

from __future__ import annotations

import secrets
from typing import Any

from omnivox.errors import OmnivoxError

Event = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def event(kind: str, **fields: Any) -> Event:
    return {"type": kind, "event_id": new_id("event"), **fields}


def error(exc: OmnivoxError, client_event_id: str | None) -> Event:
    """OpenAI's error event; `client_event_id` echoes the `event_id` of the client event that caused it."""
    body = exc.to_body()["error"]
    return event(
        "error",
        error={
            "type": body["type"],
            "code": body["code"],
            "message": body["message"],
            "param": body["param"],
            "event_id": client_event_id,
        },
    )


def response_object(
    response_id: str,
    *,
    status: str,
    modalities: list[str],
    audio_output: dict[str, Any] | None,
    max_output_tokens: int | str,
    metadata: dict[str, str] | None,
    conversation_id: str | None,
    output: list[dict[str, Any]] | None = None,
    status_details: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "realtime.response",
        "status": status,
        "status_details": status_details,
        "output": output or [],
        "conversation_id": conversation_id,
        "output_modalities": modalities,
        "audio": {"output": audio_output} if audio_output is not None else None,
        "max_output_tokens": max_output_tokens,
        "metadata": metadata,
        "usage": usage,
    }


def usage(*, text_in: int, audio_in: int, cached: int, text_out: int, audio_out: int) -> dict[str, Any]:
    """`text_in` counts all prompt tokens but those standing for audio (`audio_in`); `audio_out` is the
    spoken answer's audio tokens (10 per second, as chat completions count them)."""
    total_in = text_in + audio_in
    total_out = text_out + audio_out
    return {
        "total_tokens": total_in + total_out,
        "input_tokens": total_in,
        "output_tokens": total_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": 0,
            "cached_tokens": cached,
            "cached_tokens_details": {"text_tokens": cached, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }
