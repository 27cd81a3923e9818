"""A llama.cpp vocabulary made from a Hugging Face byte-level BPE tokenizer, so that a model run by
another runtime (transformers) is constrained exactly as a GGUF model is (llguidance over the llama.cpp
vocabulary, backends/guidance.py): the same grammar, the same token pieces, the same end-of-generation rule.

The tokenizer is written into a vocabulary-only GGUF (its tokens and their types, and the few
hyperparameters llama.cpp reads before the vocabulary; no tensors: ~3 MB for Qwen's 152k tokens), which
llama.cpp loads with `vocab_only` and which is deleted once loaded. The merges are left out (an empty
list): a grammar reads only each token's piece and whether it ends generation (llguidance's tokenize
calls, if any, get single-symbol tokens: valid, if not the shortest); reading the merges cost seconds of
JSON parsing at 152k tokens.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import llama_cpp as C
import numpy as np

from omnivox.backends.guidance import GuidanceConstraint, GuidanceGrammars
from omnivox.backends.llama_cpp.grammar import tokenizer_view
from omnivox.backends.llama_cpp.model import _init_backend
from omnivox.errors import ModelLoadError

# llama.cpp's token types (llama_token_type) and GGUF value types
_NORMAL, _CONTROL, _USER_DEFINED, _UNUSED = 1, 3, 4, 5
_U32, _I32, _F32, _BOOL, _STRING, _ARRAY = 4, 5, 6, 7, 8, 9


class HuggingFaceVocab:
    """llama.cpp's vocabulary of one Hugging Face tokenizer, `size` tokens (the model's logits: ids the
    tokenizer does not have are unused and never allowed); builds grammar constraints over it."""

    def __init__(self, tokenizer: Any, size: int, ends: Iterable[int]) -> None:
        _init_backend()
        with tempfile.TemporaryDirectory(prefix="omnivox-vocab-") as folder:
            path = Path(folder) / "vocab.gguf"
            path.write_bytes(vocab_gguf(tokenizer, size))
            params = C.llama_model_default_params()
            params.vocab_only = True
            self._model = C.llama_model_load_from_file(str(path).encode(), params)
        if not self._model:
            raise ModelLoadError("llama.cpp could not load the vocabulary made from the tokenizer")
        self._vocab = C.llama_model_get_vocab(self._model)
        self.size = int(C.llama_vocab_n_tokens(self._vocab))
        disagree = [t for t in ends if not C.llama_vocab_is_eog(self._vocab, t)]
        if self.size != size or disagree:
            self.close()
            raise ModelLoadError(f"llama.cpp reads the tokenizer differently (size {self.size}, {disagree})")
        vocab = self._vocab
        self._grammars = GuidanceGrammars(lambda: tokenizer_view(vocab, size), size)

    def constrain(self, grammar: str) -> GuidanceConstraint:
        return self._grammars.constrain(grammar)

    def close(self) -> None:
        if self._model:
            C.llama_model_free(self._model)
            self._model = None


def vocab_gguf(tokenizer: Any, size: int) -> bytes:
    """The GGUF (version 3) of `tokenizer`'s vocabulary as llama.cpp's converter writes a Qwen2 one."""
    model = type(tokenizer.backend_tokenizer.model).__name__
    if model != "BPE":
        raise ModelLoadError(f"a {model} tokenizer is not byte-level BPE: no grammar over it")
    tokens, types = _tokens(tokenizer, size)
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pairs: list[tuple[str, int, Any]] = [
        ("general.architecture", _STRING, "qwen2"),
        ("qwen2.context_length", _U32, 4096),  # the hyperparameters llama.cpp reads before the tokens;
        ("qwen2.embedding_length", _U32, 64),  # nothing is computed with them
        ("qwen2.block_count", _U32, 1),
        ("qwen2.feed_forward_length", _U32, 64),
        ("qwen2.attention.head_count", _U32, 1),
        ("qwen2.attention.head_count_kv", _U32, 1),
        ("qwen2.attention.layer_norm_rms_epsilon", _F32, 1e-6),
        ("tokenizer.ggml.model", _STRING, "gpt2"),
        ("tokenizer.ggml.pre", _STRING, "qwen2"),
        ("tokenizer.ggml.tokens", _ARRAY, (_STRING, tokens)),
        ("tokenizer.ggml.token_type", _ARRAY, (_I32, types)),
        ("tokenizer.ggml.merges", _ARRAY, (_STRING, [])),
        ("tokenizer.ggml.add_bos_token", _BOOL, False),
    ]
    if isinstance(end, int) and end >= 0:
        pairs.append(("tokenizer.ggml.eos_token_id", _U32, end))
    out = [b"GGUF", struct.pack("<IQQ", 3, 0, len(pairs))]
    for key, kind, value in pairs:
        out += [_string(key), struct.pack("<I", kind), _value(kind, value)]
    return b"".join(out)


def _tokens(tokenizer: Any, size: int) -> tuple[list[str], list[int]]:
    """Each id's text (byte-level symbols; added tokens as written) and llama.cpp type."""
    added = tokenizer.added_tokens_decoder
    specials = set(tokenizer.all_special_ids)
    tokens, types = [], []
    known = min(size, len(tokenizer))
    pieces = [*tokenizer.convert_ids_to_tokens(list(range(known))), *[None] * (size - known)]
    for i, piece in enumerate(pieces):
        if piece is None:
            tokens.append(f"[PAD{i}]")
            types.append(_UNUSED)
        elif i in added:
            tokens.append(added[i].content)
            types.append(_CONTROL if added[i].special or i in specials else _USER_DEFINED)
        else:
            tokens.append(str(piece))
            types.append(_NORMAL)
    return tokens, types


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _value(kind: int, value: Any) -> bytes:
    if kind == _STRING:
        return _string(value)
    if kind == _ARRAY:
        inner, items = value
        head = struct.pack("<IQ", inner, len(items))
        if inner == _I32:
            return head + np.asarray(items, dtype="<i4").tobytes()
        return head + b"".join(_value(inner, item) for item in items)
    return struct.pack({_U32: "<I", _I32: "<i", _F32: "<f", _BOOL: "<?"}[kind], value)
