"""The request being served, as a context variable: its id (carried by every log line written while it is
served, worker threads included) and the chat tokens it used (charged to its client's rate limit when it
ends). Framework-free: the chat layer reports into it, the HTTP layer sets and reads it."""

from __future__ import annotations

import secrets
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class RequestScope:
    id: str
    tokens: int = 0  # prompt + completion tokens of the chat completions served


_CURRENT: ContextVar[RequestScope | None] = ContextVar("omnivox_request", default=None)


def new_request_id() -> str:
    return f"req_{secrets.token_hex(16)}"


def current_request() -> RequestScope | None:
    return _CURRENT.get()


def enter_request(scope: RequestScope) -> Token[RequestScope | None]:
    """Make `scope` current; returns the token that `leave_request` takes."""
    return _CURRENT.set(scope)


def leave_request(token: Token[RequestScope | None]) -> None:
    _CURRENT.reset(token)


def charge_tokens(count: int) -> None:
    """Count chat tokens against the current request (nothing outside a request)."""
    scope = _CURRENT.get()
    if scope is not None:
        scope.tokens += count
