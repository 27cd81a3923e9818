"""GET /v1/models and /v1/models/{id}: every servable id, aliases included, with its context window."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from omnivox.api.state import services
from omnivox.protocol.models import ModelCard, ModelList
from omnivox.runtimes.catalog import ServedModel

router = APIRouter()

OWNER = "omnivox"


def _card(name: str, model: ServedModel) -> ModelCard:
    info = model.runtime.info
    return ModelCard(id=name, created=info.created, owned_by=OWNER, context_window=info.context_window)


@router.get("/v1/models")
async def list_models(request: Request) -> ModelList:
    return ModelList(data=[_card(name, model) for name, model in services(request).catalog.names()])


@router.get("/v1/models/{model_id:path}")
async def retrieve_model(model_id: str, request: Request) -> ModelCard:
    return _card(model_id, services(request).catalog.resolve(model_id, param="model_id"))
