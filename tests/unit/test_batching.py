"""The batch scheduler (omnivox.runtimes.batching) over a fake BatchedLanguageModel: concurrent generations
share decode steps and keep their own answers, prompts are admitted first come first served and evaluated
in chunks between steps, a generation that stops does not hold the others, and closing fails the waiting."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import threading
from collections.abc import Generator, Sequence

import pytest

from omnivox.backends.logits.batched import generate_batched
from omnivox.backends.logits.generate import GenerationJob, Tally, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.errors import ModelFailure
from omnivox.runtimes.batching import BatchScheduler
from omnivox.runtimes.events import Event, Finished, TextDelta, UsageReport
from omnivox.runtimes.language_model import BatchedLanguageModel, Evaluation, ModelInfo
from omnivox.sampling.sampler import SamplingParams
from omnivox.tokens import Logits, TokenConstraint
from tests.support.fakes import FakeLanguageModel

GREEDY = SamplingParams(temperature=0)


class FakeBatchedModel:
    """`sequences` fake models behind the batched contract; records what the scheduler asked, in order."""

    def __init__(self, sequences: int, chunk_delay: float = 0.0, step_delay: float = 0.0) -> None:
        self._models = [FakeLanguageModel() for _ in range(sequences)]
        self._info = dataclasses.replace(self._models[0].info, sequences=sequences)
        self.log: list[tuple[str, object]] = []  # ("chunk", sequence) / ("step", rows) / ("copy", target)
        self._chunk_delay = chunk_delay
        self._step_delay = step_delay
        self._evaluated: dict[int, list[int]] = {}  # the prompt each sequence holds evaluated, as llama.cpp's

    @property
    def info(self) -> ModelInfo:
        return self._info

    def tokenize(self, text: str) -> list[int]:
        return self._models[0].tokenize(text)

    def token_bytes(self, token: int) -> bytes:
        return self._models[0].token_bytes(token)

    def is_end_of_generation(self, token: int) -> bool:
        return self._models[0].is_end_of_generation(token)

    def constrain(self, grammar: str) -> TokenConstraint:
        raise NotImplementedError

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        return self._models[0].evaluate(tokens)

    def append(self, token: int) -> Logits:
        return self._models[0].append(token)

    def affinity(self, sequence: int, tokens: Sequence[int]) -> int:
        return 0

    def prefill(
        self, sequence: int, tokens: Sequence[int], max_rows: int
    ) -> Generator[None, None, Evaluation]:
        if self._evaluated.get(sequence) == list(tokens):  # held already: nothing to compute
            return self._models[sequence].evaluate(tokens)
        self._evaluated[sequence] = list(tokens)
        for _ in range(0, len(tokens), max_rows):
            yield
            threading.Event().wait(self._chunk_delay)
            self.log.append(("chunk", sequence))
        return self._models[sequence].evaluate(tokens)

    def copy(self, source: int, target: int) -> None:
        self.log.append(("copy", target))
        self._models[target].evaluate(self._evaluated[source])
        self._evaluated[target] = self._evaluated[source]

    def step(self, rows: Sequence[tuple[int, int]]) -> list[Logits]:
        self.log.append(("step", len(rows)))
        threading.Event().wait(self._step_delay)
        return [self._models[sequence].append(token) for sequence, token in rows]

    def close(self) -> None:
        pass


def _job(model: FakeBatchedModel, text: str, max_tokens: int | None = None) -> GenerationJob:
    prompt = PromptBuilder(model).tokens([{"role": "user", "content": text}])
    return GenerationJob(prompt, GREEDY, max_tokens, ())


def _generate(scheduler: BatchScheduler, job: GenerationJob, cancelled: threading.Event | None = None) -> str:
    sequence = scheduler.lease()
    try:
        events: list[Event] = list(generate(sequence, job, cancelled or threading.Event()))
    finally:
        sequence.close()
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_the_fake_implements_the_batched_contract() -> None:
    assert isinstance(FakeBatchedModel(2), BatchedLanguageModel)


def test_concurrent_generations_share_steps_and_keep_their_answers() -> None:
    # steps that take time, so that the shortest answer (~20 tokens) lasts longer than the four threads
    # take to start on a loaded machine (with instant steps it was sometimes over before the last began)
    model = FakeBatchedModel(4, step_delay=0.005)
    scheduler = BatchScheduler(model, "fake", prefill_rows=64, gather=1.0)
    texts = [f"question number {i}" * (i + 1) for i in range(4)]
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda t: _generate(scheduler, _job(model, t)), texts))
    finally:
        scheduler.close()
    assert answers == [f"You said: {t}" for t in texts]
    widths = [rows for kind, rows in model.log if kind == "step"]
    assert max(widths) == 4  # all four decoded in one call
    assert scheduler.rows == sum(len(a) for a in answers)  # one row per generated token, EOS excluded


def test_prompts_are_evaluated_in_chunks_between_the_steps_of_running_generations() -> None:
    model = FakeBatchedModel(2, chunk_delay=0.01)
    scheduler = BatchScheduler(model, "fake", prefill_rows=8, gather=1.0)
    # the running answer (its steps take no time) must outlast the newcomer's ~40 chunks whenever the
    # newcomer arrives: ~1,400 tokens long, stopped once the newcomer is answered (with 110 tokens, a
    # loaded machine let it end before the newcomer's prompt did)
    stop = threading.Event()
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            running = pool.submit(_generate, scheduler, _job(model, "a long answer " * 100), stop)
            while not any(kind == "step" for kind, _ in model.log):
                threading.Event().wait(0.001)
            newcomer = pool.submit(_generate, scheduler, _job(model, "a long prompt " * 20))
            newcomer.result()
            stop.set()
            running.result()
    finally:
        scheduler.close()
    kinds = [kind for kind, _ in model.log]
    first, last = kinds.index("chunk", kinds.index("step")), len(kinds) - 1 - kinds[::-1].index("chunk")
    chunks = [i for i in range(first, last + 1) if kinds[i] == "chunk"]
    assert len(chunks) > 10
    # between two chunks of the newcomer's prompt, the running generation got its step
    assert all("step" in kinds[a:b] for a, b in itertools.pairwise(chunks))


def test_prompts_are_admitted_first_come_first_served() -> None:
    model = FakeBatchedModel(3, chunk_delay=0.005)
    scheduler = BatchScheduler(model, "fake", prefill_rows=4)
    order: list[int] = []
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = []
            for i in range(3):
                futures.append(pool.submit(_generate, scheduler, _job(model, f"prompt {i} " * 10, 2)))
                while len({s for kind, s in model.log if kind == "chunk"}) <= i:
                    threading.Event().wait(0.001)
            for future in futures:
                future.result()
    finally:
        scheduler.close()
    for kind, sequence in model.log:
        if kind == "chunk" and sequence not in order:
            order.append(int(str(sequence)))
    # each prompt's chunks ran to its end before the next prompt's began
    chunks = [s for kind, s in model.log if kind == "chunk"]
    assert chunks == sorted(chunks, key=order.index)


def test_a_generation_that_stops_does_not_hold_the_others() -> None:
    model = FakeBatchedModel(2)
    scheduler = BatchScheduler(model, "fake", gather=0.01)
    leaving = threading.Event()
    try:
        sequence = scheduler.lease()
        events = generate(sequence, _job(model, "x" * 50), leaving)
        next(events)  # evaluated and decoding; then the client leaves without closing the generator
        leaving.set()
        assert _generate(scheduler, _job(model, "still here")) == "You said: still here"
        sequence.close()
    finally:
        scheduler.close()


def test_closing_fails_what_waits() -> None:
    model = FakeBatchedModel(1)
    scheduler = BatchScheduler(model, "fake")
    first = scheduler.lease()
    list(generate(first, _job(model, "hello", 2), threading.Event()))
    first.close()
    scheduler.close()
    with pytest.raises(ModelFailure):
        scheduler.lease().evaluate([1, 2, 3])


def test_the_n_choices_decode_as_parallel_sequences_sharing_the_prompt() -> None:
    model = FakeBatchedModel(4)
    scheduler = BatchScheduler(model, "fake", gather=1.0)
    job = dataclasses.replace(_job(model, "three at once"), n=3)
    try:
        events = list(generate_batched(scheduler, job, threading.Event(), Tally()))
    finally:
        scheduler.close()
    texts: dict[int, str] = {}
    for e in events:
        if isinstance(e, TextDelta):
            texts[e.index] = texts.get(e.index, "") + e.text
    assert texts == dict.fromkeys(range(3), "You said: three at once")
    assert {s for kind, s in model.log if kind == "chunk"} == {0}  # the prompt evaluated once...
    assert [s for kind, s in model.log if kind == "copy"] == [1, 2]  # ...and copied
    assert max(rows for kind, rows in model.log if kind == "step") == 3  # the choices decode together
    order = [e.index for e in events if isinstance(e, TextDelta)]
    assert order != sorted(order)  # interleaved, as OpenAI streams them
    assert sorted(e.index for e in events if isinstance(e, Finished)) == [0, 1, 2]
    usage = events[-1]
    assert isinstance(usage, UsageReport) and usage.completion_tokens == 3 * len(texts[0])


def test_parallel_choices_take_only_the_free_sequences_and_never_wait_for_more() -> None:
    model = FakeBatchedModel(3)
    scheduler = BatchScheduler(model, "fake", gather=0.01)
    held = scheduler.lease()
    try:
        held.evaluate(model.tokenize("busy"))  # one sequence taken by another request
        job = dataclasses.replace(_job(model, "five"), n=5)
        events = list(generate_batched(scheduler, job, threading.Event(), Tally()))
        held.close()
    finally:
        scheduler.close()
    finished = [e.index for e in events if isinstance(e, Finished)]
    assert sorted(finished) == [0, 1, 2, 3, 4]
    assert [s for kind, s in model.log if kind == "copy"] == [2]  # two sequences for five choices
    texts: dict[int, str] = {}
    for e in events:
        if isinstance(e, TextDelta):
            texts[e.index] = texts.get(e.index, "") + e.text
    assert texts == dict.fromkeys(range(5), "You said: five")
