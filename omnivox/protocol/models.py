"""Wire types of /v1/models and /health."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ModelCard(BaseModel):
    """OpenAI's Model object, plus `context_window` (tokens, prompt + completion) for chat models."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    context_window: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    """GET /health: the server is up; `models` are the ids of its language models."""

    status: Literal["ok"]
    version: str
    models: list[str]
