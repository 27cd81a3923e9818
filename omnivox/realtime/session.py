"""The session's configuration: OpenAI's defaults, partial `session.update`s, and client payloads checked
against the wire types with OpenAI's error codes (`unknown_parameter`, `missing_required_parameter`,
`invalid_value`, `invalid_type`) and the parameter's dotted path."""

from __future__ import annotations

import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from omnivox.errors import InvalidRequest
from omnivox.protocol.realtime import SessionConfig
from omnivox.realtime.wire import new_id
from omnivox.runtimes.languages import check_language

M = TypeVar("M", bound=BaseModel)

#: pydantic error type -> OpenAI error code.
_CODES = {
    "extra_forbidden": "unknown_parameter",
    "missing": "missing_required_parameter",
    "literal_error": "invalid_value",
    "union_tag_invalid": "invalid_value",
    "string_pattern_mismatch": "invalid_value",
    "greater_than_equal": "invalid_value",
    "less_than_equal": "invalid_value",
    "too_short": "invalid_value",
    "too_long": "invalid_value",
    "string_too_long": "invalid_value",
}
#: Parts of session objects that a partial update merges into; any other field is replaced whole.
_MERGED = ("audio", "input", "output")
SESSION_SECONDS = 3600  # `expires_at`, as OpenAI reports it; omnivox ends no session for its age


def _path(prefix: str, loc: tuple[int | str, ...], model: type[BaseModel]) -> str:
    parts = [prefix] if prefix else []
    for piece in loc:
        if isinstance(piece, int):
            parts[-1] = f"{parts[-1]}[{piece}]" if parts else f"[{piece}]"
        elif piece not in ("server_vad", "semantic_vad") and not _union_tag(piece):
            parts.append(piece)
    return ".".join(parts)


def _union_tag(piece: str) -> bool:
    """A member of a union in pydantic's error location (`literal['auto', ...]`, a class name)."""
    return piece.startswith("literal[") or piece[:1].isupper()


def parsed(model: type[M], data: Any, prefix: str) -> M:
    """`data` as `model`, or its problem as an OpenAI error naming its parameter: the first one, or
    for a value of a union (`truncation`: a string or an object) the one deepest in the object given."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = max(errors, key=lambda e: sum(not _union_tag(str(p)) for p in e["loc"]))
        param = _path(prefix, tuple(first["loc"]), model)
        code = _CODES.get(
            first["type"], "invalid_type" if first["type"].endswith("_type") else "invalid_value"
        )
        if code == "unknown_parameter":
            message = f"Unknown parameter: '{param}'."
        elif code == "missing_required_parameter":
            message = f"Missing required parameter: '{param}'."
        else:
            message = f"Invalid value for '{param}': {first['msg']}."
        raise InvalidRequest(message, param=param, code=code) from None


def _merge(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in update.items():
        if key in _MERGED and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Session:
    """One connection's configuration; `config` is always whole and valid."""

    def __init__(self, model: str) -> None:
        self.id = new_id("sess")
        self.model = model
        self.expires_at = int(time.time()) + SESSION_SECONDS
        self.config = SessionConfig(type="realtime", model=model)
        self.voiced = False  # whether a response has spoken: the voice may not change afterwards

    def update(self, raw: Any) -> SessionConfig:
        """Apply a `session.update`'s `session` (partial); nothing changes when any of it is refused."""
        update = parsed(SessionConfig, raw, "session")
        changes = update.model_dump(exclude_unset=True)
        merged = _merge(self.config.model_dump(), changes)
        config = parsed(SessionConfig, merged, "session")
        transcription = config.audio.input.transcription
        if transcription is not None:
            check_language(transcription.language, param="session.audio.input.transcription.language")
        if self.voiced and config.audio.output.voice != self.config.audio.output.voice:
            raise InvalidRequest(
                "Cannot update a conversation's voice if assistant audio is present.",
                param="session.audio.output.voice",
                code="cannot_update_voice",
            )
        self.config = config
        return config

    def wire(self) -> dict[str, Any]:
        """The whole effective session, as `session.created` / `session.updated` carry it."""
        body = self.config.model_dump(mode="json")
        body["model"] = self.config.model or self.model
        for side in ("input", "output"):
            fmt = body["audio"][side]["format"]
            if fmt["rate"] is None:  # G.711 formats carry no rate (8 kHz)
                del fmt["rate"]
        return {"object": "realtime.session", "id": self.id, "expires_at": self.expires_at, **body}
