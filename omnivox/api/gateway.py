"""What every request passes through before its route (a plain ASGI middleware, so streamed responses
are not buffered):

1. a request id (`req_...`): the current request's scope for log lines, returned as `x-request-id`;
2. on /v1/*: the API key (401 `invalid_api_key`) when keys are configured -- on /v1/organization/* an
   admin key, always (401, or 403 for an ordinary key) -- then the client's rate limit (429
   `rate_limit_exceeded` with `retry-after`); `x-ratelimit-*` headers on every /v1 response; the key's label
   and the usage accounts in the request's scope, for the services to record what the request used;
3. when the response has ended: the requests metric by route and status, the chat tokens the request used
   charged to its client, and one access log line (keys appear only as their labels).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnivox.api.errors import error_response
from omnivox.api.keys import ADMIN_PREFIX, AdminKeys, ApiKeys
from omnivox.api.ratelimit import RateLimiter
from omnivox.context import RequestScope, UsageSink, enter_request, leave_request, new_request_id
from omnivox.errors import OmnivoxError, RateLimited
from omnivox.telemetry import Telemetry

access = logging.getLogger("omnivox.access")

#: Routes whose token use counts against tokens per minute.
_TOKEN_ROUTES = ("/v1/chat/completions",)


class Gateway:
    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: ApiKeys,
        limiter: RateLimiter,
        telemetry: Telemetry,
        routes: Sequence[BaseRoute],
        admin_keys: AdminKeys | None = None,
        usage: UsageSink | None = None,
    ) -> None:
        self._app = app
        self._routes = routes
        self._keys = keys
        self._admin_keys = admin_keys or AdminKeys(ApiKeys([]), keys)
        self._usage = usage
        self._limiter = limiter
        self._telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request = RequestScope(new_request_id())
        token = enter_request(request)
        started = time.monotonic()
        path: str = scope["path"]
        status = 500
        client = "-"
        extra_headers: dict[str, str] = {}

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request.id
                for name, value in extra_headers.items():
                    headers[name] = value
            await send(message)

        try:
            if path.startswith("/v1/"):
                try:
                    client = self._client(scope, path)
                    self._admit(client, path)
                    request.api_key = client if self._keys.required else None
                    request.usage = self._usage
                except OmnivoxError as exc:
                    response = error_response(exc)
                    if isinstance(exc, RateLimited):
                        response.headers.update(exc.headers)
                    await response(scope, receive, send_with_headers)
                    return
                if self._limiter.enabled:
                    extra_headers = self._limiter.headers(client)
            await self._app(scope, receive, send_with_headers)
        finally:
            elapsed = time.monotonic() - started
            if path.startswith("/v1/") and request.tokens:
                self._limiter.charge(client, request.tokens)
            route = self._route_of(scope)
            self._telemetry.requests.labels(route, scope["method"], str(status)).inc()
            self._telemetry.request_seconds.labels(route).observe(elapsed)
            access.info("%s %s %d %.3fs client=%s", scope["method"], path, status, elapsed, client)
            leave_request(token)

    def _client(self, scope: Scope, path: str) -> str:
        """Who the request is charged to: its key's label, or its address when no keys are set."""
        if path.startswith(ADMIN_PREFIX):
            return self._admin_keys.check(Headers(scope=scope).get("authorization"))
        if self._keys.required:
            return self._keys.check(Headers(scope=scope).get("authorization"))
        peer = scope.get("client")
        return f"addr_{peer[0]}" if peer else "addr_unknown"

    def _admit(self, client: str, path: str) -> None:
        if self._limiter.enabled:
            self._limiter.admit(client, uses_tokens=path in _TOKEN_ROUTES)

    def _route_of(self, scope: Scope) -> str:
        """The route's path template (bounded label values for metrics), also for requests refused
        before routing; `unmatched` for paths no route serves."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self._routes if r.matches(scope)[0] is Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"
