"""The generation loop: prompt tokens in, typed events out. Runs on the model's worker thread.

The runtime gives logits, omnivox's sampler picks each token, text is assembled from token bytes and cut
at stop strings. A choice ends at an end-of-turn token (`stop`), a stop string (`stop`), the token budget
or the context window (`length`). When the client has gone (`cancelled`), no further events come.
What was used is kept in a `Tally` token by token, so a generation cut short is charged what it generated.

The `n` choices are generated one after another on the same runtime; each starts from the prompt, which
the runtime keeps evaluated (its KV cache and final logits), so the prompt is computed once per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field

import numpy as np

from omnivox.protocol.chat import FinishReason
from omnivox.runtimes.chat_model import GenerationSpec
from omnivox.runtimes.events import Alternative, Event, Finished, TextDelta, TokenLogprob, UsageReport
from omnivox.runtimes.language_model import EvaluationCancelled, LanguageModel
from omnivox.sampling.sampler import Sampler, SamplingParams, log_sum_exp, top_indices
from omnivox.sampling.text import StopFilter, Utf8Assembler
from omnivox.tokens import Logits, TokenConstraint

#: OpenAI's stand-in for the logprob of a token that is practically impossible (here: banned).
UNLIKELY = -9999.0


@dataclass(frozen=True, slots=True)
class GenerationJob:
    prompt: Sequence[int]
    sampling: SamplingParams
    max_tokens: int | None
    stop: tuple[str, ...]
    n: int = 1
    top_logprobs: int | None = None  # None: no logprobs; 0..20 alternatives per token
    audio_tokens: int = 0  # prompt tokens standing for audio input, reported in the usage
    grammar: str | None = None  # what the output must follow (llguidance Lark, `LanguageModel.constrain`)
    on_stage: Callable[[str], None] | None = field(default=None, compare=False)  # GenerationSpec's

    @classmethod
    def of(
        cls, prompt: Sequence[int], spec: GenerationSpec, audio_tokens: int, grammar: str | None = None
    ) -> GenerationJob:
        """The job a chat model's prompt and the request's spec describe (every logits-driven backend)."""
        return cls(
            prompt,
            spec.sampling,
            spec.max_tokens,
            spec.stop,
            spec.n,
            spec.top_logprobs,
            audio_tokens,
            grammar,
            spec.on_stage,
        )


@dataclass(slots=True)
class Tally:
    """What a generation has used so far: the prompt from the moment the generation starts, each
    completion token as it is sampled."""

    prompt_tokens: int = 0
    completion_tokens: int = 0  # all choices together
    cached_tokens: int = 0
    audio_tokens: int = 0

    def report(self) -> UsageReport:
        return UsageReport(self.prompt_tokens, self.completion_tokens, self.cached_tokens, self.audio_tokens)


@dataclass(frozen=True, slots=True)
class _Sampled:
    """What `logprobs` needs of one sampled token until its piece is released (maybe cut by a stop)."""

    piece: str  # the text the token completed
    raw: bytes
    logprob: float
    top: tuple[Alternative, ...]


def token_text(data: bytes) -> str:
    """How an alternative token is shown: its text, or `bytes:\\xNN...` when it is not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in data)


def _finite(value: float) -> float:
    return value if np.isfinite(value) else UNLIKELY


def _sampled(runtime: LanguageModel, adjusted: Logits, token: int, piece: str, top: int) -> _Sampled:
    """Logprobs of the sampled token and the `top` best: log-softmax of the adjusted logits, computed
    for the sampled position only (one log-sum-exp and a partial sort over the vocabulary)."""
    normaliser = log_sum_exp(adjusted)
    alternatives: tuple[Alternative, ...] = ()
    if top:
        best = top_indices(adjusted, top)
        alternatives = tuple(
            Alternative(token_text(raw), raw, _finite(float(adjusted[t]) - normaliser))
            for t in best
            for raw in (runtime.token_bytes(int(t)),)
        )
    return _Sampled(
        piece, runtime.token_bytes(token), _finite(float(adjusted[token]) - normaliser), alternatives
    )


def _delta(index: int, released: list[tuple[str, _Sampled | None]], with_logprobs: bool) -> TextDelta:
    text = "".join(piece for piece, _ in released)
    if not with_logprobs:
        return TextDelta(index, text)
    entries = tuple(
        TokenLogprob(piece, s.raw if piece == s.piece else piece.encode(), s.logprob, s.top)
        for piece, s in released
        if s is not None
    )
    return TextDelta(index, text, entries)


def _choice(
    runtime: LanguageModel,
    job: GenerationJob,
    index: int,
    logits: Logits,
    cancelled: threading.Event,
    tally: Tally,
) -> Generator[Event, None, bool]:
    """Generate one choice from the prompt's `logits`; returns False if cancelled."""
    sampler = Sampler(job.sampling, index)
    constraint = runtime.constrain(job.grammar) if job.grammar is not None else None
    try:
        return (yield from _sample(runtime, job, index, logits, cancelled, sampler, constraint, tally))
    finally:
        if constraint is not None:
            constraint.close()


def _pick(sampler: Sampler, adjusted: Logits, constraint: TokenConstraint | None, exact: bool) -> int | None:
    """The next token. Under a grammar, the sampled token is checked alone first (cheap); only when the
    grammar rejects it -- or when logprobs must describe the constrained distribution (`exact`) -- is the
    whole vocabulary masked and the token drawn again: the result follows the masked distribution.
    None: the grammar allows only tokens that `logit_bias` bans (its end, say): nothing can come next."""
    if constraint is None:
        return sampler.choose(adjusted)
    if not exact:
        token = sampler.choose(adjusted)
        if constraint.allows(token):
            return token
    constraint.mask(adjusted)
    if not np.isfinite(adjusted).any():
        return None
    return sampler.choose(adjusted)


def _sample(
    runtime: LanguageModel,
    job: GenerationJob,
    index: int,
    logits: Logits,
    cancelled: threading.Event,
    sampler: Sampler,
    constraint: TokenConstraint | None,
    tally: Tally,
) -> Generator[Event, None, bool]:
    text, stops = Utf8Assembler(), StopFilter[_Sampled | None](job.stop)
    with_logprobs = job.top_logprobs is not None
    budget = runtime.info.context_window - len(job.prompt)
    if job.max_tokens is not None:
        budget = min(budget, job.max_tokens)
    produced = 0
    reason: FinishReason = "length"
    while produced < budget:
        if cancelled.is_set():
            return False
        adjusted = sampler.adjust(logits)
        token = _pick(sampler, adjusted, constraint, exact=with_logprobs)
        if token is None or runtime.is_end_of_generation(token):
            reason = "stop"
            break
        produced += 1
        tally.completion_tokens += 1
        sampler.observe(token)
        if constraint is not None:
            constraint.accept(token)
        piece = text.feed(runtime.token_bytes(token))
        info = _sampled(runtime, adjusted, token, piece, job.top_logprobs or 0) if with_logprobs else None
        released = stops.push(piece, info)
        if released:
            yield _delta(index, released, with_logprobs)
        if stops.stopped:
            reason = "stop"
            break
        if produced < budget:
            logits = runtime.append(token)
    released = stops.push(text.finish(), None) + stops.finish()
    if any(piece for piece, _ in released):
        yield _delta(index, released, with_logprobs)
    yield Finished(index, reason)
    return True


def choices(
    runtime: LanguageModel,
    job: GenerationJob,
    indices: Sequence[int],
    cancelled: threading.Event,
    tally: Tally,
) -> Generator[Event, None, bool]:
    """The events of the job's choices `indices`, one after another on `runtime`, each from the prompt
    (which the runtime keeps evaluated); returns False if cancelled. The parallel choices of a batched
    model run one such group per sequence (omnivox.backends.logits.batched)."""
    for index in indices:
        try:
            evaluation = runtime.evaluate(job.prompt, cancelled)
        except EvaluationCancelled:
            return False
        if not (yield from _choice(runtime, job, index, evaluation.logits, cancelled, tally)):
            return False
    return True


def generate(
    runtime: LanguageModel, job: GenerationJob, cancelled: threading.Event, tally: Tally | None = None
) -> Generator[Event, None, None]:
    """The events of the job's choices, then its UsageReport. `tally`, when given, holds what was used
    even when the generation is cut short (cancelled, closed, or failed)."""
    tally = tally if tally is not None else Tally()
    tally.prompt_tokens, tally.audio_tokens = len(job.prompt), job.audio_tokens
    for index in range(job.n):
        try:
            evaluation = runtime.evaluate(job.prompt, cancelled)
        except EvaluationCancelled:
            return  # the client left while the prompt was being evaluated
        if index == 0:
            tally.cached_tokens = evaluation.reused_tokens
            if job.on_stage is not None:
                job.on_stage("prompt_evaluation")
        if not (yield from _choice(runtime, job, index, evaluation.logits, cancelled, tally)):
            return
    yield tally.report()
