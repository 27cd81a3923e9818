"""Continuous batching on the real embedded SmolLM2 through llama.cpp (issue 22): concurrent generations
decoded in one batch give bitwise the answers each gives alone and cold (greedy and seeded; while every
sequence of a step is under 256 positions, docs/batching.md), with their
own samplers, stops and cancellation; the prompt cache keeps its guarantee; and through the server, with
the `openai` SDK, concurrent clients are served together."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from omnivox.api.app import create_app
from omnivox.backends.logits.batched import generate_batched
from omnivox.backends.logits.generate import GenerationJob, Tally, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.config import LanguageModelSettings, load_settings
from omnivox.runtimes.batching import BatchScheduler
from omnivox.runtimes.events import Event, Finished, TextDelta, UsageReport
from omnivox.runtimes.language_model import BatchedLanguageModel, LanguageModel
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.registry import load_llama_cpp
from tests.support.server import live_server

pytestmark = pytest.mark.model

WINDOW = 1024
QUESTIONS = [
    "Write a short story about a lighthouse keeper and a storm.",
    "Explain how a bicycle stays upright while moving.",
    "Describe a busy market in the morning. " * 12,  # a longer prompt: several prefill chunks
    "Give me some advice for learning to play the piano.",
    "What are the differences between cats and dogs as pets? " * 5,
    "Tell me about the water cycle.",
]


def _runtime(sequences: int, prompt_cache_mib: int = 64) -> LanguageModel:
    return load_llama_cpp(
        LanguageModelSettings(context_window=WINDOW, max_batch=sequences, prompt_cache_mib=prompt_cache_mib)
    )


@pytest.fixture(scope="module")
def batched() -> Iterator[BatchScheduler]:
    runtime = _runtime(6)
    assert isinstance(runtime, BatchedLanguageModel)
    scheduler = BatchScheduler(runtime, "test")
    yield scheduler
    scheduler.close()
    runtime.close()


@pytest.fixture(scope="module")
def cold() -> Iterator[LanguageModel]:
    """One sequence and no prompt cache: every prompt evaluated from scratch, one request at a time."""
    runtime = _runtime(1, prompt_cache_mib=0)
    yield runtime
    runtime.close()


def _job(runtime: LanguageModel, question: str, sampling: SamplingParams, **extra: object) -> GenerationJob:
    prompt = PromptBuilder(runtime).tokens([{"role": "user", "content": question}])
    options: dict[str, object] = {"max_tokens": 24, "stop": (), **extra}
    return GenerationJob(prompt, sampling, **options)  # type: ignore[arg-type]


def _run(runtime: LanguageModel, job: GenerationJob, cancelled: threading.Event | None = None) -> list[Event]:
    return list(generate(runtime, job, cancelled or threading.Event()))


def _on_batch(
    scheduler: BatchScheduler, job: GenerationJob, cancelled: threading.Event | None = None
) -> list[Event]:
    sequence = scheduler.lease()
    try:
        return _run(sequence, job, cancelled)
    finally:
        sequence.close()


def _together(scheduler: BatchScheduler, jobs: list[GenerationJob]) -> list[list[Event]]:
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(lambda job: _on_batch(scheduler, job), jobs))


def _text(events: list[Event]) -> dict[int, str]:
    out: dict[int, str] = {}
    for event in events:
        if isinstance(event, TextDelta):
            out[event.index] = out.get(event.index, "") + event.text
    return out


def _logprobs(events: list[Event]) -> list[float]:
    return [entry.logprob for e in events if isinstance(e, TextDelta) for entry in e.logprobs or ()]


@pytest.mark.parametrize(
    "sampling",
    [SamplingParams(temperature=0), SamplingParams(temperature=1.0, seed=7)],
    ids=["greedy", "seeded"],
)
def test_six_generations_in_one_batch_answer_bitwise_as_each_alone_and_cold(
    batched: BatchScheduler, cold: LanguageModel, sampling: SamplingParams
) -> None:
    """Each answer, and the logprob of each of its tokens, is exactly the cold single request's."""
    nonce = uuid.uuid4().hex[:8]  # nothing reusable from an earlier test
    questions = [f"{nonce} {q}" for q in QUESTIONS]
    jobs = [_job(cold, q, sampling, top_logprobs=2) for q in questions]
    steps, rows = batched.steps, batched.rows
    together = _together(batched, jobs)
    assert batched.rows - rows > 1.5 * (batched.steps - steps)  # decoded together, not one after another
    for job, events in zip(jobs, together, strict=True):
        alone = _run(cold, job)
        assert _text(events) == _text(alone)
        assert _logprobs(events) == _logprobs(alone)
        assert isinstance(events[-1], UsageReport) and events[-1].completion_tokens > 0


def test_requests_keep_their_own_samplers_stops_and_cancellation(
    batched: BatchScheduler, cold: LanguageModel
) -> None:
    """Beside each other: a greedy answer, a seeded one with penalties and a logit bias, one cut by a stop
    string, n=2 choices, and one whose client leaves; each is what it is alone."""
    banned = cold.tokenize(" the")[0]
    jobs = [
        _job(cold, QUESTIONS[0], SamplingParams(temperature=0)),
        _job(cold, QUESTIONS[1], SamplingParams(seed=3, frequency_penalty=1.5, logit_bias=((banned, -100),))),
        _job(cold, QUESTIONS[3], SamplingParams(temperature=0), stop=("\n", ".")),
        _job(cold, QUESTIONS[5], SamplingParams(seed=11), n=2),
    ]
    leaving = threading.Event()
    long_job = _job(cold, QUESTIONS[2], SamplingParams(temperature=0), max_tokens=400)

    def leave() -> list[Event]:
        events: list[Event] = []
        sequence = batched.lease()
        try:
            for event in generate(sequence, long_job, leaving):
                events.append(event)
                if len(events) == 3:
                    leaving.set()
        finally:
            sequence.close()
        return events

    with concurrent.futures.ThreadPoolExecutor(len(jobs) + 1) as pool:
        gone = pool.submit(leave)
        results = list(pool.map(lambda job: _on_batch(batched, job), jobs))
        left = gone.result(timeout=300)
    for job, events in zip(jobs, results, strict=True):
        assert _text(events) == _text(_run(cold, job))
    assert " the" not in _text(results[1])[0]
    assert "." not in _text(results[2])[0] and "\n" not in _text(results[2])[0]
    assert set(_text(results[3])) == {0, 1}
    assert not any(isinstance(e, Finished | UsageReport) for e in left)  # stopped without finishing


def _as_cold(batched: list[Event], cold: list[Event]) -> None:
    """The batched answer is the cold one, token for token with logprobs within `NEAR_TIE`, or the two
    part at a near-tie: where the cold run's two best tokens were within `NEAR_TIE` of each other and
    the batched run took the other one. These prompts run past 256 positions, where a sequence decoded
    beside a longer one is computed against the longer one's KV view and rounds differently (up to 0.19
    nats measured, with the prompt cache off too: docs/batching.md, "Same answers alone or in a batch"),
    so such a tie can flip (CI runs: "In the year 2015" against "2017", "there lived" against "there
    was"); a wrong reuse (another conversation's state) moves far more."""
    ours = [t for e in batched if isinstance(e, TextDelta) for t in e.logprobs or ()]
    theirs = [t for e in cold if isinstance(e, TextDelta) for t in e.logprobs or ()]
    for mine, reference in zip(ours, theirs, strict=False):
        if mine.token != reference.token:
            best, second = reference.top[0], reference.top[1]
            assert mine.token == second.token and best.logprob - second.logprob < NEAR_TIE, (mine, reference)
            return
        assert abs(mine.logprob - reference.logprob) < NEAR_TIE, (mine, reference)
    assert len(ours) == len(theirs)


#: Nats of logprob by which a batched run past 256 positions may differ from the cold run, and between
#: the cold run's best two tokens under which it may pick the second.
NEAR_TIE = 0.25


def test_prompt_cache_reuse_in_a_batch_answers_as_cold(batched: BatchScheduler, cold: LanguageModel) -> None:
    """Conversations sharing a long system prompt, in a batch and again: the prefix is reused (from a
    sequence of the batch or a saved state) and every answer is the cold one (`_as_cold`)."""
    system = f"{uuid.uuid4()} You keep a lighthouse on a rocky island. " * 12
    greedy = SamplingParams(temperature=0)

    def job(question: str) -> GenerationJob:
        prompt = PromptBuilder(cold).tokens(
            [{"role": "system", "content": system}, {"role": "user", "content": question}]
        )
        return GenerationJob(prompt, greedy, 16, (), top_logprobs=2)

    first = [job(q) for q in QUESTIONS[:3]]
    second = [job(q + " Answer briefly.") for q in QUESTIONS[:3]]
    for jobs in (first, second):
        results = _together(batched, jobs)
        for j, events in zip(jobs, results, strict=True):
            _as_cold(events, _run(cold, j))
    reused = [_on_batch(batched, job(QUESTIONS[4]))[-1]]
    assert isinstance(reused[0], UsageReport) and reused[0].cached_tokens >= 128


def test_concurrent_sdk_clients_are_answered_together_as_alone(tmp_path: Path) -> None:
    settings = load_settings(
        models=[{"context_window": WINDOW, "max_completion_tokens": 16, "max_batch": 4}],
        speech_models=[],
        synthesis={"voices": [], "voice_map": {}, "store": str(tmp_path / "store.sqlite3")},
    )

    def ask(client: OpenAI, question: str) -> str:
        stream = client.chat.completions.create(
            model="gpt-4o-audio-preview",
            messages=[{"role": "user", "content": question}],
            temperature=0,
            stream=True,
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with live_server(create_app(settings)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        alone = [ask(client, q) for q in QUESTIONS[:4]]
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda q: ask(client, q), QUESTIONS[:4]))
    assert together == alone
    assert all(alone)


def test_parallel_choices_answer_as_one_after_another_alone(
    batched: BatchScheduler, cold: LanguageModel
) -> None:
    """n=4 seeded choices decoded as four sequences of one batch (the prompt evaluated once, copied), beside
    another request: each choice, and its logprobs, is the cold sequential run's."""
    nonce = uuid.uuid4().hex[:8]
    job = _job(cold, f"{nonce} {QUESTIONS[1]}", SamplingParams(temperature=1.0, seed=5), n=4, top_logprobs=1)
    other = _job(cold, f"{nonce} {QUESTIONS[0]}", SamplingParams(temperature=0))
    steps, rows = batched.steps, batched.rows
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        beside = pool.submit(_on_batch, batched, other)
        events = list(generate_batched(batched, job, threading.Event(), Tally()))
        beside.result(timeout=300)
    alone = _run(cold, job)
    assert _text(events) == _text(alone) and len(_text(events)) == 4
    for index in range(4):
        mine = [e for e in events if isinstance(e, TextDelta) and e.index == index]
        theirs = [e for e in alone if isinstance(e, TextDelta) and e.index == index]
        assert _logprobs(mine) == _logprobs(theirs)  # type: ignore[arg-type]
    usage = events[-1]
    assert isinstance(usage, UsageReport) and isinstance(alone[-1], UsageReport)
    assert usage.completion_tokens == alone[-1].completion_tokens
    assert batched.rows - rows > 1.5 * (batched.steps - steps)  # the choices decoded side by side


def test_sdk_streams_the_n_choices_interleaved_and_as_alone(tmp_path: Path) -> None:
    settings = load_settings(
        models=[{"context_window": WINDOW, "max_completion_tokens": 20, "max_batch": 4}],
        speech_models=[],
        synthesis={"voices": [], "voice_map": {}, "store": str(tmp_path / "store.sqlite3")},
    )
    question = [{"role": "user", "content": QUESTIONS[5]}]

    def ask(client: OpenAI) -> tuple[list[int], dict[int, str]]:
        stream = client.chat.completions.create(
            model="gpt-4o-audio-preview",
            messages=question,
            n=3,
            seed=9,
            temperature=1.0,
            stream=True,  # type: ignore[arg-type]
        )
        order: list[int] = []
        texts: dict[int, str] = {}
        for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    order.append(choice.index)
                    texts[choice.index] = texts.get(choice.index, "") + choice.delta.content
        return order, texts

    with live_server(create_app(settings)) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        order, alone = ask(client)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # again, beside another client
            other = pool.submit(ask, client)
            _, beside = ask(client)
            other.result()
    assert set(alone) == {0, 1, 2} and all(alone.values())
    assert order != sorted(order)  # the choices' chunks interleave
    assert beside == alone
