"""Every error leaves the server in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from omnivox.errors import MethodNotAllowed, NotFound, OmnivoxError

log = logging.getLogger("omnivox.api")


def error_response(exc: OmnivoxError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status)


async def _omnivox_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OmnivoxError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(NotFound(f"Unknown request URL: {request.method} {request.url.path}."))
    if exc.status_code == 405:
        return error_response(
            MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
        )
    error = OmnivoxError(str(exc.detail))
    return JSONResponse(
        {"error": {**error.to_body()["error"], "type": "invalid_request_error"}}, status_code=exc.status_code
    )


async def _unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(OmnivoxError("The server had an error while processing your request."))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OmnivoxError, _omnivox_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
