"""Query strings -> wire types, with OpenAI-shaped 400s that name the offending parameter. A list is the
parameter repeated (`group_by=model&group_by=api_key_id`), with or without `[]` after its name."""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams

from omnivox.api.body import to_invalid_request

M = TypeVar("M", bound=BaseModel)


@functools.cache
def _fields(model: type[BaseModel]) -> dict[str, bool]:
    """Each field of `model`, and whether it is a list."""
    properties: dict[str, dict[str, Any]] = model.model_json_schema()["properties"]
    return {
        name: any(option.get("type") == "array" for option in schema.get("anyOf", [schema]))
        for name, schema in properties.items()
    }


def parse_query(model: type[M], params: QueryParams) -> M:
    fields: dict[str, Any] = {}
    for name, is_list in _fields(model).items():
        if is_list:
            values = params.getlist(name) + params.getlist(f"{name}[]")
            if values:
                fields[name] = values
        elif name in params:
            fields[name] = params.getlist(name)[-1]
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise to_invalid_request(exc) from None
