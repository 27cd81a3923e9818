"""Query strings -> wire types, with OpenAI-shaped 400s that name the offending parameter. A list is the
parameter repeated (`group_by=model&group_by=api_key_id`), with or without `[]` after its name."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from omnivox.api.body import to_invalid_request

M = TypeVar("M", bound=BaseModel)


def _is_list(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", [schema])
    return any(option.get("type") == "array" for option in options)


def parse_query(model: type[M], params: QueryParams) -> M:
    properties = model.model_json_schema()["properties"]
    fields: dict[str, Any] = {}
    for name, schema in properties.items():
        if _is_list(schema):
            values = params.getlist(name) + params.getlist(f"{name}[]")
            if values:
                fields[name] = values
        elif name in params:
            fields[name] = params.getlist(name)[-1]
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise to_invalid_request(exc) from None
