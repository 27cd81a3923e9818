"""UpstreamChatModel: an OpenAI-compatible server (vLLM, llama.cpp's server, Ollama, another omnivox) as
omnivox's text stage. omnivox still hears `input_audio` and speaks the answer; the upstream only writes
text (and tool calls).

The request is passed on as OpenAI's own parameters: sampling, `n`, `logprobs`, `logit_bias`,
`response_format` and `tools`, where the settings do not say that the upstream ignores them (those the
plan refuses with a 400). The upstream's answer becomes the same events a local model produces. The HTTP
request runs in a task on the event loop: cancelling the stream (the client left) cancels the task, which
closes the connection, and the upstream stops generating.

Upstream failures become OpenAI errors: unreachable or broken off -> 502, no answer within
`read_timeout` -> 504, a request the upstream refuses as invalid -> 400 with its message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

import httpx

from omnivox.config import UpstreamModelSettings
from omnivox.errors import InvalidRequest, ModelLoadError, ServerOverloaded, UpstreamFailure, UpstreamTimeout
from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.chat_model import (
    Capabilities,
    Conversation,
    GenerationSpec,
    JsonSchema,
    Prompt,
    ServingInfo,
    ToolChoice,
)
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
from omnivox.runtimes.worker import ModelWorker, Ticket

log = logging.getLogger("omnivox.upstream")

_REASONS: frozenset[str] = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


@dataclass(frozen=True, slots=True)
class UpstreamPrompt(Prompt):
    messages: tuple[Mapping[str, Any], ...] = ()


class UpstreamChatModel:
    def __init__(self, settings: UpstreamModelSettings, worker: ModelWorker) -> None:
        self._settings = settings
        self._worker = worker
        self._url = settings.base_url.rstrip("/") + "/chat/completions"
        try:
            key = settings.key()
        except ValueError as exc:
            raise ModelLoadError(f"{settings.id!r}: {exc}") from None
        self._headers = {"authorization": f"Bearer {key}"} if key else {}
        self._timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        # Made once: building it loads the CA certificates, 23 ms measured, which per request was most
        # of the upstream hop's added time to first token (docs/benchmarks.md).
        self._tls = ssl.create_default_context()
        off = set(settings.unsupported)
        identity = f"{settings.base_url} {settings.upstream_model}".encode()
        self._info = ServingInfo(
            context_window=settings.context_window or self._probe_context_window(),
            fingerprint=f"fp_{hashlib.sha256(identity).hexdigest()[:10]}",
            created=int(time.time()),
            capabilities=Capabilities(
                logit_bias="logit_bias" not in off,
                logprobs="logprobs" not in off,
                seed="seed" not in off,
                n="n" not in off,
                json_schema="response_format" not in off,
                tools="tools" not in off,
                tool_choice="tool_choice" not in off,
            ),
        )

    def _probe_context_window(self) -> int | None:
        """The context window the upstream's /models states (vLLM: `max_model_len`; omnivox:
        `context_window`); None when it states none or cannot be asked now (it may start later)."""
        url = self._settings.base_url.rstrip("/") + "/models"
        try:
            found = httpx.get(url, headers=self._headers, timeout=min(self._settings.connect_timeout, 5.0))
            for card in found.json().get("data", []):
                if card.get("id") == self._settings.upstream_model:
                    window = card.get("context_window") or card.get("max_model_len")
                    return int(window) if isinstance(window, int) else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.warning("%s: could not ask %s for the context window: %s", self._settings.id, url, exc)
        return None

    @property
    def info(self) -> ServingInfo:
        return self._info

    @property
    def worker(self) -> ModelWorker:
        return self._worker

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        # The upstream renders its own template and counts its own tokens: the context is its to check.
        return UpstreamPrompt(None, 0, tuple(conversation.messages))

    def generate(self, prompt: Prompt, spec: GenerationSpec) -> UpstreamStream:
        if not isinstance(prompt, UpstreamPrompt):
            raise TypeError("UpstreamChatModel generates from its own prompts only")
        ticket = self._worker.admit()
        return UpstreamStream(self._events(self._body(prompt, spec), spec), ticket)

    def close(self) -> None:
        self._worker.shutdown()

    # --- the request ------------------------------------------------------------------------------------

    def _body(self, prompt: UpstreamPrompt, spec: GenerationSpec) -> dict[str, Any]:
        sampling = spec.sampling
        body: dict[str, Any] = {
            "model": self._settings.upstream_model,
            "messages": list(prompt.messages),
            "stream": spec.stream,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
        }
        optional: dict[str, Any] = {
            "frequency_penalty": sampling.frequency_penalty or None,
            "presence_penalty": sampling.presence_penalty or None,
            "seed": sampling.seed,
            "logit_bias": {str(t): b for t, b in sampling.logit_bias} or None,
            "max_tokens": spec.max_tokens,
            "stop": list(spec.stop) or None,
            "n": spec.n if spec.n > 1 else None,
        }
        body |= {k: v for k, v in optional.items() if v is not None}
        if spec.top_logprobs is not None:
            body |= {"logprobs": True, "top_logprobs": spec.top_logprobs}
        if spec.stream:
            body["stream_options"] = {"include_usage": True}
        if isinstance(spec.constraint, JsonSchema):
            body["response_format"] = _response_format(spec.constraint)
        elif isinstance(spec.constraint, ToolChoice):
            body |= _tools(spec.constraint)
        return body

    async def _events(self, body: dict[str, Any], spec: GenerationSpec) -> AsyncGenerator[Event, None]:
        where = self._settings.base_url
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout, headers=self._headers, verify=self._tls) as client,
                client.stream("POST", self._url, json=body) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise _refusal(where, response)
                if spec.stream:
                    async for event in _streamed(response, spec.n):
                        yield event
                else:
                    await response.aread()
                    for event in _whole(_json(where, response.text), spec.n):
                        yield event
        except httpx.TimeoutException as exc:
            kind = "connect to" if isinstance(exc, httpx.ConnectTimeout) else "hear from"
            limit = self._timeout.connect if kind == "connect to" else self._timeout.read
            raise UpstreamTimeout(
                f"The upstream model server at {where} did not answer: could not {kind} it within {limit} s."
            ) from None
        except httpx.HTTPError as exc:
            raise UpstreamFailure(
                f"The upstream model server at {where} cannot be reached or broke off: {exc!r}."
            ) from None


def _response_format(constraint: JsonSchema) -> dict[str, Any]:
    if constraint.schema is None:
        return {"type": "json_object"}
    spec: dict[str, Any] = {"name": constraint.name, "schema": dict(constraint.schema)}
    if constraint.strict is not None:
        spec["strict"] = constraint.strict
    return {"type": "json_schema", "json_schema": spec}


def _tools(choice: ToolChoice) -> dict[str, Any]:
    tools = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
        }
        for t in choice.tools
    ]
    body: dict[str, Any] = {"tools": tools}
    if choice.function is not None:
        body["tool_choice"] = {"type": "function", "function": {"name": choice.function}}
    elif choice.mode == "required":
        body["tool_choice"] = "required"
    if not choice.parallel and choice.function is None:
        body["parallel_tool_calls"] = False
    return body


# --- the answer ---------------------------------------------------------------------------------------


def _refusal(where: str, response: httpx.Response) -> Exception:
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


def _json(where: str, text: str) -> dict[str, Any]:
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


def _whole(answer: dict[str, Any], n: int) -> Iterator[Event]:
    choices = _Choices(n)
    for choice in answer.get("choices") or ():
        index = int(choice.get("index", 0))
        yield from choices.message(index, choice.get("message") or {}, choice.get("logprobs"))
        yield from choices.finish(index, choice.get("finish_reason"))
    yield from choices.rest()
    yield _usage(answer.get("usage")) or UsageReport(0, choices.deltas, 0)


async def _streamed(response: httpx.Response, n: int) -> AsyncIterator[Event]:
    choices = _Choices(n)
    usage: UsageReport | None = None
    async for line in response.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            break
        chunk = _json(str(response.url), data)
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


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a start error as seen: a non-streamed answer reads it from the events instead."""
    if not future.cancelled():
        future.exception()


class UpstreamStream:
    """The events of one upstream request, produced by a task of their own: `cancel` cancels the task,
    which closes the HTTP request. The admission ticket is released when the task ends."""

    def __init__(self, events: AsyncGenerator[Event, None], ticket: Ticket) -> None:
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._opened.add_done_callback(_retrieved)
        self._task = asyncio.create_task(self._pump(events))
        # a task cancelled before its first step never runs its `finally`: release on its end instead
        self._task.add_done_callback(lambda _: ticket.release())

    async def _pump(self, events: AsyncGenerator[Event, None]) -> None:
        try:
            async for event in events:
                self._open(None)
                self._queue.put_nowait(("item", event))
        except Exception as exc:  # handed to the consumer, which maps it to an error response
            self._open(exc)
            self._queue.put_nowait(("error", exc))
        finally:
            await events.aclose()  # closes the HTTP request when the task was cancelled
            self._open(None)
            self._queue.put_nowait(("end", None))

    def _open(self, error: Exception | None) -> None:
        if not self._opened.done():
            if error is None:
                self._opened.set_result(None)
            else:
                self._opened.set_exception(error)

    async def ready(self) -> None:
        """Once the first event came (or the request ended): an error before it raises here."""
        await asyncio.shield(self._opened)

    async def __aiter__(self) -> AsyncIterator[Event]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == "item":
                    yield value  # type: ignore[misc]
                elif kind == "error":
                    assert isinstance(value, Exception)
                    raise value
                else:
                    return
        finally:
            self.cancel()

    def cancel(self) -> None:
        self._task.cancel()
