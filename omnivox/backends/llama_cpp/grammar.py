"""Grammar constraints with llama.cpp's own grammar engine (GBNF), over a GGUF model's vocabulary."""

from __future__ import annotations

import ctypes

import llama_cpp as C
import numpy as np

from omnivox.tokens import Logits

#: numpy twin of llama_token_data {int32 id; float logit; float p}, so the vocabulary is passed without a
#: Python loop.
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class LlamaGrammarConstraint:
    """One llama.cpp grammar sampler; `mask` runs it over the whole vocabulary, `allows` over one token."""

    def __init__(self, vocab: int, vocab_size: int, grammar: str) -> None:
        sampler = C.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        if not sampler:
            raise ValueError("llama.cpp could not parse the grammar")
        self._sampler = sampler
        self._all = np.zeros(vocab_size, dtype=_TOKEN_DATA)
        self._all["id"] = np.arange(vocab_size)
        self._one = np.zeros(1, dtype=_TOKEN_DATA)

    def _apply(self, data: np.ndarray) -> None:
        array = C.llama_token_data_array(
            data.ctypes.data_as(ctypes.POINTER(C.llama_token_data)), data.size, -1, False
        )
        C.llama_sampler_apply(self._sampler, ctypes.byref(array))

    def allows(self, token: int) -> bool:
        self._one["id"], self._one["logit"] = token, 0.0
        self._apply(self._one)
        return bool(np.isfinite(self._one["logit"][0]))

    def mask(self, logits: Logits) -> None:
        self._all["logit"] = 0.0
        self._apply(self._all)
        logits[~np.isfinite(self._all["logit"])] = -np.inf

    def accept(self, token: int) -> None:
        # llama.cpp throws a C++ exception on a token its grammar cannot take, which aborts the process:
        # refused here instead (one token's check)
        if not self.allows(token):
            raise ValueError(f"token {token} does not follow the grammar")
        C.llama_sampler_accept(self._sampler, token)

    def close(self) -> None:
        if self._sampler:
            C.llama_sampler_free(self._sampler)
            self._sampler = None
