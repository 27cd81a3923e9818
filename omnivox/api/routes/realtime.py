"""WebSocket /v1/realtime: OpenAI's Realtime API (GA dialect). The route accepts, checks the key and the
limits as OpenAI does (an `error` event, then a close carrying the reason), then runs one reader (client
events, in order) and one writer (server events) until either side ends.

The key comes as `Authorization: Bearer` or, from browsers, as the subprotocol
`openai-insecure-api-key.<KEY>` next to `realtime`, which is the subprotocol chosen. Every frame sent is
JSON text well under 1 MiB (the SDKs' default frame limit)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from starlette.websockets import WebSocket, WebSocketDisconnect

from omnivox.api.keys import ApiKeys
from omnivox.api.ratelimit import RateLimiter
from omnivox.api.state import Services
from omnivox.context import RequestScope, enter_request, leave_request, new_request_id
from omnivox.errors import AuthenticationFailed, InvalidRequest, OmnivoxError, RateLimited
from omnivox.realtime.connection import Connection
from omnivox.realtime.wire import Event, error

router = APIRouter()

KEY_PROTOCOL = "openai-insecure-api-key."
#: Close codes: OpenAI closes 3000 after an authentication error and 4000 after a refused session.
CLOSE_AUTH, CLOSE_REFUSED, CLOSE_TRY_LATER = 3000, 4000, 1013


def _presented_key(ws: WebSocket) -> str | None:
    for protocol in ws.scope.get("subprotocols", []):
        if protocol.startswith(KEY_PROTOCOL):
            return str(protocol[len(KEY_PROTOCOL) :])
    scheme, _, key = (ws.headers.get("authorization") or "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


def _client(ws: WebSocket, keys: ApiKeys) -> str:
    if not keys.required:
        peer = ws.client
        return f"addr_{peer.host}" if peer else "addr_unknown"
    presented = _presented_key(ws)
    if presented is None:
        raise AuthenticationFailed(
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    label = keys.find(presented)
    if label is None:
        raise AuthenticationFailed("Incorrect API key provided.")
    return label


async def _refuse(ws: WebSocket, exc: OmnivoxError, code: int) -> None:
    await ws.send_text(json.dumps(error(exc, None)))
    await ws.close(code, reason=f"{exc.to_body()['error']['type']}.{exc.to_body()['error']['code']}"[:120])


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    keys: ApiKeys = ws.app.state.keys
    limiter: RateLimiter = ws.app.state.limiter
    offered = ws.scope.get("subprotocols", [])
    await ws.accept(subprotocol="realtime" if "realtime" in offered else None)
    try:
        client = _client(ws, keys)
    except AuthenticationFailed as exc:
        await _refuse(ws, exc, CLOSE_AUTH)
        return
    if ws.headers.get("openai-beta", "").startswith("realtime") or "openai-beta.realtime-v1" in offered:
        beta = InvalidRequest(
            "The beta Realtime API shape is not served; use the GA interface (client.realtime).",
            param=None,
            code="beta_api_shape_disabled",
        )
        await _refuse(ws, beta, CLOSE_REFUSED)
        return

    def admit() -> None:
        if limiter.enabled:
            limiter.admit(client, uses_tokens=True)

    def charge(tokens: int) -> None:
        if limiter.enabled:
            limiter.charge(client, tokens)

    try:
        admit()
        connection = services.realtime.open(ws.query_params.get("model"), admit=admit, charge=charge)
    except RateLimited as exc:
        await _refuse(ws, exc, CLOSE_TRY_LATER)
        return
    except OmnivoxError as exc:
        await _refuse(ws, exc, CLOSE_TRY_LATER)
        return
    scope = RequestScope(
        new_request_id(), api_key=client if keys.required else None, usage=ws.app.state.usage
    )
    token = enter_request(scope)
    try:
        await _serve(ws, connection)
    finally:
        services.realtime.closed()
        leave_request(token)


async def _serve(ws: WebSocket, connection: Connection) -> None:
    async def transmit(item: Event) -> None:
        await ws.send_text(json.dumps(item, separators=(",", ":")))

    writer = asyncio.create_task(connection.outbox.pump(transmit))
    try:
        await connection.start()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            await _dispatch(connection, message)
            if writer.done():  # the client stopped reading: the socket is gone
                break
    except WebSocketDisconnect:
        pass
    finally:
        await connection.close()
        writer.cancel()
        with contextlib.suppress(BaseException):
            await writer


async def _dispatch(connection: Connection, message: Mapping[str, Any]) -> None:
    text = message.get("text")
    if text is None:
        refused = InvalidRequest("Expected a text WebSocket message.", param=None, code="invalid_event")
        await connection.outbox.put(error(refused, None))
        return
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        bad = InvalidRequest(f"Invalid JSON: {exc.msg}.", param=None, code="invalid_json")
        await connection.outbox.put(error(bad, None))
        return
    await connection.handle(parsed)
