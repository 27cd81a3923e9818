"""GET /health: the server is up and its models are loaded (the app only serves once they are)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request

from omnivox import __version__
from omnivox.api.state import services

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "models": [model.id for model in services(request).catalog.models],
    }
