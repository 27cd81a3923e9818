"""The one error hierarchy. Each class fixes the HTTP status and OpenAI error `type`; the API layer maps
any `OmnivoxError` to `{"error": {"message", "type", "param", "code"}}` by class, never by message text.

Nothing here imports the web framework: runtimes and orchestration raise these directly.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OmnivoxError(Exception):
    """Base class. `param` names the offending request parameter (`messages[2].role`), `code` is a
    machine-readable string or None."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def to_body(self) -> dict[str, Any]:
        """The OpenAI error body."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(OmnivoxError):
    """The client sent something we cannot accept (400)."""

    status = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class UnsupportedParameter(InvalidRequest):
    """A parameter of OpenAI's API that this server does not honour (yet); refused, never ignored."""

    default_code = "unsupported_parameter"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


class NotFound(OmnivoxError):
    status = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class MethodNotAllowed(OmnivoxError):
    status = 405
    error_type = "invalid_request_error"
    default_code = "method_not_allowed"


class RequestTooLarge(OmnivoxError):
    status = 413
    error_type = "invalid_request_error"
    default_code = "request_too_large"


class AuthenticationFailed(OmnivoxError):
    """No API key, or one that is not configured (401)."""

    status = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(OmnivoxError):
    """A known key that may not do this: an ordinary key on the admin routes, or none configured (403)."""

    status = 403
    error_type = "invalid_request_error"
    default_code = "insufficient_permissions"


class RateLimited(OmnivoxError):
    """A client spent its requests per minute (429). OpenAI names the exhausted limit in `type`."""

    status = 429
    error_type = "requests"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers  # retry-after, retry-after-ms, x-ratelimit-*


class TokenRateLimited(RateLimited):
    error_type = "tokens"


class ServerOverloaded(OmnivoxError):
    """A runtime's bounded queue is full; answered at once instead of queueing without end (503)."""

    status = 503
    error_type = "server_error"
    default_code = "server_overloaded"


class ModelFailure(OmnivoxError):
    """The model runtime failed while serving a valid request (500)."""

    status = 500
    error_type = "server_error"
    default_code = "model_error"


class UpstreamFailure(OmnivoxError):
    """The upstream model server (an OpenAI-compatible text stage) cannot be reached, broke off, or
    failed (502)."""

    status = 502
    error_type = "server_error"
    default_code = "upstream_error"


class UpstreamTimeout(OmnivoxError):
    """The upstream model server did not answer in time (504)."""

    status = 504
    error_type = "server_error"
    default_code = "upstream_timeout"


class ModelLoadError(Exception):
    """A configured model could not be loaded at start-up. Not an API error: the server refuses to start."""
