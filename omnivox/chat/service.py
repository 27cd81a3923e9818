"""Chat completions, orchestrated: plan -> prompt -> admission -> generation on the model's worker ->
response objects. Everything that can fail because of the request fails in `prepare`, before the HTTP
layer sends a status line."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio.to_thread

from omnivox.chat.events import Event, Finished, TextDelta, UsageReport
from omnivox.chat.generate import GenerationJob, generate
from omnivox.chat.plan import ChatPlan, build_plan
from omnivox.chat.prompt import PromptBuilder
from omnivox.chat.respond import ResponseBuilder
from omnivox.errors import ContextLengthExceeded, ModelFailure
from omnivox.protocol.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, FinishReason
from omnivox.runtimes.catalog import ModelCatalog
from omnivox.runtimes.worker import JobStream


@dataclass(frozen=True, slots=True)
class PreparedChat:
    plan: ChatPlan
    prompt: tuple[int, ...]


class ChatService:
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog
        self._prompts = {m.id: PromptBuilder(m.runtime) for m in catalog.models}

    async def prepare(self, request: ChatCompletionRequest) -> PreparedChat:
        plan = build_plan(request, self._catalog)
        builder = self._prompts[plan.model.id]
        prompt = await anyio.to_thread.run_sync(builder.tokens, plan.messages)
        self._check_context(plan, len(prompt))
        return PreparedChat(plan, tuple(prompt))

    @staticmethod
    def _check_context(plan: ChatPlan, prompt_tokens: int) -> None:
        window = plan.model.runtime.info.context_window
        if prompt_tokens >= window:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {window} tokens. However, your messages resulted "
                f"in {prompt_tokens} tokens. Please reduce the length of the messages.",
                param="messages",
            )
        if plan.max_tokens is not None and prompt_tokens + plan.max_tokens > window:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {window} tokens. However, you requested "
                f"{prompt_tokens + plan.max_tokens} tokens ({prompt_tokens} in the messages, "
                f"{plan.max_tokens} in the completion). Please reduce the length of the messages or "
                "completion.",
                param=plan.max_tokens_param,
            )

    def _start(self, prepared: PreparedChat) -> JobStream[Event]:
        """Admit (503 at once when the model's queue is full) and submit the generation."""
        plan = prepared.plan
        ticket = plan.model.worker.admit()
        limit = plan.max_tokens if plan.max_tokens is not None else plan.model.default_max_tokens
        job = GenerationJob(prepared.prompt, plan.sampling, limit, plan.stop)
        return plan.model.worker.submit(functools.partial(generate, plan.model.runtime, job), ticket)

    def _builder(self, plan: ChatPlan) -> ResponseBuilder:
        fingerprint = plan.model.runtime.info.fingerprint
        return ResponseBuilder(plan.model_name, fingerprint, include_usage=plan.include_usage)

    async def complete(self, prepared: PreparedChat) -> ChatCompletion:
        events = self._start(prepared)
        texts: list[str] = [""]
        reasons: list[FinishReason] = ["stop"]
        usage: UsageReport | None = None
        async for event in events:
            if isinstance(event, TextDelta):
                texts[event.index] += event.text
            elif isinstance(event, Finished):
                reasons[event.index] = event.reason
            else:
                usage = event
        if usage is None:
            raise ModelFailure("The generation ended without a result.")
        return self._builder(prepared.plan).completion(texts, reasons, usage)

    def stream(self, prepared: PreparedChat) -> AsyncIterator[ChatCompletionChunk]:
        """Admits and submits now (errors raise here, before streaming); chunks come as generated."""
        events = self._start(prepared)
        return self._chunks(prepared.plan, events)

    async def _chunks(self, plan: ChatPlan, events: JobStream[Event]) -> AsyncIterator[ChatCompletionChunk]:
        builder = self._builder(plan)
        try:
            yield builder.role_chunk(0)
            async for event in events:
                if isinstance(event, TextDelta):
                    yield builder.text_chunk(event.index, event.text)
                elif isinstance(event, Finished):
                    yield builder.finish_chunk(event.index, event.reason)
                elif plan.include_usage:
                    yield builder.usage_chunk(event)
        finally:
            events.cancel()
