"""The request being served, as a context variable: its id (carried by every log line written while it is
served, worker threads included), the chat tokens it used (charged to its client's rate limit when it
ends), and where its usage is recorded, under its API key's label. Framework-free: the services report
into it, the HTTP layer sets and reads it."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Protocol

from omnivox.usage.counts import Surface, Usage


class UsageSink(Protocol):
    def record(self, api_key: str | None, surface: Surface, model: str, usage: Usage) -> None: ...


@dataclass
class RequestScope:
    id: str
    tokens: int = 0  # prompt + completion tokens of the chat completions served
    api_key: str | None = None  # the label of the request's API key; None: no keys are configured
    usage: UsageSink | None = None  # where its usage is recorded; None: nowhere
    received: float = field(default_factory=time.monotonic)  # when the request arrived (monotonic clock)
    firsts: set[str] = field(default_factory=set)  # kinds of output already sent (first token, first audio)
    marks: dict[str, float] = field(default_factory=dict)  # stage -> when it first ended (monotonic clock)


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


def mark(stage: str) -> None:
    """Note that the current request's `stage` has just ended (its first time only; any thread: worker
    threads run in the request's context). Nothing outside a request."""
    scope = _CURRENT.get()
    if scope is not None:
        scope.marks.setdefault(stage, time.monotonic())


def stages() -> list[tuple[str, float]]:
    """The current request's stages so far, in the order they ended, each with its seconds: from the end
    of the stage before it (the first from the request's arrival). Their sum is the time from arrival
    to the last mark."""
    scope = _CURRENT.get()
    if scope is None:
        return []
    timed: list[tuple[str, float]] = []
    last = scope.received
    for stage, at in sorted(scope.marks.items(), key=lambda item: item[1]):
        timed.append((stage, at - last))
        last = at
    return timed


def charge_tokens(count: int) -> None:
    """Count chat tokens against the current request (nothing outside a request)."""
    scope = _CURRENT.get()
    if scope is not None:
        scope.tokens += count


def record_usage(surface: Surface, model: str, usage: Usage) -> None:
    """Record what the current request used (nothing outside a request). Any thread: worker threads run
    in the request's context, so a generation cut short still records what it generated."""
    usage_recorder()(surface, model, usage)


def usage_recorder() -> Callable[[Surface, str, Usage], None]:
    """`record_usage` bound to the current request, for code that may run in another context: the
    `finally` of an async generator closed by the garbage collector runs in whichever task collected it."""
    scope = _CURRENT.get()

    def record(surface: Surface, model: str, usage: Usage) -> None:
        if scope is not None and scope.usage is not None:
            scope.usage.record(scope.api_key, surface, model, usage)

    return record
