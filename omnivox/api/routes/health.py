"""GET /health: the server is up and its models are loaded (the app only serves once they are)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from omnivox import __version__
from omnivox.api.state import services
from omnivox.protocol.models import Health

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> Health:
    return Health(
        status="ok", version=__version__, models=[model.id for model in services(request).catalog.models]
    )
