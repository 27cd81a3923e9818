"""GET /v1/organization/usage/{completions,audio_speeches,audio_transcriptions} and /v1/organization/costs:
OpenAI's Usage and Costs APIs over omnivox's usage records (docs/usage.md). Admin keys only (the gateway
checks them)."""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from omnivox.api.openapi import Responses, errors, query_parameters
from omnivox.api.query import parse_query
from omnivox.protocol.usage import CompletionsQuery, CostsQuery, UsagePage, UsageQuery
from omnivox.usage.accounts import UsageAccounts
from omnivox.usage.counts import Surface

router = APIRouter()


def _described(query: type[CompletionsQuery | UsageQuery | CostsQuery], what: str) -> dict[str, Any]:
    responses: Responses = {
        200: {"model": UsagePage, "description": f"{what}, one time bucket after another."},
        **errors(400, 403),
    }
    return {
        "response_model": None,
        "openapi_extra": {"parameters": query_parameters(query)},
        "responses": responses,
    }


def _accounts(request: Request) -> UsageAccounts:
    found: UsageAccounts = request.app.state.usage
    return found


async def _usage_page(
    request: Request, surface: Surface, kind: type[UsageQuery] | type[CompletionsQuery]
) -> JSONResponse:
    """One usage surface's page: the query parsed, the records read off the event loop."""
    query = parse_query(kind, request.query_params)
    usage = _accounts(request).usage
    page = await anyio.to_thread.run_sync(usage, surface, query, int(time.time()))
    return JSONResponse(page.model_dump(mode="json"))


@router.get("/v1/organization/usage/completions", **_described(CompletionsQuery, "Chat completions usage"))
async def usage_completions(request: Request) -> JSONResponse:
    return await _usage_page(request, "completions", CompletionsQuery)


@router.get("/v1/organization/usage/audio_speeches", **_described(UsageQuery, "Text-to-speech usage"))
async def usage_audio_speeches(request: Request) -> JSONResponse:
    return await _usage_page(request, "audio_speeches", UsageQuery)


@router.get("/v1/organization/usage/audio_transcriptions", **_described(UsageQuery, "Speech-to-text usage"))
async def usage_audio_transcriptions(request: Request) -> JSONResponse:
    return await _usage_page(request, "audio_transcriptions", UsageQuery)


@router.get("/v1/organization/costs", **_described(CostsQuery, "Costs at the configured prices"))
async def costs(request: Request) -> JSONResponse:
    query = parse_query(CostsQuery, request.query_params)
    page = await anyio.to_thread.run_sync(_accounts(request).costs, query, int(time.time()))
    return JSONResponse(page.model_dump(mode="json"))
