"""llama.cpp backend over llama-cpp-python's C API (not its `Llama` class, which keeps a
context-sized logits matrix and its own sampler). We ask llama.cpp for logits only.

One sequence (seq 0) lives in the KV cache. `evaluate` starts from the longest prefix it can find: the
sequence the KV cache holds, or one of the states saved in the prompt cache (prompt_cache.py beside this)
when the live sequence was about to be cut back, so that a repeated system prompt, a growing conversation
and several conversations taking turns are not recomputed. See docs/context.md.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp as C
import numpy as np

from omnivox import __version__
from omnivox.backends.cpu import default_threads
from omnivox.backends.guidance import GuidanceConstraint, GuidanceGrammars
from omnivox.backends.llama_cpp.grammar import tokenizer_view
from omnivox.backends.llama_cpp.library import load_backends
from omnivox.backends.llama_cpp.memory import (
    MIB,
    ContextMemory,
    available_memory,
    check_fits,
    compute_bytes,
    kv_cache_bytes,
)
from omnivox.backends.llama_cpp.prompt_cache import (
    TILE,
    CacheEntry,
    PromptCache,
    canonical_chunks,
    common_prefix,
    exact_length,
    reusable_prefix,
    row_class,
    single_row_exact,
)
from omnivox.errors import ModelFailure, ModelLoadError
from omnivox.runtimes.language_model import Evaluation, EvaluationCancelled, ModelInfo
from omnivox.tokens import Logits

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
    load_backends()


def _fingerprint(path: Path) -> str:
    """Identifies the weights and the runtime build, cheaply even for multi-GB files."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        digest.update(f.read(1 << 20))
    digest.update(f"{path.stat().st_size}:{C.__version__}:{__version__}".encode())
    return "fp_" + digest.hexdigest()[:12]


#: llama.cpp's RoPE scaling types by the names the settings use.
ROPE_SCALING = {
    "none": C.LLAMA_ROPE_SCALING_TYPE_NONE,
    "linear": C.LLAMA_ROPE_SCALING_TYPE_LINEAR,
    "yarn": C.LLAMA_ROPE_SCALING_TYPE_YARN,
}

#: The live sequence is saved to the prompt cache before `evaluate` cuts at least this many reusable
#: tokens off it: copying the state (~23 KB a token for SmolLM2, ~1.5 ms per 100 tokens) costs less than
#: re-evaluating such a tail would.
SNAPSHOT_MIN_TAIL = 16

#: Default memory for saved prompt states (as `prompt_cache_mib` in the settings).
DEFAULT_PROMPT_CACHE_BYTES = 1024 << 20


@dataclass(frozen=True, slots=True)
class _Saved:
    """A saved seq-0 state: llama_state_seq_get_data's bytes."""

    data: ctypes.Array[ctypes.c_uint8]


@dataclass(slots=True)
class _Sequence:
    """One sequence of the KV cache."""

    tokens: list[int] = field(default_factory=list)  # what it holds
    classes: bytearray = field(default_factory=bytearray)  # how each position was computed (row_class)
    evaluated: tuple[int, Logits] | None = None  # length and logits of its last evaluation, while current


@dataclass(frozen=True, slots=True)
class RopeOptions:
    """llama.cpp's RoPE options for windows beyond the trained context (None: the model's own)."""

    scaling: str | None = None  # "none", "linear", "yarn"
    freq_base: float | None = None
    freq_scale: float | None = None
    yarn_orig_ctx: int | None = None

    @property
    def chosen(self) -> bool:
        return any(v is not None for v in (self.scaling, self.freq_base, self.freq_scale))


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
        name: str | None = None,
        prompt_cache_bytes: int = DEFAULT_PROMPT_CACHE_BYTES,
        flash_attention: bool = True,
        rope: RopeOptions | None = None,
        memory_available: int | None = None,
        sequences: int = 1,
    ) -> None:
        """`prompt_cache_bytes` 0 disables reuse across requests (and of the live sequence: every new
        prompt is evaluated from scratch). `sequences`: how many sequences the KV cache holds at once, each
        with the whole window (for batched decoding; docs/batching.md). `memory_available` replaces the
        measured free memory (bytes) that the context must fit in; for tests."""
        _init_backend()
        if not path.is_file():
            raise ModelLoadError(f"GGUF model file not found: {path}")
        self._model = C.llama_model_load_from_file(str(path).encode(), C.llama_model_default_params())
        if not self._model:
            raise ModelLoadError(f"llama.cpp could not load {path} (not a GGUF model it supports?)")
        self._name = name or path.stem
        self._vocab = C.llama_model_get_vocab(self._model)
        self._n_ubatch = n_ubatch = min(batch_size, 512)
        self._n_vocab = int(C.llama_vocab_n_tokens(self._vocab))
        rope = rope or RopeOptions()
        self._sequences = sequences
        self._context_memory = self._estimate(context_window * sequences, n_ubatch, flash_attention)
        self._check_memory(context_window, prompt_cache_bytes, memory_available)
        trained = int(C.llama_model_n_ctx_train(self._model))
        self._ctx = self._new_context(
            context_window, threads or default_threads(), batch_size, n_ubatch, flash_attention, rope, trained
        )
        self._memory = C.llama_get_memory(self._ctx)
        self._window = context_window
        self._flash_attention = flash_attention
        self._seqs = [_Sequence() for _ in range(sequences)]  # what each sequence of the KV cache holds
        self._batch = C.llama_batch_init(max(batch_size, sequences), 0, 1)
        self._cancelled: threading.Event | None = None  # watched by the abort callback during evaluate()
        self._abort_callback = C.ggml_abort_callback(self._should_abort)  # kept: llama.cpp holds a pointer
        # reuse needs calls of TILE rows to stay whole (llama.cpp splits calls into n_ubatch rows)
        reuse = prompt_cache_bytes > 0 and n_ubatch >= TILE
        self._cache = PromptCache(prompt_cache_bytes) if reuse else None
        self._pieces: dict[int, bytes] = {}
        self._grammars = GuidanceGrammars(lambda: tokenizer_view(self._vocab, self._n_vocab), self._n_vocab)
        self._info = self._read_info(path, context_window, chat_template)
        log.info(
            "%s: context %d tokens, KV cache %.0f MiB (+ %.0f MiB compute), prompt cache up to %.0f MiB",
            self._name,
            context_window,
            self._context_memory.kv_cache / MIB,
            self._context_memory.compute / MIB,
            prompt_cache_bytes / MIB,
        )
        if context_window > trained and not rope.chosen and not self._own_rope_scaling():
            log.warning(
                "%s: context_window %d exceeds the %d tokens the model was trained on and no RoPE scaling is "
                'set: positions beyond %d are outside what it learned; rope_scaling = "yarn" extends it '
                "(docs/context.md)",
                self._name,
                context_window,
                trained,
                trained,
            )

    def _meta_int(self, key: str) -> int | None:
        """An integer from the GGUF metadata, None when absent."""
        buf = ctypes.create_string_buffer(64)
        if C.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf)) < 0:
            return None
        try:
            return int(float(buf.value.decode()))
        except ValueError:
            return None

    def _architecture(self) -> str:
        buf = ctypes.create_string_buffer(64)
        n = C.llama_model_meta_val_str(self._model, b"general.architecture", buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n > 0 else ""

    def _own_rope_scaling(self) -> bool:
        """Whether the GGUF itself declares a RoPE scaling (llama.cpp then applies it by default)."""
        buf = ctypes.create_string_buffer(32)
        key = f"{self._architecture()}.rope.scaling.type".encode()
        if C.llama_model_meta_val_str(self._model, key, buf, len(buf)) < 0:
            return False
        return buf.value.decode("utf-8", "replace") not in ("", "none")

    def _estimate(self, n_ctx: int, n_ubatch: int, flash_attention: bool) -> ContextMemory:
        """The context's memory from the model's shape (llama.cpp keeps K and V in f16)."""
        n_head = int(C.llama_model_n_head(self._model))
        head = int(C.llama_model_n_embd(self._model)) // max(n_head, 1)
        arch = self._architecture()
        kv = kv_cache_bytes(
            n_ctx,
            n_layer=int(C.llama_model_n_layer(self._model)),
            n_head_kv=int(C.llama_model_n_head_kv(self._model)),
            key_length=self._meta_int(f"{arch}.attention.key_length") or head,
            value_length=self._meta_int(f"{arch}.attention.value_length") or head,
        )
        compute = compute_bytes(
            n_ctx, n_ubatch=n_ubatch, n_head=n_head, n_vocab=self._n_vocab, flash_attention=flash_attention
        )
        return ContextMemory(kv_cache=kv, compute=compute)

    def _check_memory(self, context_window: int, prompt_cache_bytes: int, available: int | None) -> None:
        source = "given"
        if available is None:
            available, source = available_memory()
        problem = check_fits(
            self._name,
            context_window=context_window,
            needed=self._context_memory,
            prompt_cache=prompt_cache_bytes,
            available=available,
            source=source,
        )
        if problem is not None:
            C.llama_model_free(self._model)
            raise ModelLoadError(problem)

    def _new_context(
        self,
        n_ctx: int,
        threads: int,
        batch_size: int,
        n_ubatch: int,
        flash_attention: bool,
        rope: RopeOptions,
        trained: int,
    ) -> int:
        params = C.llama_context_default_params()
        # one KV stream per sequence, each of the whole window: a sequence's attention is computed over its
        # own cells whatever the others hold (the same kernels alone or in a batch; docs/batching.md)
        params.n_ctx = n_ctx * self._sequences
        params.n_batch = max(batch_size, self._sequences)
        params.n_ubatch = n_ubatch
        params.n_seq_max = self._sequences
        params.kv_unified = False
        params.n_threads = threads
        params.n_threads_batch = threads
        params.no_perf = True
        params.flash_attn_type = (
            C.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention else C.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        if rope.scaling is not None:
            params.rope_scaling_type = ROPE_SCALING[rope.scaling]
        if rope.freq_base is not None:
            params.rope_freq_base = rope.freq_base
        if rope.freq_scale is not None:
            params.rope_freq_scale = rope.freq_scale
        elif rope.scaling in ("linear", "yarn"):  # stretch the trained positions over the whole window
            params.rope_freq_scale = min(1.0, trained / n_ctx)
        if rope.yarn_orig_ctx is not None:
            params.yarn_orig_ctx = rope.yarn_orig_ctx
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
            kv_cache_bytes=self._context_memory.kv_cache,
            sequences=self._sequences,
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def prompt_cache(self) -> PromptCache | None:
        """The saved prompt states (None when disabled); for tests and diagnostics."""
        return self._cache

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

    def evaluate(self, tokens: Sequence[int], cancelled: threading.Event | None = None) -> Evaluation:
        """See LanguageModel.evaluate (sequence 0). Whatever is reused, the logits are bitwise those of
        evaluating `tokens` from scratch (prompt_cache.reusable_prefix says why and how). `cancelled` is
        watched between decode calls and, through llama.cpp's abort callback, inside them."""
        self._cancelled = cancelled
        if cancelled is not None:
            C.llama_set_abort_callback(self._ctx, self._abort_callback, None)
        try:
            chunks = self.prefill(0, tokens, self._n_ubatch)
            while True:
                next(chunks)
                if cancelled is not None and cancelled.is_set():
                    raise EvaluationCancelled()
        except StopIteration as done:
            result: Evaluation = done.value
            return result
        finally:
            if cancelled is not None:  # no Python call per graph node while generating
                C.llama_set_abort_callback(self._ctx, C.ggml_abort_callback(), None)
            self._cancelled = None

    def prefill(
        self, sequence: int, tokens: Sequence[int], max_rows: int
    ) -> Generator[None, None, Evaluation]:
        """See BatchedLanguageModel.prefill: yields before each decode call of at most `max_rows` rows."""
        n = len(tokens)
        if not 0 < n <= self._info.context_window:
            raise ModelFailure(f"cannot evaluate {n} tokens in a {self._info.context_window} window")
        seq = self._seqs[sequence]
        common = common_prefix(seq.tokens, tokens)
        if seq.evaluated is not None and common == n == seq.evaluated[0]:
            self._truncate(sequence, n)  # the same sequence again (the next choice): nothing to compute
            return Evaluation(logits=seq.evaluated[1].copy(), reused_tokens=n)
        # without a cache nothing is reused across requests: evaluated from scratch
        if self._cache is None:
            keep = self._truncate(sequence, 0)
        else:
            keep = self._start_from(sequence, tokens, common)
        rows = self._n_ubatch if self._n_ubatch < TILE else min(max(max_rows, TILE), self._n_ubatch)
        for start, stop in canonical_chunks(keep, n, rows):
            yield
            self._decode(sequence, tokens[start:stop])
        logits = self._logits(-1)
        seq.evaluated = (n, logits.copy())
        return Evaluation(logits=logits, reused_tokens=keep)

    def affinity(self, sequence: int, tokens: Sequence[int]) -> int:
        """How many leading tokens of `tokens` sequence `sequence` could serve without recomputing."""
        seq = self._seqs[sequence]
        if self._cache is None:
            return 0
        return self._reusable(seq.classes, common_prefix(seq.tokens, tokens), len(tokens))

    def _should_abort(self, _data: ctypes.c_void_p) -> bool:
        cancelled = self._cancelled
        return cancelled is not None and cancelled.is_set()

    def _single_row_exact(self, position: int) -> bool:
        """Whether one row decoded at `position` is computed as in a call of 2-63 rows: with flash
        attention early in the window; without it, measured not to be."""
        return self._flash_attention and single_row_exact(position, self._window)

    def _reusable(self, classes: bytes | bytearray, common: int, n: int) -> int:
        return reusable_prefix(classes, common, n, last_row_exact=self._single_row_exact(n - 1))

    def _start_from(self, sequence: int, tokens: Sequence[int], common: int) -> int:
        """Make the sequence hold the longest prefix of `tokens` that can be reused exactly: its own or a
        saved state's. Saves the live sequence first when it would lose a substantial reusable tail.
        Returns how many tokens the sequence now holds."""
        assert self._cache is not None
        seq = self._seqs[sequence]
        n = len(tokens)
        live = self._reusable(seq.classes, common, n)
        entry, shared = self._cache.best(tokens)
        saved = self._reusable(entry.classes, shared, n) if entry is not None else 0
        if entry is not None and saved > live:
            self._cache.touch(entry)  # evicted last while the live sequence is saved below
        exact = exact_length(seq.classes)
        if exact - live >= SNAPSHOT_MIN_TAIL and not self._cache.covers(seq.tokens[:exact]):
            self._truncate(sequence, exact)  # what follows could never be reused exactly: not worth keeping
            self._snapshot(sequence)
        if entry is None or saved <= live:
            return self._truncate(sequence, live)
        if not self._restore(sequence, entry):
            return 0
        return self._truncate(sequence, saved)

    def _snapshot(self, sequence: int) -> None:
        """Save a sequence's KV state in the prompt cache (unless it alone exceeds the budget)."""
        assert self._cache is not None
        size = int(C.llama_state_seq_get_size(self._ctx, sequence))
        if size <= 0 or size > self._cache.budget:
            return
        data = (ctypes.c_uint8 * size)()
        written = int(C.llama_state_seq_get_data(self._ctx, data, size, sequence))
        if written > 0:
            seq = self._seqs[sequence]
            self._cache.save(seq.tokens, _Saved(data), written, bytes(seq.classes))

    def _restore(self, sequence: int, entry: CacheEntry) -> bool:
        """Replace a sequence by a saved state; on failure the sequence is left empty."""
        assert isinstance(entry.state, _Saved)
        seq = self._seqs[sequence]
        seq.evaluated = None
        self._truncate(sequence, 0)
        if int(C.llama_state_seq_set_data(self._ctx, entry.state.data, entry.size, sequence)) == 0:
            log.warning("%s: a saved prompt state could not be restored; evaluating anew", self._name)
            self._clear(sequence)
            return False
        seq.tokens.extend(entry.tokens)
        seq.classes.extend(entry.classes)
        return True

    def copy(self, source: int, target: int) -> None:
        """See BatchedLanguageModel.copy: the source's KV cells are copied through llama.cpp's state
        (only the cells it holds, not the whole stream that a cross-stream llama_memory_seq_cp copies)."""
        if source == target:
            return
        src, dst = self._seqs[source], self._seqs[target]
        dst.evaluated = None
        self._truncate(target, 0)
        size = int(C.llama_state_seq_get_size(self._ctx, source))
        data = (ctypes.c_uint8 * max(size, 1))()
        written = int(C.llama_state_seq_get_data(self._ctx, data, size, source)) if size > 0 else 0
        if written <= 0 or int(C.llama_state_seq_set_data(self._ctx, data, written, target)) == 0:
            self._clear(target)
            raise ModelFailure("llama.cpp could not copy a sequence's state")
        dst.tokens.extend(src.tokens)
        dst.classes.extend(src.classes)
        if src.evaluated is not None:
            dst.evaluated = (src.evaluated[0], src.evaluated[1].copy())

    def _clear(self, sequence: int) -> None:
        """Forget a sequence entirely (after a failure)."""
        C.llama_memory_seq_rm(self._memory, sequence, -1, -1)
        seq = self._seqs[sequence]
        seq.tokens.clear()
        seq.classes.clear()
        seq.evaluated = None

    def _truncate(self, sequence: int, keep: int) -> int:
        """Drop a sequence's cached positions from `keep` on; returns how many are kept."""
        seq = self._seqs[sequence]
        if keep < len(seq.tokens):
            if not C.llama_memory_seq_rm(self._memory, sequence, keep, -1):
                self._clear(sequence)
                return 0
            del seq.tokens[keep:]
            del seq.classes[keep:]
        return keep

    def append(self, token: int) -> Logits:
        return self.step([(0, token)])[0]

    def step(self, rows: Sequence[tuple[int, int]]) -> list[Logits]:
        """See BatchedLanguageModel.step: one decode call, one row (sequence, token) per sequence.

        The rows go to llama.cpp in the order of their sequence ids: with one KV stream per sequence it
        computes a call in pieces of consecutive ids taken in the batch's order (llama_batch_allocr::
        split_equal), each piece a pass over all the weights; rows in the order they were asked for
        would cost up to one pass each. Ids with a gap between them still take a pass each run."""
        order = sorted(range(len(rows)), key=lambda i: rows[i][0])
        positions = [len(self._seqs[sequence].tokens) for sequence, _ in rows]
        self._run_batch([(rows[i][0], positions[i], rows[i][1]) for i in order], every=True)
        # a single row runs the row-by-row kernel only while the KV view (the longest of the call's
        # sequences, padded) stays small: judged by the furthest position, which errs on the safe side
        kind = row_class(1, max(positions), self._single_row_exact(max(positions)))
        for sequence, token in rows:
            seq = self._seqs[sequence]
            seq.tokens.append(token)
            seq.classes.append(kind)
        # every row's logits in one copy (llama_get_logits puts them in the batch's order); each row a view
        pointer = C.llama_get_logits(self._ctx)
        table = np.ctypeslib.as_array(pointer, shape=(len(rows), self._n_vocab)).copy()
        result: list[Logits] = [table[0]] * len(rows)
        for place, i in enumerate(order):
            result[i] = table[place]
        return result

    def _decode(self, sequence: int, tokens: Sequence[int]) -> None:
        """One llama_decode call of one sequence's tokens (at most n_ubatch, so llama.cpp does not split
        it); logits for the last only."""
        seq = self._seqs[sequence]
        start = len(seq.tokens)
        self._run_batch([(sequence, start + i, t) for i, t in enumerate(tokens)], every=False)
        seq.tokens.extend(tokens)
        kind = row_class(len(tokens), start, self._single_row_exact(start))
        seq.classes.extend(bytes([kind]) * len(tokens))

    def _run_batch(self, rows: Sequence[tuple[int, int, int]], *, every: bool) -> None:
        """llama_decode of (sequence, position, token) rows; logits for every row or the last only. On
        failure the rows' sequences are forgotten (their KV state is not known)."""
        batch = self._batch
        for i, (sequence, position, token) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = sequence
            batch.logits[i] = every or i == len(rows) - 1
        batch.n_tokens = len(rows)
        rc = C.llama_decode(self._ctx, batch)
        if rc != 0:
            for sequence in {row[0] for row in rows}:
                self._clear(sequence)
            if rc == 2 and self._cancelled is not None and self._cancelled.is_set():
                raise EvaluationCancelled()  # aborted by the callback: the sequence starts empty again
            raise ModelFailure(f"llama_decode failed with code {rc}")

    def _logits(self, row: int) -> Logits:
        pointer = C.llama_get_logits_ith(self._ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,)).copy()

    def constrain(self, grammar: str) -> GuidanceConstraint:
        return self._grammars.constrain(grammar)

    def close(self) -> None:
        if self._ctx:
            C.llama_batch_free(self._batch)
            C.llama_free(self._ctx)
            C.llama_model_free(self._model)
            self._ctx = 0
