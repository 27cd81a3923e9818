"""Grammar constraints with llguidance (the engine llama.cpp itself, vLLM and SGLang use): a grammar in its
Lark dialect, whose rules may embed JSON schemas (`name: %json {...}`), -> the allowed tokens at each step,
over any vocabulary llguidance has a tokenizer view of (a backend builds that view once per model).

A compiled grammar is kept per grammar text and each choice gets a copy of it (copying costs
microseconds, compiling milliseconds)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from llguidance import LLMatcher, LLParserLimits, LLTokenizer
from llguidance.numpy import allocate_token_bitmask, fill_next_token_bitmask

from omnivox.tokens import Logits

#: llguidance's bounds on the work a grammar may cost (its defaults, named here): compiling (lexer fuel
#: ~50K a ms, so ~20 ms of regex analysis at most; grammar symbols; lexer states) and each token's mask
#: (step fuel ~14K a ms, Earley items ~20K a ms: ~15 ms at most). A grammar past them is refused, in
#: bounded time, rather than run slowly.
LIMITS: dict[str, int] = {
    "initial_lexer_fuel": 1_000_000,
    "max_grammar_size": 500_000,
    "max_lexer_states": 250_000,
    "step_lexer_fuel": 200_000,
    "step_max_items": 50_000,
}


def parser_limits() -> LLParserLimits:
    return LLParserLimits(**LIMITS)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def compile_error(grammar: str) -> str:
    """llguidance's complaint about a grammar, its first line ("" when it compiles); cached per text."""
    message = LLMatcher.validate_grammar(grammar, limits=parser_limits())
    return message.splitlines()[0].split(": ", 1)[-1] if message else ""


class GuidanceConstraint:
    """One choice's grammar state (a TokenConstraint). `mask` computes the allowed set over the whole
    vocabulary as a bitmask; `allows` checks one token without changing the state (an end token: whether
    the grammar is complete, which `validate_tokens` does not answer)."""

    def __init__(self, matcher: LLMatcher, vocab_size: int, ends: frozenset[int]) -> None:
        self._matcher = matcher
        self._bits = allocate_token_bitmask(1, vocab_size)
        self._size, self._ends = vocab_size, ends

    def allows(self, token: int) -> bool:
        if token in self._ends:
            return bool(self._matcher.is_accepting())
        return bool(self._matcher.validate_tokens([token]) == 1)

    def mask(self, logits: Logits) -> None:
        fill_next_token_bitmask(self._matcher, self._bits)
        allowed = np.unpackbits(self._bits.view(np.uint8), bitorder="little")[: self._size]
        logits[allowed == 0] = -np.inf

    def accept(self, token: int) -> None:
        # checked first (half a microsecond): a refused token leaves the state as it was, where consuming
        # it would leave the matcher in its error state for good
        if not self.allows(token):
            raise ValueError(f"the grammar does not allow token {token}")
        if not self._matcher.consume_token(token):
            error = self._matcher.get_error().splitlines()
            raise ValueError(f"the grammar does not allow token {token}: {error[0] if error else ''}")

    def close(self) -> None:
        pass


class GuidanceGrammars:
    """The grammars of one vocabulary: its llguidance tokenizer view (built on first use by `view`) and
    the compiled grammars, the last `cached` kept."""

    def __init__(self, view: Callable[[], LLTokenizer], vocab_size: int, cached: int = 64) -> None:
        self._view, self._size = view, vocab_size
        self._compiled = functools.lru_cache(maxsize=cached)(self._compile)

    @functools.cached_property
    def tokenizer(self) -> LLTokenizer:
        return self._view()

    @functools.cached_property
    def _ends(self) -> frozenset[int]:
        return frozenset(self.tokenizer.eos_tokens)

    def _compile(self, grammar: str) -> LLMatcher:
        matcher = LLMatcher(self.tokenizer, grammar, log_level=0, limits=parser_limits())
        if matcher.is_error():
            raise ValueError(f"the grammar cannot be used: {matcher.get_error()}")
        return matcher

    def constrain(self, grammar: str) -> GuidanceConstraint:
        """A fresh constraint; raises ValueError when the grammar does not compile."""
        return GuidanceConstraint(self._compiled(grammar).deep_copy(), self._size, self._ends)
