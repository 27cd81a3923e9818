"""GET /metrics: Prometheus' text format (see omnivox.telemetry for what is counted)."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

router = APIRouter()


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"description": "Prometheus text format", "content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)
