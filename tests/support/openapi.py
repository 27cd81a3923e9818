"""Validate what the server sends against OpenAI's own OpenAPI description (../shared/spec).

The file is OpenAPI 3.1 but still marks some schemas `nullable: true` (a 3.0 keyword that JSON Schema
ignores); those are rewritten to also admit null, which is what the keyword means.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[2]
SPEC = Path(os.environ.get("OMNIVOX_OPENAPI_SPEC", REPO.parent / "shared" / "spec" / "openai-openapi.yaml"))
_PREFIX = "urn:openai:"


def _admit_null(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _admit_null(v) for k, v in node.items()}
        if out.pop("nullable", False):
            out = {"anyOf": [out, {"type": "null"}]}
        return out
    if isinstance(node, list):
        return [_admit_null(v) for v in node]
    if isinstance(node, str) and node.startswith("#/components/schemas/"):
        return _PREFIX + node.removeprefix("#/components/schemas/")
    return node


@functools.cache
def _schemas() -> dict[str, Any]:
    with SPEC.open(encoding="utf-8") as f:
        document = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    result: dict[str, Any] = _admit_null(document["components"]["schemas"])
    return result


@functools.cache
def _registry() -> Registry:
    resources = [
        (_PREFIX + name, Resource.from_contents(schema, default_specification=DRAFT202012))
        for name, schema in _schemas().items()
    ]
    return Registry().with_resources(resources)


def validate(instance: Any, schema_name: str) -> None:
    """Raise jsonschema.ValidationError unless `instance` is a valid `schema_name` of the spec."""
    schema = {"$ref": _PREFIX + schema_name}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error
