"""A generation on a batched model (omnivox.runtimes.batching): its choices on sequences of the batch.

One choice (`n` = 1) runs on the model worker's thread against one leased sequence. The `n` choices of
one request decode as parallel sequences: the prompt is evaluated once on the first sequence and copied
into as many more as are free at that moment (up to `n`; a generation holding sequences never waits for
more, so requests cannot deadlock), then each sequence runs its share of the choices (choice i on sequence
i mod k) on a thread of its own, and their events reach the client interleaved, as OpenAI streams them.
Each choice keeps its own sampler and random stream (seeded by its index), so its answer is the same on
whichever sequence, beside whichever others, it ran.
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Iterator

from omnivox.backends.logits.generate import GenerationJob, Tally, choices, generate
from omnivox.runtimes.batching import BatchScheduler, BatchSequence
from omnivox.runtimes.events import Event
from omnivox.runtimes.language_model import EvaluationCancelled


def generate_batched(
    scheduler: BatchScheduler, job: GenerationJob, cancelled: threading.Event, tally: Tally
) -> Iterator[Event]:
    """`generate` on the batch: the job's events, then its UsageReport; `tally` holds what was used
    however the generation ends."""
    first = scheduler.lease()
    try:
        if job.n == 1:
            yield from generate(first, job, cancelled, tally)
        else:
            yield from _parallel(scheduler, first, job, cancelled, tally)
    finally:
        first.close()


_DONE = object()


def _parallel(
    scheduler: BatchScheduler,
    first: BatchSequence,
    job: GenerationJob,
    cancelled: threading.Event,
    tally: Tally,
) -> Iterator[Event]:
    tally.prompt_tokens, tally.audio_tokens = len(job.prompt), job.audio_tokens
    try:
        tally.cached_tokens = first.evaluate(job.prompt, cancelled).reused_tokens
    except EvaluationCancelled:
        return
    sequences = [first]
    tallies = [Tally()]
    outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
    threads: list[threading.Thread] = []
    finished = False
    try:
        while len(sequences) < job.n and (extra := scheduler.lease_free()) is not None:
            sequences.append(extra)
            tallies.append(Tally())
            try:
                extra.evaluate_from(first, job.prompt, cancelled)
            except EvaluationCancelled:
                return
        k = len(sequences)
        for j, sequence in enumerate(sequences):

            def run(
                sequence: BatchSequence = sequence, own: Tally = tallies[j], group: range = range(j, job.n, k)
            ) -> None:
                try:
                    for event in choices(sequence, job, group, cancelled, own):
                        outbox.put(event)
                except BaseException as exc:  # handed to the consumer, which re-raises it
                    outbox.put(exc)
                finally:
                    outbox.put(_DONE)

            context = contextvars.copy_context()  # the request's: its log lines carry its id
            name = f"{threading.current_thread().name}-choices-{j}"
            thread = threading.Thread(target=context.run, args=(run,), name=name)
            thread.start()
            threads.append(thread)
        running = k
        while running:
            item = outbox.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]
        finished = True
        if not cancelled.is_set():
            tally.completion_tokens = sum(t.completion_tokens for t in tallies)
            yield tally.report()
    finally:
        if not finished:
            cancelled.set()  # the consumer left or a choice failed: the others stop at their next token
        for thread in threads:
            thread.join()
        tally.completion_tokens = sum(t.completion_tokens for t in tallies)
        for sequence in sequences[1:]:
            with contextlib.suppress(Exception):
                sequence.close()
