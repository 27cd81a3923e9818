"""Token-level values shared by the runtimes that yield logits and omnivox's sampler: the logits of one
position and the constraint that masks them. Nothing here imports the rest of omnivox, so the runtime
contract and the sampler both stand on it without importing each other."""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

#: Next-token logits, shape (n_vocab,), float32, a copy the caller owns.
Logits = NDArray[np.float32]


class TokenConstraint(Protocol):
    """The state of one grammar over one choice's tokens. A runtime builds it from a grammar over its own
    vocabulary; the generation loop applies it the same way for every backend. End-of-generation tokens
    are allowed only where the grammar is complete."""

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
