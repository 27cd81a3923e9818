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

import hashlib
import logging
import ssl
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from omnivox.backends.upstream.answer import parse_json, refusal, streamed, whole
from omnivox.backends.upstream.stream import UpstreamStream
from omnivox.config import UpstreamModelSettings
from omnivox.errors import ModelLoadError, UpstreamFailure, UpstreamTimeout
from omnivox.runtimes.chat_model import (
    Capabilities,
    Conversation,
    GenerationSpec,
    JsonSchema,
    Prompt,
    ServingInfo,
    ToolChoice,
)
from omnivox.runtimes.events import Event, TextDelta, ToolCallArguments, UsageReport
from omnivox.runtimes.worker import ModelWorker

log = logging.getLogger("omnivox.upstream")


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
        messages = tuple(conversation.messages)
        answer = _answer(spec)
        if answer is not None and not answer.enforced:  # asked for in the prompt only
            messages = ({"role": "system", "content": answer.instructions()}, *messages)
        return UpstreamPrompt(None, 0, messages)

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
        answer = _answer(spec)
        if answer is not None and answer.enforced:
            body["response_format"] = _response_format(answer)
        if isinstance(spec.constraint, ToolChoice):
            body |= _tools(spec.constraint)
        return body

    async def _events(self, body: dict[str, Any], spec: GenerationSpec) -> AsyncGenerator[Event, None]:
        """The upstream's events; what it used is reported when they end, however they end: its own
        usage when it sent one, else the deltas received (one token each from the servers we know)."""
        report: UsageReport | None = None
        deltas = 0
        try:
            async for event in self._request(body, spec):
                if isinstance(event, UsageReport):
                    report = event
                elif isinstance(event, TextDelta | ToolCallArguments):
                    deltas += 1
                yield event
        finally:
            if spec.on_usage is not None:
                spec.on_usage(report or UsageReport(0, deltas, 0))

    async def _request(self, body: dict[str, Any], spec: GenerationSpec) -> AsyncGenerator[Event, None]:
        where = self._settings.base_url
        try:
            async with (
                httpx.AsyncClient(timeout=self._timeout, headers=self._headers, verify=self._tls) as client,
                client.stream("POST", self._url, json=body) as response,
            ):
                if response.status_code >= 400:
                    await response.aread()
                    raise refusal(where, response)
                if spec.stream:
                    async for event in streamed(response, spec.n):
                        yield event
                else:
                    await response.aread()
                    for event in whole(parse_json(where, response.text), spec.n):
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


def _answer(spec: GenerationSpec) -> JsonSchema | None:
    """What an answer (not a call) must follow: the response_format, alone or given with tools."""
    constraint = spec.constraint
    return constraint.answer if isinstance(constraint, ToolChoice) else constraint


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
