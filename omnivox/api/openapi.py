"""What the routes read and send, described for the OpenAPI document (/openapi.json).

The routes read their bodies themselves (omnivox.api.body, with the strict models of omnivox.protocol), so
FastAPI knows no request body: each route states it through `openapi_extra`, from the same models, and
declares every status it answers with. Schemas that FastAPI does not place in `components` are inlined
(a `#/$defs/...` reference would resolve against the document's root, not the schema's).

Event streams are described one event at a time, as OpenAPI 3.1 tools read the `schema` of a
`text/event-stream` response: an object whose `data` is JSON (`contentMediaType`, `contentSchema`), or the
closing `[DONE]` of a chat stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from omnivox.protocol.errors import ErrorResponse

JsonSchema = dict[str, Any]
#: What the gateway may answer on any /v1 route before the route runs.
GATEWAY_ERRORS = (401, 429)
Responses = dict[int | str, dict[str, Any]]

_ERRORS: dict[int, str] = {
    400: "The request is invalid or asks for what this server does not do; `error.param` names the "
    "parameter.",
    401: "No API key, or an unknown one (when the server is configured with API keys).",
    403: "An ordinary API key where an admin key is needed, or no admin key is configured.",
    404: "The model (or the URL) does not exist.",
    413: "The request body exceeds the server's limit.",
    429: "The client's rate limit is spent (when the server is configured with rate limits); `retry-after` "
    "says when to try again.",
    500: "The model failed while serving a valid request.",
    502: 'The upstream model server (a model with `backend = "openai"`) cannot be reached or failed.',
    503: "The model's queue is full; try again later.",
    504: "The upstream model server did not answer in time.",
}


def inline_schema(annotation: Any, mode: Literal["validation", "serialization"]) -> JsonSchema:
    """The JSON schema of a model (or any type) with its `$defs` inlined where they are used."""
    schema: JsonSchema = TypeAdapter(annotation).json_schema(mode=mode)
    definitions: Mapping[str, JsonSchema] = schema.pop("$defs", {})

    def resolve(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = str(node["$ref"]).rsplit("/", 1)[-1]
            if name in seen:
                raise ValueError(f"{name} refers to itself: it cannot be inlined")
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return resolve({**definitions[name], **siblings}, (*seen, name))
        return {key: resolve(value, seen) for key, value in node.items()}

    resolved: JsonSchema = resolve(schema, ())
    return resolved


def json_request(model: type[BaseModel], example: Mapping[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body is parsed with `model`; `example` is a whole request
    that a server with its default settings answers (each of its fields becomes an example too)."""
    model.model_validate(example)
    schema = _with_examples(inline_schema(model, "validation"), example)
    media = {"schema": schema, "example": dict(example)}
    return {"requestBody": {"required": True, "content": {"application/json": media}}}


def form_request(
    model: type[BaseModel],
    *,
    file: str,
    names: Mapping[str, str],
    keep: Iterable[str],
    example: Mapping[str, Any],
) -> dict[str, Any]:
    """`openapi_extra` for a multipart upload: the binary part `file` and the fields of `model` that are in
    `keep`, each sent under its wire name (`names`: field -> name, e.g. `include` -> `include[]`). Form
    fields are text, so `null` is no option. `example` holds example values of some fields."""
    schema = inline_schema(model, "validation")
    kept = set(keep)
    properties: JsonSchema = {file: {"type": "string", "format": "binary"}}
    for field, definition in schema["properties"].items():
        if field in kept:
            properties[names.get(field, field)] = _without_null(definition)
    required = [file, *(names.get(f, f) for f in schema.get("required", []) if f in kept)]
    form = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    media = {"schema": _with_examples(form, example)}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": media}}}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """`parameters` of a route whose query is parsed with `model` (omnivox.api.query): one per field,
    a list as the parameter repeated."""
    schema = inline_schema(model, "validation")
    required = set(schema.get("required", []))
    parameters = []
    for name, definition in schema["properties"].items():
        described = {k: v for k, v in definition.items() if k not in ("description", "title")}
        parameters.append(
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "description": definition.get("description", ""),
                "schema": _without_null(described),
            }
        )
    return parameters


def _with_examples(schema: JsonSchema, example: Mapping[str, Any]) -> JsonSchema:
    """`schema` with the value of each field of `example` as that property's example."""
    properties = schema["properties"]
    for field, value in example.items():
        properties[field] = {**properties[field], "examples": [value]}
    return schema


def _without_null(definition: JsonSchema) -> JsonSchema:
    options = definition.get("anyOf")
    if not isinstance(options, list):
        return definition
    kept = [option for option in options if option != {"type": "null"}]
    rest = {k: v for k, v in definition.items() if k not in ("anyOf", "default")}
    if len(kept) == 1:
        return {**rest, **kept[0]}
    return {**rest, "anyOf": kept}


def event_stream(*events: type[BaseModel], done: bool) -> dict[str, Any]:
    """A `text/event-stream` media type whose events carry one of `events` as JSON, or an error (a failure
    after the status line was sent), and with `done` a last `data: [DONE]`."""
    payloads = [inline_schema(event, "serialization") for event in (*events, ErrorResponse)]
    json_data: JsonSchema = {"contentMediaType": "application/json", "contentSchema": {"anyOf": payloads}}
    data: JsonSchema = {
        "type": "string",
        **({"if": {"const": "[DONE]"}, "else": json_data} if done else json_data),
    }
    return {"schema": {"type": "object", "properties": {"data": data}, "required": ["data"]}}


def errors(*statuses: int) -> Responses:
    """Error responses, each in OpenAI's shape: {"error": {"message", "type", "param", "code"}}. Every
    /v1 route may also answer 401 and 429 (omnivox.api.gateway): those are always included."""
    return {
        status: {"model": ErrorResponse, "description": _ERRORS[status]}
        for status in sorted({*statuses, *GATEWAY_ERRORS})
    }


TEXT: dict[str, Any] = {"schema": {"type": "string"}}
BINARY: dict[str, Any] = {"schema": {"type": "string", "format": "binary"}}
