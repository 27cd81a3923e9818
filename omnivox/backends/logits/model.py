"""LogitsChatModel: the chat-model contract over a runtime that yields logits (llama.cpp, the tests'
fake). omnivox renders the model's chat template and tokenizes, compiles output constraints to a grammar
(llguidance), and samples every token itself (omnivox.sampling), so every such runtime obeys the same
OpenAI semantics.

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
    grammar: str | None = (
        None  # the grammar the output must follow (llguidance Lark, `LanguageModel.constrain`)
    )
    calls: bool = False  # the output may hold tool calls in the `<tool_call>` format


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
        constraint = spec.constraint
        grammar: str | None = None
        described: str | None = None  # the tools, described in the system message
        if isinstance(constraint, JsonSchema) and constraint.enforced:
            grammar = constraint_grammar(constraint)
        elif isinstance(constraint, JsonSchema):
            described = constraint.instructions()
        elif constraint is not None:
            grammar, described = calls_grammar(constraint), instructions(constraint)
        ids = self._builder.tokens(conversation.messages, described)
        audio = sum(len(self._runtime.tokenize(text)) for text in conversation.audio_texts)
        calls = constraint is not None and not isinstance(constraint, JsonSchema)
        return TokenPrompt(len(ids), min(audio, len(ids)), tuple(ids), grammar, calls)

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
