"""Chat completions, orchestrated: plan -> prompt -> admission -> generation on the model's worker ->
response objects. Everything that can fail because of the request fails in `prepare`, before the HTTP
layer sends a status line."""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import anyio.to_thread

from omnivox.chat.events import Event, Finished, TextDelta, UsageReport
from omnivox.chat.generate import GenerationJob, Tally, generate
from omnivox.chat.hearing import Hearing
from omnivox.chat.messages import audio_parts, audio_refs, render
from omnivox.chat.plan import ChatPlan, build_plan
from omnivox.chat.prompt import PromptBuilder
from omnivox.chat.respond import ChoiceResult, ResponseBuilder
from omnivox.chat.speaking import Speaker
from omnivox.chat.streaming import spoken_chunks, text_chunks, tool_chunks
from omnivox.chat.tools import parse_calls
from omnivox.config import AudioSettings, RequestLimits
from omnivox.context import charge_tokens, record_usage, usage_recorder
from omnivox.errors import ContextLengthExceeded, ModelFailure
from omnivox.protocol.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from omnivox.runtimes.catalog import ModelCatalog
from omnivox.runtimes.worker import JobStream
from omnivox.synthesis.service import audio_tokens
from omnivox.telemetry import Telemetry
from omnivox.usage.counts import Surface, Usage, chat_usage, spoken_usage


@dataclass(frozen=True, slots=True)
class PreparedChat:
    plan: ChatPlan
    prompt: tuple[int, ...]
    audio_tokens: int  # prompt tokens that stand for audio input (its transcript blocks)
    received: float  # time.monotonic() when preparation began: time to first token counts from here


class ChatService:
    def __init__(
        self,
        catalog: ModelCatalog,
        speaker: Speaker,
        *,
        audio: AudioSettings | None = None,
        max_choices: int = 8,
        limits: RequestLimits | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._catalog = catalog
        self._limits = limits or RequestLimits()
        self._speaker = speaker
        self._max_choices = max_choices
        self._telemetry = telemetry or Telemetry()
        self._hearing = Hearing(catalog.hearing, audio or AudioSettings(), self._telemetry)
        self._prompts = {m.id: PromptBuilder(m.runtime) for m in catalog.models}

    async def prepare(self, request: ChatCompletionRequest) -> PreparedChat:
        received = time.monotonic()
        plan = await anyio.to_thread.run_sync(
            functools.partial(
                build_plan, request, self._catalog, max_choices=self._max_choices, limits=self._limits
            )
        )
        recalled = await self._speaker.recall(audio_refs(plan.messages))
        heard = await self._hearing.hear(audio_parts(plan.messages))
        messages = render(plan.messages, [h.block for h in heard], recalled)
        runtime = plan.model.runtime
        instructions = plan.tools.instructions if plan.tools else None
        prompt = await anyio.to_thread.run_sync(self._prompts[plan.model.id].tokens, messages, instructions)
        self._check_context(plan, len(prompt))
        audio_tokens = sum(len(runtime.tokenize(h.block)) for h in heard)
        return PreparedChat(plan, tuple(prompt), min(audio_tokens, len(prompt)), received)

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
        job = GenerationJob(
            prepared.prompt,
            plan.sampling,
            limit,
            plan.stop,
            plan.n,
            plan.top_logprobs,
            prepared.audio_tokens,
            plan.grammar,
        )
        events = plan.model.worker.submit(functools.partial(self._charged, plan, job), ticket)
        events.watch(self._observer(prepared))
        return events

    def _charged(self, plan: ChatPlan, job: GenerationJob, cancelled: threading.Event) -> Iterator[Event]:
        """The generation, on the model's worker. What it used is charged when it ends, however it ends:
        a stream cut short is charged the prompt and every token generated until then."""
        tally = Tally()
        try:
            yield from generate(plan.model.runtime, job, cancelled, tally)
        finally:
            self._charge(plan, tally.report())

    def _charge(self, plan: ChatPlan, used: UsageReport) -> None:
        """The tokens used, into the metrics, the client's rate limit and its usage record."""
        self._telemetry.count_tokens(
            plan.model.id, used.prompt_tokens, used.completion_tokens, used.cached_tokens
        )
        charge_tokens(used.prompt_tokens + used.completion_tokens)
        usage = chat_usage(used.prompt_tokens, used.completion_tokens, used.cached_tokens, used.audio_tokens)
        record_usage("completions", plan.model_name, usage)

    @staticmethod
    def _charge_spoken(plan: ChatPlan, record: Callable[[Surface, str, Usage], None], seconds: float) -> None:
        """A spoken answer's audio tokens (as its `usage` counts them) into its usage record."""
        record("completions", plan.model_name, spoken_usage(audio_tokens(seconds), seconds))

    def _observer(self, prepared: PreparedChat) -> Callable[[Event], None]:
        """Records the time to first token."""
        model = prepared.plan.model.id
        waiting = True

        def observe(event: Event) -> None:
            nonlocal waiting
            if waiting and isinstance(event, TextDelta):
                waiting = False
                self._telemetry.first_token.labels(model).observe(time.monotonic() - prepared.received)

        return observe

    def _builder(self, plan: ChatPlan) -> ResponseBuilder:
        fingerprint = plan.model.runtime.info.fingerprint
        return ResponseBuilder(plan.model_name, fingerprint, include_usage=plan.include_usage)

    async def complete(self, prepared: PreparedChat) -> ChatCompletion:
        plan = prepared.plan
        events = self._start(prepared)
        with_logprobs = plan.top_logprobs is not None
        choices = [ChoiceResult(logprobs=[] if with_logprobs else None) for _ in range(plan.n)]
        usage: UsageReport | None = None
        async for event in events:
            if isinstance(event, TextDelta):
                choice = choices[event.index]
                choice.text += event.text
                if choice.logprobs is not None and event.logprobs is not None:
                    choice.logprobs.extend(event.logprobs)
            elif isinstance(event, Finished):
                choices[event.index].finish_reason = event.reason
            else:
                usage = event
        if usage is None:
            raise ModelFailure("The generation ended without a result.")
        if plan.tools is not None:
            for choice in choices:
                choice.tool_calls = parse_calls(choice.text)
                if choice.tool_calls:
                    choice.finish_reason = "tool_calls"
        if plan.speech is not None and not choices[0].tool_calls:  # a turn that calls tools is not spoken
            charge = functools.partial(self._charge_spoken, plan, record_usage)  # on the voice's worker
            choices[0].audio = await self._speaker.speak(
                plan.speech, choices[0].text, prepared.received, charge
            )
        return self._builder(plan).completion(choices, usage)

    def stream(self, prepared: PreparedChat) -> AsyncIterator[ChatCompletionChunk]:
        """Admits and submits now (errors raise here, before streaming); chunks come as generated."""
        events = self._start(prepared)
        builder = self._builder(prepared.plan)
        chunks: AsyncIterator[ChatCompletionChunk]
        if prepared.plan.speech is not None:
            chunks = spoken_chunks(
                prepared.plan.speech,
                events,
                builder,
                self._speaker,
                received=prepared.received,
                charge=functools.partial(self._charge_spoken, prepared.plan, usage_recorder()),
            )
        elif prepared.plan.tools is not None:
            chunks = tool_chunks(prepared.plan, events, builder)
        else:
            chunks = text_chunks(prepared.plan, events, builder)
        # A stream that is dropped unread (its client left before the first chunk) never runs its
        # `finally`: cancel the generation when the stream object goes away.
        weakref.finalize(chunks, events.cancel)
        return chunks
