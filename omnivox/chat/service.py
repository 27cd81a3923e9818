"""Chat completions, orchestrated: plan -> prompt -> admission -> generation on the model's worker ->
response objects. Everything that can fail because of the request fails in `prepare`, before the HTTP
layer sends a status line."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import anyio.to_thread

from omnivox.chat.hearing import Hearing
from omnivox.chat.messages import audio_parts, audio_refs, lone_audio, render
from omnivox.chat.plan import ChatPlan, SpeechPlan, build_plan
from omnivox.chat.respond import ChoiceResult, ResponseBuilder
from omnivox.chat.speaking import Speaker
from omnivox.chat.streaming import spoken_chunks, text_chunks
from omnivox.config import AudioSettings, RequestLimits
from omnivox.context import charge_tokens, mark, record_usage, usage_recorder
from omnivox.errors import ContextLengthExceeded, ModelFailure
from omnivox.protocol.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionRequest
from omnivox.runtimes.chat_model import (
    UNHEARD,
    Conversation,
    EventStream,
    GenerationSpec,
    Holdable,
    Prompt,
)
from omnivox.runtimes.events import (
    AudioDelta,
    Event,
    Finished,
    TextDelta,
    ToolCall,
    ToolCallArguments,
    ToolCallStart,
    UsageReport,
)
from omnivox.runtimes.worker import Ticket
from omnivox.serving.catalog import ModelCatalog
from omnivox.synthesis.service import audio_tokens
from omnivox.telemetry import Telemetry
from omnivox.usage.counts import Surface, Usage, chat_usage, spoken_usage


@dataclass(frozen=True, slots=True)
class PreparedChat:
    plan: ChatPlan
    spec: GenerationSpec
    prompt: Prompt  # the model's own prompt (tokens for a local model, messages for an upstream one)


def generation_spec(plan: ChatPlan) -> GenerationSpec:
    return GenerationSpec(
        sampling=plan.sampling,
        max_tokens=plan.max_tokens,
        stop=plan.stop,
        n=plan.n,
        top_logprobs=plan.top_logprobs,
        constraint=plan.constraint,
        stream=plan.stream,
        voice=plan.speech.requested if plan.speech is not None and plan.speech.voice is None else None,
    )


class _Observed:
    """A model's event stream, watched as the consumer reads it: the one place where time to first token
    and the tokens used (metrics, and the client's rate limit) are recorded."""

    def __init__(self, events: EventStream, observe: Callable[[Event], None]) -> None:
        self._events = events
        self._observe = observe

    async def __aiter__(self) -> AsyncIterator[Event]:
        async for event in self._events:
            self._observe(event)
            yield event

    async def ready(self) -> None:
        await self._events.ready()

    def cancel(self) -> None:
        self._events.cancel()

    def hold(self) -> None:
        if isinstance(self._events, Holdable):
            self._events.hold()

    def resume(self) -> None:
        if isinstance(self._events, Holdable):
            self._events.resume()


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

    async def prepare(self, request: ChatCompletionRequest) -> PreparedChat:
        plan = await anyio.to_thread.run_sync(  # counting a schema's size is work: off the event loop
            functools.partial(
                build_plan, request, self._catalog, max_choices=self._max_choices, limits=self._limits
            )
        )
        mark("plan")
        recalled = await self._speaker.recall(audio_refs(plan.messages))
        native = plan.model.model.info.capabilities.hears_audio
        parts = audio_parts(plan.messages)
        if parts and not native:  # the prompt's head gets ready while the audio is heard
            unheard = render(plan.messages, [UNHEARD] * len(parts), recalled)
            plan.model.model.prefill(Conversation(unheard))
        heard = await self._hearing.hear(parts, native=native, lone=lone_audio(plan.messages))
        blocks = [h.block for h in heard]
        charge = functools.partial(self._charge, plan)
        spec = dataclasses.replace(generation_spec(plan), on_usage=charge, on_stage=mark)
        messages = render(plan.messages, blocks, recalled)
        if native:
            conversation = Conversation(messages, audio=[h.audio for h in heard])
        else:
            conversation = Conversation(messages, blocks)
        prompt = await plan.model.model.prompt(conversation, spec)
        mark("prompt")
        if prompt.tokens is not None:
            spec = self._check_context(plan, spec, prompt.tokens)
        return PreparedChat(plan, spec, prompt)

    @staticmethod
    def _check_context(plan: ChatPlan, spec: GenerationSpec, prompt_tokens: int) -> GenerationSpec:
        """Refuse a prompt, or a prompt and the limit the client asked for, beyond the window. The model's
        default limit is shortened to what the window leaves instead (the spec that says so)."""
        window = plan.model.model.info.context_window
        if window is None:
            return spec
        if prompt_tokens >= window:
            raise ContextLengthExceeded(
                f"This model's maximum context length is {window} tokens. However, your messages resulted "
                f"in {prompt_tokens} tokens. Please reduce the length of the messages.",
                param="messages",
            )
        if plan.max_tokens is None or prompt_tokens + plan.max_tokens <= window:
            return spec
        if plan.max_tokens_param is None:
            return dataclasses.replace(spec, max_tokens=window - prompt_tokens)
        raise ContextLengthExceeded(
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt_tokens + plan.max_tokens} tokens ({prompt_tokens} in the messages, "
            f"{plan.max_tokens} in the completion). Please reduce the length of the messages or "
            "completion.",
            param=plan.max_tokens_param,
        )

    def _reserve(self, speech: SpeechPlan | None) -> Ticket | None:
        """A place in our voice's queue for a spoken answer (none for text, or a model that speaks)."""
        if speech is None or speech.voice is None:
            return None
        return self._speaker.reserve(speech.voice)

    def _start(self, prepared: PreparedChat) -> EventStream:
        """Admit (503 at once when the model's queue is full) and start the generation."""
        events = prepared.plan.model.model.generate(prepared.prompt, prepared.spec)
        return _Observed(events, self._observer(prepared.plan.model.id))

    def _observer(self, model: str) -> Callable[[Event], None]:
        """Records the time to first token."""

        def observe(event: Event) -> None:
            if isinstance(event, TextDelta | ToolCallStart):
                mark("first_token")
                self._telemetry.first_token(model)

        return observe

    def _charge(self, plan: ChatPlan, used: UsageReport) -> None:
        """What a generation used, when it ends however it ends (the model calls it: GenerationSpec's
        `on_usage`), into the metrics, the client's rate limit and its usage record."""
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

    def _builder(self, plan: ChatPlan) -> ResponseBuilder:
        fingerprint = plan.model.model.info.fingerprint
        return ResponseBuilder(plan.model_name, fingerprint, include_usage=plan.include_usage)

    async def complete(self, prepared: PreparedChat) -> ChatCompletion:
        plan = prepared.plan
        voice = self._reserve(plan.speech)  # held until every choice is spoken
        try:
            return await self._complete(prepared)
        finally:
            if voice is not None:
                voice.release()

    async def _complete(self, prepared: PreparedChat) -> ChatCompletion:
        plan = prepared.plan
        events = self._start(prepared)
        with_logprobs = plan.top_logprobs is not None
        choices = [ChoiceResult(logprobs=[] if with_logprobs else None) for _ in range(plan.n)]
        usage: UsageReport | None = None
        spoken: list[AudioDelta] = []  # a model that speaks: its own audio
        try:
            async for event in events:
                if isinstance(event, UsageReport):
                    usage = event
                elif isinstance(event, AudioDelta):
                    spoken.append(event)
                else:
                    _accumulate(choices[event.index], event)
        finally:
            events.cancel()
        mark("generation")
        if usage is None:
            raise ModelFailure("The generation ended without a result.")
        if plan.speech is not None:
            await asyncio.gather(
                *(self._speak(plan, plan.speech, i, c, spoken) for i, c in enumerate(choices))
            )
        return self._builder(plan).completion(choices, usage)

    async def _speak(
        self, plan: ChatPlan, speech: SpeechPlan, index: int, choice: ChoiceResult, spoken: list[AudioDelta]
    ) -> None:
        """One choice, spoken and stored under its own audio id (a turn that calls tools is not spoken).
        The choices' voices are queued together on the voice's worker, under the request's one place."""
        if choice.tool_calls:
            return
        if speech.voice is None:
            choice.audio = await self._speaker.adopt(speech, [a for a in spoken if a.index == index])
            return
        charge = functools.partial(self._charge_spoken, plan, record_usage)  # on the voice's worker
        choice.audio = await self._speaker.speak(speech, speech.voice, choice.text, Ticket.covered(), charge)

    async def stream(self, prepared: PreparedChat) -> AsyncIterator[ChatCompletionChunk]:
        """Admits and starts now; returns once the model has started (an upstream's answer headers), so
        errors raise here, before streaming. Chunks come as generated. A spoken answer reserves its place
        in the voice's queue first: a full queue is a 503 here, not an error in the middle of the stream."""
        speech = prepared.plan.speech
        voice = self._reserve(speech)
        try:
            events = self._start(prepared)
        except BaseException:
            if voice is not None:
                voice.release()
            raise
        try:
            await events.ready()
        except BaseException:
            events.cancel()
            if voice is not None:
                voice.release()
            raise
        builder = self._builder(prepared.plan)
        chunks: AsyncIterator[ChatCompletionChunk]
        if speech is not None:
            charge = functools.partial(self._charge_spoken, prepared.plan, usage_recorder())
            chunks = spoken_chunks(
                prepared.plan, events, builder, self._speaker, reserved=voice, charge=charge
            )
        else:
            chunks = text_chunks(prepared.plan, events, builder)
        # A stream that is dropped unread (its client left before the first chunk) never runs its
        # `finally`: cancel the generation and free the voice when the stream object goes away.
        weakref.finalize(chunks, _dropped, events, voice)
        return chunks


def _accumulate(
    choice: ChoiceResult, event: TextDelta | ToolCallStart | ToolCallArguments | Finished
) -> None:
    if isinstance(event, TextDelta):
        choice.text += event.text
        if choice.logprobs is not None and event.logprobs is not None:
            choice.logprobs.extend(event.logprobs)
    elif isinstance(event, ToolCallStart):
        choice.tool_calls.append(ToolCall(event.id, event.name, ""))
    elif isinstance(event, ToolCallArguments):
        call = choice.tool_calls[event.call]
        choice.tool_calls[event.call] = dataclasses.replace(call, arguments=call.arguments + event.fragment)
    else:
        choice.finish_reason = event.reason


def _dropped(events: EventStream, voice: Ticket | None) -> None:
    events.cancel()
    if voice is not None:
        voice.release()
