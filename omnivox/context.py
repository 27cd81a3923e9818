"""The request being served, as a context variable: its id (carried by every log line written while it is
served, worker threads included) and the chat tokens it used (charged to its client's rate limit when it
ends). Framework-free: the chat layer reports into it, the HTTP layer sets and reads it."""

from __future__ import annotations

import secrets
import time
from contextvars import ContextVar, Token
from dataclasses import dataclass, field


@dataclass
class RequestScope:
    id: str
    tokens: int = 0  # prompt + completion tokens of the chat completions served
    received: float = field(default_factory=time.monotonic)  # when the request arrived (monotonic clock)
    firsts: set[str] = field(default_factory=set)  # kinds of output already sent (first token, first audio)


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


def first_output(kind: str) -> float | None:
    """Seconds from the current request's arrival to its first output of `kind`; None when this is not
    its first output of that kind, or outside a request."""
    scope = _CURRENT.get()
    if scope is None or kind in scope.firsts:
        return None
    scope.firsts.add(kind)
    return time.monotonic() - scope.received


def charge_tokens(count: int) -> None:
    """Count chat tokens against the current request (nothing outside a request)."""
    scope = _CURRENT.get()
    if scope is not None:
        scope.tokens += count
