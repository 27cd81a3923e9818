"""The language-model runtime contract.

A backend only turns token sequences into next-token logits; omnivox's own sampler (omnivox.sampling)
chooses the tokens, so every backend obeys the same OpenAI sampling semantics.

A runtime owns one evaluation state (a KV cache) and is not thread-safe: exactly one thread drives it
(the model's worker thread, omnivox.runtimes.worker; or, for a BatchedLanguageModel, the batch scheduler's
thread, omnivox.runtimes.batching). Reading its vocabulary (`tokenize`, `token_bytes`,
`is_end_of_generation`, `constrain`) is safe from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from omnivox.tokens import Logits, TokenConstraint


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What the orchestration layer needs to know about a loaded model."""

    context_window: int  # tokens the runtime can hold (prompt + completion)
    trained_context: int  # tokens the model was trained on
    vocab_size: int
    chat_template: str  # Jinja template rendering OpenAI-style messages into the prompt text
    bos_token: str  # text of the beginning-of-sequence token ("" when the model has none)
    eos_token: str
    add_bos: bool  # whether the model expects BOS prepended to the prompt
    fingerprint: str  # identifies weights + runtime build (system_fingerprint)
    created: int  # unix time the weights were written, for /v1/models
    grammars: bool = False  # whether `constrain` works (structured outputs, tools)
    kv_cache_bytes: int = 0  # estimated memory of the KV cache for the whole window (0: not known)
    sequences: int = 1  # sequences held and decoded at once (> 1 only for a BatchedLanguageModel)


class EvaluationCancelled(Exception):
    """`evaluate` stopped early because its `cancelled` event was set; the runtime's state is consistent
    (it may hold less than before)."""


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Result of evaluating a whole token sequence."""

    logits: Logits  # next-token logits after the last token
    reused_tokens: int  # leading tokens served from the runtime's cache instead of recomputed


class LanguageModel(Protocol):
    """A causal language model that yields logits. Implementations: LlamaCppModel; FakeLanguageModel in
    the tests."""

    @property
    def info(self) -> ModelInfo: ...

    def tokenize(self, text: str) -> list[int]:
        """Token ids of `text`, with special-token markup (`<|im_start|>`) parsed, nothing prepended."""
        ...

    def token_bytes(self, token: int) -> bytes:
        """The UTF-8 bytes a token contributes to the output text (may be part of a character)."""
        ...

    def is_end_of_generation(self, token: int) -> bool:
        """True for tokens that end the assistant's turn (EOS, end-of-turn)."""
        ...

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        """Make the state hold exactly `tokens` (1 <= len <= context_window), reusing the longest cached
        prefix, and return the logits for the next token. When `cancelled` is set meanwhile (the client
        left), a long evaluation may stop early with EvaluationCancelled."""
        ...

    def append(self, token: int) -> Logits:
        """Extend the evaluated sequence by one token; return the logits for the token after it."""
        ...

    def constrain(self, grammar: str) -> TokenConstraint:
        """A fresh constraint from a grammar over this model's vocabulary: llguidance's Lark dialect (start
        rule `start`; a rule may be a JSON schema, `name: %json {...}`). Raises ValueError when the grammar
        does not compile. Only where `info.grammars`."""
        ...

    def close(self) -> None:
        """Free the native resources."""
        ...


@runtime_checkable
class BatchedLanguageModel(LanguageModel, Protocol):
    """A LanguageModel whose state holds `info.sequences` independent sequences (numbered from 0; sequence 0
    is the one `evaluate` and `append` work on), decoded together one token each per `step`. A sequence
    keeps what it holds after its generation ends, so that a later prompt sharing its prefix reuses it.
    Results must not depend on which sequences share a step (docs/batching.md)."""

    def affinity(self, sequence: int, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` the sequence could keep instead of recomputing."""
        ...

    def prefill(
        self, sequence: int, tokens: Sequence[int], max_rows: int
    ) -> Generator[None, None, Evaluation]:
        """`evaluate` for one sequence, as a generator that yields before each decode call of at most
        `max_rows` rows (the runtime may round it up to what keeps the results exact), so that the caller
        can interleave decode steps; returns the Evaluation."""
        ...

    def copy(self, source: int, target: int) -> None:
        """Make sequence `target` hold what `source` holds, its last evaluation included, so that
        evaluating the same tokens on `target` computes nothing (the `n` choices of one request decode
        in parallel from one evaluated prompt). What `target` held is dropped."""
        ...

    def step(self, rows: Sequence[tuple[int, int]]) -> list[Logits]:
        """Extend each sequence of `rows` (sequence, token), at most one row per sequence, by its token in
        one decode call; return the next-token logits of each row, in order."""
        ...
