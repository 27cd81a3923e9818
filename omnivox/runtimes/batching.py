"""Continuous batching: the concurrent generations of one model decoded together, one decode call per
token for all of them (docs/batching.md).

Each generation runs on a thread of its own (the model's worker has one per sequence) against a
`BatchSequence`: a LanguageModel whose `evaluate` and `append` hand their work to the scheduler and wait
for it. The scheduler's one thread alone drives the runtime:

- prompts are evaluated first come, first served, in chunks of about `prefill_rows` rows, one chunk between
  two decode steps, so that running generations wait at most one chunk for a newcomer;
- a decode step runs when every decoding sequence has asked for its next token, or a while after the
  first asked (a generation busy elsewhere does not hold the others back): `gather` seconds, or half the
  last step's duration when that is longer, since a sequence that misses a step waits a whole step for
  the next one, and sequences that keep missing would split the batch into smaller steps taking turns;
  it decodes one row per sequence and hands each its own logits. Sampling, stops, grammars and
  cancellation stay with each generation's thread (omnivox.backends.logits.generate), so each keeps its
  own state.

A sequence is leased for a whole generation (all its choices) and returned afterwards with its contents
kept: the next lease goes to the free sequence that already holds the longest usable prefix of the new
prompt, else to the one least recently used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field

from omnivox.errors import ModelFailure
from omnivox.runtimes.language_model import (
    BatchedLanguageModel,
    Evaluation,
    EvaluationCancelled,
    ModelInfo,
)
from omnivox.tokens import Logits, TokenConstraint

log = logging.getLogger("omnivox.batching")

#: Prompt rows per prefill chunk between two decode steps: on SmolLM2 and 2 cores, 128 rows take ~0.5 s.
DEFAULT_PREFILL_ROWS = 128

#: How long a step waits for the decoding sequences that have not asked for their next token yet.
DEFAULT_GATHER = 0.005


@dataclass(slots=True)
class _Reply:
    """A result handed from the scheduler's thread to a generation's."""

    done: threading.Event = field(default_factory=threading.Event)
    value: object = None
    error: BaseException | None = None

    def set(self, value: object = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error
        self.done.set()

    def wait(self) -> object:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


@dataclass(slots=True)
class _Prefill:
    sequence: int
    tokens: Sequence[int]
    cancelled: threading.Event | None
    source: int | None = None  # a sequence holding the evaluated prompt, copied first (parallel choices)
    reply: _Reply = field(default_factory=_Reply)
    chunks: Generator[None, None, Evaluation] | None = None


class BatchScheduler:
    """Owns a BatchedLanguageModel and decodes the generations leased on it together."""

    def __init__(
        self,
        runtime: BatchedLanguageModel,
        name: str,
        *,
        prefill_rows: int = DEFAULT_PREFILL_ROWS,
        gather: float = DEFAULT_GATHER,
    ) -> None:
        self._runtime = runtime
        self._prefill_rows = prefill_rows
        self._gather = gather
        self._cond = threading.Condition()
        self._free = list(range(runtime.info.sequences))  # least recently used first
        self._waiting = 0  # generations waiting for a sequence
        self._prefills: deque[_Prefill] = deque()  # first come, first served
        self._steps: dict[int, tuple[int, _Reply]] = {}  # sequence -> (token, reply): asked to append
        self._first_asked = 0.0  # when the oldest of `_steps` asked
        self._decoding: set[int] = set()  # sequences generating (evaluated, not yet returned)
        self._step_owed = False  # a prefill chunk ran since the last step: the decoding sequences go next
        self._chunked_at = 0.0
        self._step_seconds = 0.0  # how long the last decode step took
        self._closed = False
        self.steps = 0  # decode steps run, and rows decoded in them: for tests and diagnostics
        self.rows = 0
        self._thread = threading.Thread(target=self._loop, name=f"omnivox-{name}-batch", daemon=True)
        self._thread.start()

    @property
    def runtime(self) -> BatchedLanguageModel:
        return self._runtime

    def lease(self) -> BatchSequence:
        """A sequence for one generation (taken at its first `evaluate`); `close` it when done."""
        return BatchSequence(self)

    def lease_free(self) -> BatchSequence | None:
        """One more sequence for a generation that holds one already (a parallel choice), if one is free
        now and no generation waits for one; never waits (a generation holding sequences must not)."""
        with self._cond:
            if not self._free or self._waiting or self._closed:
                return None
            return BatchSequence(self, self._free.pop(0))  # the least recently used

    def close(self) -> None:
        """Stop the scheduler's thread; whatever waits gets ModelFailure."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    # --- called from the generations' threads -----------------------------------------------------

    def _acquire(self, tokens: Sequence[int]) -> int:
        with self._cond:
            self._waiting += 1
            while not self._free and not self._closed:
                self._cond.wait()
            self._waiting -= 1
            if self._closed:
                raise ModelFailure("the model is shutting down")
            # the free sequence holding the longest reusable prefix; ties: the least recently used
            best = max(self._free, key=lambda s: (self._runtime.affinity(s, tokens), -self._free.index(s)))
            self._free.remove(best)
            return best

    def _release(self, sequence: int) -> None:
        with self._cond:
            self._decoding.discard(sequence)
            self._free.append(sequence)
            self._cond.notify_all()

    def _evaluate(
        self,
        sequence: int,
        tokens: Sequence[int],
        cancelled: threading.Event | None,
        source: int | None = None,
    ) -> Evaluation:
        request = _Prefill(sequence, tokens, cancelled, source)
        with self._cond:
            self._decoding.discard(sequence)
            self._prefills.append(request)
            self._cond.notify_all()
        result = request.reply.wait()
        assert isinstance(result, Evaluation)
        return result

    def _append(self, sequence: int, token: int) -> Logits:
        reply = _Reply()
        with self._cond:
            first = not self._steps
            if first:
                self._first_asked = time.monotonic()
            self._steps[sequence] = (token, reply)
            # the scheduler wakes for the first (to time the gather) and the last asking, not for each
            if first or self._decoding.issubset(self._steps):
                self._cond.notify_all()
        logits = reply.wait()
        assert logits is not None
        return logits  # type: ignore[return-value]

    # --- the scheduler's thread ----------------------------------------------------------------------

    def _step_due(self) -> bool:
        if not self._steps:
            return False
        if self._decoding.issubset(self._steps):
            return True
        return time.monotonic() - self._first_asked >= self._patience()

    def _patience(self) -> float:
        """How long a step waits for the sequences that have not asked yet."""
        return max(self._gather, self._step_seconds / 2)

    def _prefill_due(self) -> bool:
        """A chunk may run unless one just ran and the decoding sequences have not had their step since
        (they get `gather` seconds to ask for it): chunks and steps alternate."""
        if not self._prefills:
            return False
        if not self._step_owed or not self._decoding:
            return True
        return time.monotonic() - self._chunked_at >= self._gather

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._prefill_due() and not self._step_due():
                    self._cond.wait(self._gather if self._steps or self._prefills else None)
                if self._closed:
                    self._fail_all()
                    return
                step = self._steps if self._step_due() else {}
                if step:
                    self._steps = {}
                    self._step_owed = False
                prefill = self._prefills[0] if self._prefill_due() else None
            if step:
                self._step(step)
            if prefill is not None:
                self._advance(prefill)

    def _step(self, step: dict[int, tuple[int, _Reply]]) -> None:
        rows = [(sequence, token) for sequence, (token, _) in step.items()]
        started = time.monotonic()
        try:
            logits = self._runtime.step(rows)
        except Exception as exc:  # the runtime forgot these sequences; each generation reports it
            log.warning("a batched decode step of %d rows failed: %s", len(rows), exc)
            for _, reply in step.values():
                reply.set(error=exc)
            return
        self._step_seconds = time.monotonic() - started
        self.steps += 1
        self.rows += len(rows)
        for (_, reply), row in zip(step.values(), logits, strict=True):
            reply.set(row)

    def _advance(self, request: _Prefill) -> None:
        """Evaluate one chunk of the oldest prompt (or finish it)."""
        done: Evaluation | None = None
        error: BaseException | None = None
        try:
            if request.cancelled is not None and request.cancelled.is_set():
                raise EvaluationCancelled()
            if request.chunks is None:
                if request.source is not None:
                    self._runtime.copy(request.source, request.sequence)
                request.chunks = self._runtime.prefill(request.sequence, request.tokens, self._prefill_rows)
            next(request.chunks)
            with self._cond:
                self._step_owed, self._chunked_at = True, time.monotonic()
            return
        except StopIteration as stop:
            done = stop.value
        except Exception as exc:  # handed to the generation, which reports it
            error = exc
        with self._cond:
            self._prefills.popleft()
            if done is not None:
                self._decoding.add(request.sequence)
        request.reply.set(done, error)

    def _fail_all(self) -> None:
        failure = ModelFailure("the model is shutting down")
        for request in self._prefills:
            request.reply.set(error=failure)
        for _, reply in self._steps.values():
            reply.set(error=failure)
        self._prefills.clear()
        self._steps = {}


class BatchSequence:
    """One generation's view of a batched runtime: a LanguageModel whose evaluation runs on the
    scheduler. Used by one thread; `close` returns its sequence."""

    def __init__(self, scheduler: BatchScheduler, sequence: int | None = None) -> None:
        self._scheduler = scheduler
        self._runtime = scheduler.runtime
        self._sequence = sequence  # None: taken at the first `evaluate`

    @property
    def info(self) -> ModelInfo:
        return self._runtime.info

    def tokenize(self, text: str) -> list[int]:
        return self._runtime.tokenize(text)

    def token_bytes(self, token: int) -> bytes:
        return self._runtime.token_bytes(token)

    def is_end_of_generation(self, token: int) -> bool:
        return self._runtime.is_end_of_generation(token)

    def constrain(self, grammar: str) -> TokenConstraint:
        return self._runtime.constrain(grammar)

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        if self._sequence is None:
            self._sequence = self._scheduler._acquire(tokens)
        return self._scheduler._evaluate(self._sequence, tokens, cancelled)

    def evaluate_from(
        self, source: BatchSequence, tokens: Sequence[int], cancelled: threading.Event | None = None
    ) -> Evaluation:
        """`evaluate` on a copy of `source`, which has just evaluated `tokens` (and appended nothing
        since): the prompt of parallel choices is computed once."""
        if self._sequence is None or source._sequence is None:
            raise ModelFailure("evaluate_from needs both sequences leased and the source evaluated")
        return self._scheduler._evaluate(self._sequence, tokens, cancelled, source._sequence)

    def append(self, token: int) -> Logits:
        if self._sequence is None:
            raise ModelFailure("append before evaluate")
        return self._scheduler._append(self._sequence, token)

    def close(self) -> None:
        if self._sequence is not None:
            self._scheduler._release(self._sequence)
            self._sequence = None
