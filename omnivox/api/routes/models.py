"""GET /v1/models and /v1/models/{id}: every servable id, aliases included; chat models state their
context window."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from omnivox.api.openapi import errors
from omnivox.api.state import services
from omnivox.errors import ModelNotFound
from omnivox.protocol.models import ModelCard, ModelList
from omnivox.serving.catalog import ModelCatalog

router = APIRouter()

OWNER = "omnivox"


def _cards(catalog: ModelCatalog) -> list[ModelCard]:
    chat = [
        ModelCard(
            id=name,
            created=model.model.info.created,
            owned_by=OWNER,
            context_window=model.model.info.context_window,
        )
        for name, model in catalog.names()
    ]
    speech = [
        ModelCard(id=name, created=model.runtime.info.created, owned_by=OWNER)
        for name, model in catalog.speech_names()
    ]
    return chat + speech


@router.get("/v1/models", response_model_exclude_none=True, responses=errors())
async def list_models(request: Request) -> ModelList:
    return ModelList(data=_cards(services(request).catalog))


#: The id is read from the path itself (it may hold slashes), so FastAPI declares no parameter and no 422
#: for it: both are stated here.
_MODEL_ID = {
    "name": "model_id",
    "in": "path",
    "required": True,
    "description": "A model id as /v1/models lists it (it may contain `/`).",
    "schema": {"type": "string"},
}


@router.get(
    "/v1/models/{model_id:path}",
    response_model_exclude_none=True,
    openapi_extra={"parameters": [_MODEL_ID]},
    responses=errors(404),
)
async def retrieve_model(request: Request) -> ModelCard:
    model_id: str = request.path_params["model_id"]
    for card in _cards(services(request).catalog):
        if card.id == model_id:
            return card
    raise ModelNotFound(
        f"The model `{model_id}` does not exist or you do not have access to it.", param="model_id"
    )
