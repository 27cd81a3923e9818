"""LogitsChatModel: the chat-model contract over a runtime that yields logits (llama.cpp, the tests'
fake). omnivox renders the model's chat template and tokenizes, compiles output constraints to a grammar
(llguidance), and samples every token itself (omnivox.sampling), so every such runtime obeys the same
OpenAI semantics.

Generation runs on the model's one worker thread; tool calls are parsed there, once, into events."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import anyio.to_thread

from omnivox.backends.logits.batched import generate_batched
from omnivox.backends.logits.generate import GenerationJob, Tally, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.backends.logits.structured import constraint_grammar
from omnivox.backends.logits.tool_format import calls_from_text, calls_grammar, instructions
from omnivox.runtimes.batching import BatchScheduler
from omnivox.runtimes.chat_model import (
    UNHEARD,
    Capabilities,
    Conversation,
    EventStream,
    GenerationSpec,
    JsonSchema,
    Prompt,
    ServingInfo,
)
from omnivox.runtimes.events import Event, UsageReport
from omnivox.runtimes.language_model import BatchedLanguageModel, EvaluationCancelled, LanguageModel
from omnivox.runtimes.worker import ModelWorker, Ticket

log = logging.getLogger("omnivox.logits")


@dataclass(frozen=True, slots=True)
class TokenPrompt(Prompt):
    ids: tuple[int, ...] = ()
    grammar: str | None = (
        None  # the grammar the output must follow (llguidance Lark, `LanguageModel.constrain`)
    )
    calls: bool = False  # the output may hold tool calls in the `<tool_call>` format


@dataclass(slots=True)
class _Held:
    """The prompt the runtime evaluated last (its live sequence starts with it): read and written only by
    jobs on the model's worker, in turn."""

    prompt: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class OutputRule:
    """How a request's output constraint reaches a logits model: the grammar its output must follow, the
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
        self._held = _Held()
        self._builder = PromptBuilder(runtime)
        # several sequences: concurrent generations decode together (docs/batching.md)
        self._scheduler: BatchScheduler | None = None
        if runtime.info.sequences > 1 and isinstance(runtime, BatchedLanguageModel):
            self._scheduler = BatchScheduler(runtime, worker.name)
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
        run = functools.partial(
            _run, self._runtime, self._scheduler, job, prompt.calls, spec.on_usage, self._held
        )
        return self._worker.submit(run, ticket)

    def prefill(self, conversation: Conversation) -> None:
        """See ChatModel.prefill: one short job on the worker, outside admission (its request holds a
        place already, or fails before it generates), so the generation's own evaluation finds the head
        in the KV cache. Not with a batch scheduler: it owns the sequences, and a prompt's head is found
        there through the prompt cache."""
        if self._scheduler is not None:
            return
        job = functools.partial(_prefill, self._runtime, self._builder, conversation, self._held)
        self._worker.submit(job, Ticket.covered())

    @property
    def scheduler(self) -> BatchScheduler | None:
        """The batch scheduler when the runtime decodes several sequences at once; for tests."""
        return self._scheduler

    def close(self) -> None:
        self._worker.shutdown()
        if self._scheduler is not None:
            self._scheduler.close()
        self._runtime.close()


def _prefill(
    runtime: LanguageModel,
    builder: PromptBuilder,
    conversation: Conversation,
    held: _Held,
    cancelled: threading.Event,
) -> Iterator[Event]:
    """The prompt's text before the first unheard part, evaluated but for its last token (which may
    merge with the words heard into another token). Not when the live sequence holds it already: the
    evaluation would cut the live sequence back to the head, and the prompt would then have to restore
    the rest from the prompt cache (measured: 0.26 + 0.30 s on a loaded machine, against 0 s)."""
    try:
        head, found, _ = builder.render(conversation.messages).partition(UNHEARD)
        ids = tuple(runtime.tokenize(head)[:-1]) if found else ()
        if ids and held.prompt[: len(ids)] != ids:
            runtime.evaluate(ids, cancelled)
            held.prompt = ids
    except EvaluationCancelled:
        pass
    except Exception as exc:  # only a head start: the request's own prompt reports what is wrong
        log.debug("prefill skipped: %s", exc)
    yield from ()


def _run(
    runtime: LanguageModel,
    scheduler: BatchScheduler | None,
    job: GenerationJob,
    calls: bool,
    on_usage: Callable[[UsageReport], None] | None,
    held: _Held,
    cancelled: threading.Event,
) -> Iterator[Event]:
    """The generation, on the model's worker: on sequences of the batch when the model has a scheduler,
    else on the runtime's live sequence; what it used is reported when it ends, however it ends."""
    tally = Tally()
    try:
        if scheduler is not None:
            events = generate_batched(scheduler, job, cancelled, tally)
        else:
            held.prompt = tuple(job.prompt)
            events = generate(runtime, job, cancelled, tally)
        yield from calls_from_text(events) if calls else events
    finally:
        if on_usage is not None:
            on_usage(tally.report())
