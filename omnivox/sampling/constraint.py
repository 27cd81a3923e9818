"""Constrained decoding: which tokens may come next. A runtime builds a TokenConstraint from a grammar
over its own vocabulary; omnivox's generation loop applies it the same way for every backend."""

from __future__ import annotations

from typing import Protocol

from omnivox.runtimes.base import Logits


class TokenConstraint(Protocol):
    """The state of one grammar over one choice's tokens. End-of-generation tokens are allowed only where
    the grammar is complete."""

    def allows(self, token: int) -> bool:
        """Whether `token` may come next (cheap: one token)."""
        ...

    def mask(self, logits: Logits) -> None:
        """Set the logits of every token that may not come next to -inf, in place (the whole vocabulary)."""
        ...

    def accept(self, token: int) -> None:
        """Advance the grammar over a generated token."""
        ...

    def close(self) -> None: ...
