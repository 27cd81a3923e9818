"""llguidance's view of a GGUF model's vocabulary: every token's bytes, which are control tokens, and the
tokens that end generation; built once per model, on first use (~0.5 s for 49K tokens). The constraint
itself is backend-neutral (omnivox.backends.guidance). As llguidance's own `llamacpp` helper, but with
the current vocabulary calls (its helper calls one that warns of deprecation, 49K times)."""

from __future__ import annotations

import ctypes

import llama_cpp as C
from llguidance import LLTokenizer

#: llguidance marks a special token by a leading 0xFF byte, so that text never matches it.
_SPECIAL = b"\xff"


def end_tokens(vocab: int) -> list[int]:
    """Every token of the vocabulary that ends generation (EOS, end-of-turn)."""
    return [t for t in range(C.llama_vocab_n_tokens(vocab)) if C.llama_vocab_is_eog(vocab, t)]


def _token(vocab: int, token: int, buffer: ctypes.Array[ctypes.c_char]) -> bytes:
    n = C.llama_token_to_piece(vocab, token, buffer, len(buffer), 0, True)
    if n < 0:
        raise ValueError(f"token {token} is longer than {len(buffer)} bytes")
    piece = buffer.raw[:n]
    attr = C.llama_vocab_get_attr(vocab, token)
    control = attr & C.LLAMA_TOKEN_ATTR_CONTROL
    marked = attr & C.LLAMA_TOKEN_ATTR_USER_DEFINED and piece.startswith(b"<") and piece.endswith(b">")
    return _SPECIAL + piece if control or marked else piece


def tokenizer_view(vocab: int, vocab_size: int) -> LLTokenizer:
    buffer = ctypes.create_string_buffer(16 * 1024)
    tokens = [_token(vocab, t, buffer) for t in range(C.llama_vocab_n_tokens(vocab))]
    tokens += [b""] * (vocab_size - len(tokens))
    tokenize = ctypes.cast(C.llama_cpp._lib.llama_tokenize, ctypes.c_void_p).value
    view: LLTokenizer = LLTokenizer.from_llamacpp(  # type: ignore[attr-defined]
        tokens=tokens, vocab_ptr=vocab, tokenize_fptr=tokenize, eos_token=end_tokens(vocab), slices=None
    )
    return view
