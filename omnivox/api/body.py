"""Request bodies -> wire types, with OpenAI-shaped 400s that name the offending parameter."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import Request

from omnivox.errors import InvalidRequest, RequestTooLarge

M = TypeVar("M", bound=BaseModel)

#: Labels pydantic puts in an error location for the member of a union; they are not parameter names.
_UNION_LABELS = frozenset({"str", "int", "float", "bool", "none"})


def param_path(loc: tuple[int | str, ...]) -> str | None:
    """('messages', 2, 'content', 'list[ContentPart]', 1, 'text') -> 'messages[2].content[1].text'."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part not in _UNION_LABELS and "[" not in part:
            path += f".{part}" if path else part
    return path or None


def to_invalid_request(exc: ValidationError) -> InvalidRequest:
    errors = exc.errors(include_url=False)
    error: ErrorDetails = max(errors, key=lambda e: len(e["loc"]))  # the most specific
    param = param_path(error["loc"])
    kind = error["type"]
    if kind == "json_invalid":
        return InvalidRequest(_INVALID_JSON, code="invalid_json")
    if param is None:
        return InvalidRequest("The request body must be a JSON object.", code="invalid_type")
    if kind == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter"
        )
    if kind == "extra_forbidden":
        return InvalidRequest(
            f"Unrecognized request argument supplied: {param}", param=param, code="unknown_parameter"
        )
    code = "invalid_type" if kind.endswith("_type") or kind.endswith("_parsing") else "invalid_value"
    return InvalidRequest(f"Invalid value for '{param}': {error['msg']}.", param=param, code=code)


_INVALID_JSON = "We could not parse the JSON body of your request. (The body must be valid JSON.)"


def parse_json(model: type[M], raw: bytes, precheck: Callable[[Any], None] | None = None) -> M:
    """`raw` validated into `model`. `precheck` sees the plain JSON first (a cheap C parse), so that what
    would be expensive to validate can be refused by counting."""
    if precheck is not None:
        try:
            plain = json.loads(raw)
        except (ValueError, RecursionError):
            raise InvalidRequest(_INVALID_JSON, code="invalid_json") from None
        precheck(plain)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise to_invalid_request(exc) from None


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (413) without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"The request body exceeds the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"The request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)
