"""llama.cpp backend over llama-cpp-python's C API (not its `Llama` class, which keeps a
context-sized logits matrix and its own sampler). We ask llama.cpp for logits only.

One sequence (seq 0) lives in the KV cache; `evaluate` keeps the longest common prefix with the previous
sequence, so a growing conversation or a repeated system prompt is not recomputed.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

import llama_cpp as C
import numpy as np

from omnivox import __version__
from omnivox.errors import ModelFailure, ModelLoadError
from omnivox.runtimes.base import Evaluation, Logits, ModelInfo, default_threads
from omnivox.runtimes.llama_grammar import LlamaGrammarConstraint

log = logging.getLogger("omnivox.llama_cpp")

#: ggml_log_level: 1 debug, 2 info, 3 warn, 4 error, 5 continuation. Its info is load-time chatter: debug.
_GGML_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}


@C.llama_log_callback  # type: ignore[untyped-decorator]
def _forward_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    """Route llama.cpp's chatter into Python logging (it prints to stderr otherwise)."""
    message = text.decode("utf-8", "replace").rstrip()
    if message:
        log.log(_GGML_LEVELS.get(level, logging.DEBUG), "%s", message)


@functools.cache
def _init_backend() -> None:
    C.llama_log_set(_forward_log, ctypes.c_void_p(0))
    C.llama_backend_init()


def _fingerprint(path: Path) -> str:
    """Identifies the weights and the runtime build, cheaply even for multi-GB files."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(1 << 20))
    digest.update(f"{path.stat().st_size}:{C.__version__}:{__version__}".encode())
    return "fp_" + digest.hexdigest()[:12]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class LlamaCppModel:
    """A GGUF model evaluated by llama.cpp on the CPU (or whatever the installed build offloads to)."""

    def __init__(
        self,
        path: Path,
        *,
        context_window: int,
        threads: int | None = None,
        batch_size: int = 512,
        chat_template: str | None = None,
    ) -> None:
        _init_backend()
        if not path.is_file():
            raise ModelLoadError(f"GGUF model file not found: {path}")
        self._model = C.llama_model_load_from_file(str(path).encode(), C.llama_model_default_params())
        if not self._model:
            raise ModelLoadError(f"llama.cpp could not load {path} (not a GGUF model it supports?)")
        self._vocab = C.llama_model_get_vocab(self._model)
        self._batch_size = batch_size
        self._ctx = self._new_context(context_window, threads or default_threads(), batch_size)
        self._memory = C.llama_get_memory(self._ctx)
        self._n_vocab = int(C.llama_vocab_n_tokens(self._vocab))
        self._tokens: list[int] = []  # the sequence the KV cache holds
        self._evaluated: tuple[int, Logits] | None = None  # length and logits of the last evaluate()
        self._pieces: dict[int, bytes] = {}
        self._info = self._read_info(path, context_window, chat_template)

    def _new_context(self, n_ctx: int, threads: int, batch_size: int) -> int:
        params = C.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = batch_size
        params.n_ubatch = min(batch_size, 512)
        params.n_seq_max = 1
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        ctx = C.llama_init_from_model(self._model, params)
        if not ctx:
            C.llama_model_free(self._model)
            raise ModelLoadError(f"llama.cpp could not create a context of {n_ctx} tokens")
        return int(ctx)

    def _read_info(self, path: Path, context_window: int, template_override: str | None) -> ModelInfo:
        template = template_override
        if template is None:
            raw = C.llama_model_chat_template(self._model, None)
            template = raw.decode("utf-8") if raw else None
        if not template:
            raise ModelLoadError(
                f"{path} carries no chat template; set `chat_template` for this model in the settings"
            )
        bos, eos = C.llama_vocab_bos(self._vocab), C.llama_vocab_eos(self._vocab)
        return ModelInfo(
            context_window=context_window,
            trained_context=int(C.llama_model_n_ctx_train(self._model)),
            vocab_size=self._n_vocab,
            chat_template=template,
            bos_token=self._piece(bos, special=True).decode("utf-8", "replace") if bos >= 0 else "",
            eos_token=self._piece(eos, special=True).decode("utf-8", "replace") if eos >= 0 else "",
            add_bos=bool(C.llama_vocab_get_add_bos(self._vocab)),
            fingerprint=_fingerprint(path),
            created=int(path.stat().st_mtime),
            grammars=True,
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (C.llama_token * capacity)()
        n = C.llama_tokenize(self._vocab, data, len(data), buf, capacity, False, True)
        if n < 0:  # more tokens than bytes cannot happen for BPE, but the API allows it
            capacity = -n
            buf = (C.llama_token * capacity)()
            n = C.llama_tokenize(self._vocab, data, len(data), buf, capacity, False, True)
        return list(buf[:n])

    def _piece(self, token: int, *, special: bool) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = C.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]

    def token_bytes(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._piece(token, special=False)
        return piece

    def is_end_of_generation(self, token: int) -> bool:
        return bool(C.llama_vocab_is_eog(self._vocab, token))

    def evaluate(self, tokens: Sequence[int]) -> Evaluation:
        if not 0 < len(tokens) <= self._info.context_window:
            raise ModelFailure(
                f"cannot evaluate {len(tokens)} tokens in a {self._info.context_window} window"
            )
        common = _common_prefix(self._tokens, tokens)
        if self._evaluated is not None and common == len(tokens) == self._evaluated[0]:
            self._truncate(len(tokens))  # the same sequence again (the next choice): nothing to compute
            return Evaluation(logits=self._evaluated[1].copy(), reused_tokens=len(tokens))
        keep = self._truncate(min(common, len(tokens) - 1))  # the last token is re-run for its logits
        self._decode(tokens[keep:])
        logits = self._last_logits()
        self._evaluated = (len(tokens), logits.copy())
        return Evaluation(logits=logits, reused_tokens=keep)

    def _truncate(self, keep: int) -> int:
        """Drop cached positions from `keep` on; returns how many are kept."""
        if keep < len(self._tokens):
            if not C.llama_memory_seq_rm(self._memory, 0, keep, -1):
                C.llama_memory_clear(self._memory, True)
                keep = 0
            del self._tokens[keep:]
        return keep

    def append(self, token: int) -> Logits:
        self._decode([token])
        return self._last_logits()

    def _decode(self, tokens: Sequence[int]) -> None:
        for start in range(0, len(tokens), self._batch_size):
            chunk = tokens[start : start + self._batch_size]
            array = (C.llama_token * len(chunk))(*chunk)
            rc = C.llama_decode(self._ctx, C.llama_batch_get_one(array, len(chunk)))
            if rc != 0:
                C.llama_memory_clear(self._memory, True)
                self._tokens.clear()
                self._evaluated = None
                raise ModelFailure(f"llama_decode failed with code {rc}")
            self._tokens.extend(chunk)

    def _last_logits(self) -> Logits:
        pointer = C.llama_get_logits_ith(self._ctx, -1)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def constrain(self, grammar: str) -> LlamaGrammarConstraint:
        return LlamaGrammarConstraint(self._vocab, self._n_vocab, grammar)

    def close(self) -> None:
        if self._ctx:
            C.llama_free(self._ctx)
            C.llama_model_free(self._model)
            self._ctx = 0
