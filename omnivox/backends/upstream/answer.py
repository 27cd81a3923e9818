"""An upstream's answer -> omnivox's events: a whole completion or its server-sent chunks, and an error
status -> the OpenAI error omnivox answers with."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, cast

import httpx

from omnivox.errors import InvalidRequest, ServerOverloaded, UpstreamFailure
from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.events import (
    Alternative,
    Event,
    Finished,
    TextDelta,
    TokenLogprob,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)

_REASONS: frozenset[str] = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def refusal(where: str, response: httpx.Response) -> Exception:
    """An upstream error status -> the OpenAI error omnivox answers with."""
    message, param, code = response.text[:500], None, None
    try:
        error = json.loads(response.text).get("error")
        if isinstance(error, dict):
            message, param, code = str(error.get("message") or message), error.get("param"), error.get("code")
        elif isinstance(error, str):
            message = error
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    if status in (400, 422):
        return InvalidRequest(
            f"The upstream model server refused the request: {message}",
            param=param if isinstance(param, str) else None,
            code=code if isinstance(code, str) else None,
        )
    if status == 429:
        return ServerOverloaded(f"The upstream model server is busy: {message}")
    return UpstreamFailure(f"The upstream model server at {where} answered {status}: {message}")


def parse_json(where: str, text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        raise UpstreamFailure(
            f"The upstream model server at {where} sent something that is not JSON."
        ) from None
    if not isinstance(found, dict):
        raise UpstreamFailure(f"The upstream model server at {where} sent an unexpected answer.")
    if isinstance(found.get("error"), dict):
        raise UpstreamFailure(f"The upstream model server failed: {found['error'].get('message')}")
    return found


def _reason(value: Any) -> FinishReason:
    return cast(FinishReason, value) if value in _REASONS else "stop"


def _logprobs(found: Any) -> tuple[TokenLogprob, ...] | None:
    if not isinstance(found, dict) or not isinstance(found.get("content"), list):
        return None
    return tuple(
        TokenLogprob(
            str(entry.get("token", "")),
            _bytes(entry),
            float(entry.get("logprob", 0.0)),
            tuple(
                Alternative(str(a.get("token", "")), _bytes(a), float(a.get("logprob", 0.0)))
                for a in entry.get("top_logprobs") or ()
            ),
        )
        for entry in found["content"]
    )


def _bytes(entry: Mapping[str, Any]) -> bytes:
    raw = entry.get("bytes")
    return bytes(raw) if isinstance(raw, list) else str(entry.get("token", "")).encode()


def _usage(found: Any) -> UsageReport | None:
    if not isinstance(found, dict):
        return None
    details = found.get("prompt_tokens_details") or {}
    return UsageReport(
        int(found.get("prompt_tokens") or 0),
        int(found.get("completion_tokens") or 0),
        int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


class _Choices:
    """What the events of an answer have said so far, so that each choice starts its calls once and
    finishes exactly once."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.calls: set[tuple[int, int]] = set()
        self.finished: set[int] = set()
        self.deltas = 0  # content and call deltas: the completion tokens when the upstream reports none

    def message(self, index: int, delta: Mapping[str, Any], logprobs: Any) -> Iterator[Event]:
        content, entries = delta.get("content"), _logprobs(logprobs)
        if content or entries:  # a token may add no text (the first byte of a character) but a logprob
            self.deltas += 1
            yield TextDelta(index, str(content or ""), entries)
        for position, call in enumerate(delta.get("tool_calls") or ()):
            number = int(call.get("index", position))
            function = call.get("function") or {}
            if (index, number) not in self.calls:
                self.calls.add((index, number))
                call_id = call.get("id") or f"call_{secrets.token_hex(12)}"
                yield ToolCallStart(index, number, str(call_id), str(function.get("name") or ""))
            if function.get("arguments"):
                self.deltas += 1
                yield ToolCallArguments(index, number, str(function["arguments"]))

    def finish(self, index: int, reason: Any) -> Iterator[Event]:
        if index not in self.finished:
            self.finished.add(index)
            yield Finished(index, _reason(reason))

    def rest(self) -> Iterator[Event]:
        for index in range(self.n):
            yield from self.finish(index, "stop")


def whole(answer: dict[str, Any], n: int) -> Iterator[Event]:
    choices = _Choices(n)
    for choice in answer.get("choices") or ():
        index = int(choice.get("index", 0))
        yield from choices.message(index, choice.get("message") or {}, choice.get("logprobs"))
        yield from choices.finish(index, choice.get("finish_reason"))
    yield from choices.rest()
    yield _usage(answer.get("usage")) or UsageReport(0, choices.deltas, 0)


async def streamed(response: httpx.Response, n: int) -> AsyncIterator[Event]:
    choices = _Choices(n)
    usage: UsageReport | None = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = parse_json(str(response.url), data)
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index", 0))
            for event in choices.message(index, choice.get("delta") or {}, choice.get("logprobs")):
                yield event
            if choice.get("finish_reason"):
                for event in choices.finish(index, choice["finish_reason"]):
                    yield event
        usage = _usage(chunk.get("usage")) or usage
    for event in choices.rest():
        yield event
    yield usage or UsageReport(0, choices.deltas, 0)
