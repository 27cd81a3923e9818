"""LogitsChatModel: the chat-model contract over a runtime that yields logits (llama.cpp, the tests'
fake). omnivox renders the model's chat template and tokenizes, compiles output constraints to GBNF, and
samples every token itself (omnivox.sampling), so every such runtime obeys the same OpenAI semantics.

Generation runs on the model's one worker thread; tool calls are parsed there, once, into events."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio.to_thread

from omnivox.backends.logits.generate import GenerationJob, Tally, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.backends.logits.structured import constraint_grammar
from omnivox.backends.logits.tool_format import calls_from_text, calls_grammar, instructions
from omnivox.runtimes.chat_model import (
    Capabilities,
    Conversation,
    EventStream,
    GenerationSpec,
    JsonSchema,
    Prompt,
    ServingInfo,
)
from omnivox.runtimes.events import Event, UsageReport
from omnivox.runtimes.language_model import LanguageModel
from omnivox.runtimes.worker import ModelWorker


@dataclass(frozen=True, slots=True)
class TokenPrompt(Prompt):
    ids: tuple[int, ...] = ()
    grammar: str | None = None  # GBNF the output must follow
    calls: bool = False  # the output may hold tool calls in the `<tool_call>` format


@dataclass(frozen=True, slots=True)
class OutputRule:
    """How a request's output constraint reaches a logits model: the GBNF its output must follow, the
    instructions for its system message (the tools, or a format asked for but not enforced), and whether
    the output may hold `<tool_call>` blocks."""

    grammar: str | None = None
    described: str | None = None
    calls: bool = False

    @classmethod
    def of(cls, spec: GenerationSpec) -> OutputRule:
        """The rule of `spec.constraint`; a schema that cannot be honoured is a 400 naming its param."""
        constraint = spec.constraint
        if isinstance(constraint, JsonSchema) and constraint.enforced:
            return cls(grammar=constraint_grammar(constraint))
        if isinstance(constraint, JsonSchema):
            return cls(described=constraint.instructions())
        if constraint is not None:
            return cls(calls_grammar(constraint), instructions(constraint), calls=True)
        return cls()


class LogitsChatModel:
    def __init__(self, runtime: LanguageModel, worker: ModelWorker) -> None:
        self._runtime = runtime
        self._worker = worker
        self._builder = PromptBuilder(runtime)
        info = runtime.info
        grammars = info.grammars
        self._info = ServingInfo(
            context_window=info.context_window,
            fingerprint=info.fingerprint,
            created=info.created,
            capabilities=Capabilities(json_schema=grammars, tools=grammars),
            vocab_size=info.vocab_size,
        )

    @property
    def info(self) -> ServingInfo:
        return self._info

    @property
    def worker(self) -> ModelWorker:
        return self._worker

    @property
    def runtime(self) -> LanguageModel:
        return self._runtime

    async def prompt(self, conversation: Conversation, spec: GenerationSpec) -> Prompt:
        # Rendering, tokenizing and compiling a grammar take milliseconds to seconds: off the event loop.
        return await anyio.to_thread.run_sync(self._prompt, conversation, spec)

    def _prompt(self, conversation: Conversation, spec: GenerationSpec) -> TokenPrompt:
        output = OutputRule.of(spec)
        ids = self._builder.tokens(conversation.messages, output.described)
        audio = sum(len(self._runtime.tokenize(text)) for text in conversation.audio_texts)
        return TokenPrompt(len(ids), min(audio, len(ids)), tuple(ids), output.grammar, output.calls)

    def generate(self, prompt: Prompt, spec: GenerationSpec) -> EventStream:
        if not isinstance(prompt, TokenPrompt):
            raise TypeError("LogitsChatModel generates from its own prompts only")
        ticket = self._worker.admit()
        job = GenerationJob.of(prompt.ids, spec, prompt.audio_tokens, prompt.grammar)
        run = functools.partial(_run, self._runtime, job, prompt.calls, spec.on_usage)
        return self._worker.submit(run, ticket)

    def close(self) -> None:
        self._worker.shutdown()
        self._runtime.close()


def _run(
    runtime: LanguageModel,
    job: GenerationJob,
    calls: bool,
    on_usage: Callable[[UsageReport], None] | None,
    cancelled: threading.Event,
) -> Iterator[Event]:
    """The generation, on the model's worker; what it used is reported when it ends, however it ends."""
    tally = Tally()
    try:
        events = generate(runtime, job, cancelled, tally)
        yield from calls_from_text(events) if calls else events
    finally:
        if on_usage is not None:
            on_usage(tally.report())
