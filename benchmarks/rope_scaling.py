"""What the embedded SmolLM2 (trained to 8,192 tokens) does beyond its trained context, under llama.cpp's
RoPE options: perplexity of a long English text by position, per option.

    .venv/bin/python -m benchmarks.rope_scaling [--tokens 16384] [--options none,linear,yarn]

The text is Vim's user manual (Debian's vim-runtime, /usr/share/vim/vim*/doc/usr_*.txt), read in order:
natural English prose that never repeats, so a model that loses track of positions shows it as a rising
perplexity. Every position's logits are taken (llama.cpp through its C API, as omnivox loads the model,
flash attention on); the table gives the perplexity of the tokens in each 2,048-token stretch. `linear`
and `yarn` use omnivox's default scale, trained context / window.
"""

from __future__ import annotations

import argparse
import glob
import math
import time

import llama_cpp as C
import numpy as np

from omnivox.backends.llama_cpp.model import ROPE_SCALING, _init_backend
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.serving.registry import resolve_source

BUCKET = 2048


def manual_text() -> str:
    files = sorted(glob.glob("/usr/share/vim/vim*/doc/usr_[0-9][0-9].txt"))
    if not files:
        raise SystemExit("Vim's user manual is not installed (Debian package vim-runtime)")
    return "\n".join(open(f, encoding="utf-8", errors="replace").read() for f in files)


def tokenize(vocab: int, text: str) -> list[int]:
    data = text.encode()
    buf = (C.llama_token * (len(data) + 8))()
    n = C.llama_tokenize(vocab, data, len(data), buf, len(buf), False, False)
    return list(buf[:n])


def nll_by_position(model: int, tokens: list[int], option: str, threads: int) -> np.ndarray:
    """Negative log-likelihood of tokens[1:], each given all before it."""
    params = C.llama_context_default_params()
    params.n_ctx = len(tokens)
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = 1
    params.n_threads = params.n_threads_batch = threads
    params.flash_attn_type = C.LLAMA_FLASH_ATTN_TYPE_ENABLED
    trained = int(C.llama_model_n_ctx_train(model))
    if option != "model":
        params.rope_scaling_type = ROPE_SCALING[option]
        if option != "none":
            params.rope_freq_scale = min(1.0, trained / len(tokens))
    ctx = C.llama_init_from_model(model, params)
    n_vocab = int(C.llama_vocab_n_tokens(C.llama_model_get_vocab(model)))
    batch = C.llama_batch_init(512, 0, 1)
    out = np.zeros(len(tokens) - 1, dtype=np.float64)
    try:
        for start in range(0, len(tokens), 512):
            chunk = tokens[start : start + 512]
            batch.n_tokens = len(chunk)
            for i, token in enumerate(chunk):
                batch.token[i] = token
                batch.pos[i] = start + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = 0
                batch.logits[i] = True
            if C.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            pointer = C.llama_get_logits(ctx)
            logits = np.ctypeslib.as_array(pointer, shape=(len(chunk), n_vocab)).astype(np.float64)
            top = logits.max(axis=1, keepdims=True)
            log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
            for i in range(len(chunk)):
                position = start + i
                if position + 1 < len(tokens):
                    out[position] = log_z[i] - logits[i, tokens[position + 1]]
    finally:
        C.llama_batch_free(batch)
        C.llama_free(ctx)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--options", default="none,linear,yarn")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    _init_backend()
    path = resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}")
    model = C.llama_model_load_from_file(str(path).encode(), C.llama_model_default_params())
    tokens = tokenize(C.llama_model_get_vocab(model), manual_text())[: args.tokens]
    if len(tokens) < args.tokens:
        raise SystemExit(f"the manual has only {len(tokens)} tokens")
    rows = {}
    for option in args.options.split(","):
        start = time.perf_counter()
        nll = nll_by_position(model, tokens, option, args.threads)
        rows[option] = [math.exp(nll[b : b + BUCKET].mean()) for b in range(0, len(nll), BUCKET)]
        print(f"{option}: {time.perf_counter() - start:.0f} s", flush=True)
    C.llama_model_free(model)
    header = " | ".join(f"{b // 1024}-{(b + BUCKET) // 1024}K" for b in range(0, args.tokens - 1, BUCKET))
    print(f"| RoPE | {header} |")
    print("|---" * (1 + len(rows[next(iter(rows))])) + "|")
    for option, values in rows.items():
        print(f"| {option} | " + " | ".join(f"{v:.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
