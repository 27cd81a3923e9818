"""One batched decode step, taken apart: what llama.cpp's decode of B rows costs against one row (the
ceiling continuous batching can reach on this machine), and what omnivox adds around it per step and per
sequence (the step's Python, the logits handed out, the sampler at temperature 1).

    .venv/bin/python -m benchmarks.batch_step [--batch 1,2,4,6,8] [--steps 40] [--threads N]

Drives LlamaCppModel (embedded SmolLM2) directly, no server: each of B sequences holds its own prompt, then
`--steps` decode steps of B rows are timed, both as `llama_decode` alone and as `LlamaCppModel.step`
(llama_decode + the batch's Python + the logits rows). The sequences are rewound after each B so every B
decodes at the same positions. Prints per B: ms per step, rows/s, the speed-up over B = 1; then the
sampler's per-token cost. Figures depend on the machine's load: print `uptime` beside them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import llama_cpp as C
import numpy as np

from benchmarks.load import PROMPTS  # the load benchmark's prompts: the same work in both
from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.sampling.sampler import Sampler, SamplingParams
from omnivox.serving.registry import resolve_source


def _prompt(model: LlamaCppModel, text: str) -> list[int]:
    return model.tokenize(f"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n")


def _evaluated(model: LlamaCppModel, sequence: int, tokens: list[int]) -> np.ndarray:
    chunks = model.prefill(sequence, tokens, 512)
    try:
        while True:
            next(chunks)
    except StopIteration as done:
        return done.value.logits  # type: ignore[no-any-return]


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--batch", default="1,2,4,6,8")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    sizes = [int(b) for b in args.batch.split(",")]
    path = resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}")
    model = LlamaCppModel(path, context_window=1024, sequences=max(sizes), threads=args.threads)
    prompts = [_prompt(model, PROMPTS[s % len(PROMPTS)]) for s in range(max(sizes))]
    first = [int(np.argmax(_evaluated(model, s, prompts[s]))) for s in range(max(sizes))]
    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"threads: {args.threads or 'default'}; trials per figure: {args.steps}")
    # trials interleave the batch sizes, and every call decodes the same positions (the sequences are cut
    # back after it), so a change of the machine's load weighs on every size alike; the minimum of the
    # trials is the least disturbed figure, the median the typical one
    times: dict[tuple[str, int], list[float]] = {(k, b): [] for k in ("decode", "step") for b in sizes}
    largest = max(sizes)
    times["reversed", largest] = []
    for _ in range(args.steps):
        for b in [*sizes, -largest]:  # the last: the largest in reversed order of sequence ids
            reverse, b = b < 0, abs(b)
            rows = [(s, first[s]) for s in range(b)][:: -1 if reverse else 1]
            batch = model._batch
            for i, (s, t) in enumerate(rows):
                batch.token[i], batch.pos[i], batch.n_seq_id[i] = t, len(prompts[s]), 1
                batch.seq_id[i][0], batch.logits[i] = s, 1
            batch.n_tokens = b
            start = time.perf_counter()
            assert C.llama_decode(model._ctx, batch) == 0
            times["reversed" if reverse else "decode", b].append(time.perf_counter() - start)
            for s in range(b):
                assert C.llama_memory_seq_rm(model._memory, s, len(prompts[s]), -1)
            if reverse:
                continue
            start = time.perf_counter()
            model.step(rows)
            times["step", b].append(time.perf_counter() - start)
            for s in range(b):
                model._truncate(s, len(prompts[s]))
    one = {k: min(times[k, sizes[0]]) for k in ("decode", "step")}
    for b in sizes:
        low, mid = min(times["decode", b]) * 1000, statistics.median(times["decode", b]) * 1000
        step_low = min(times["step", b]) * 1000
        print(
            f"B={b}: llama_decode min {low:.1f} ms (median {mid:.1f}) = {b * 1000 / low:.0f} rows/s, "
            f"{one['decode'] * 1000 * b / low:.2f}x the rows/s of B={sizes[0]}; "
            f"LlamaCppModel.step min {step_low:.1f} ms (+{step_low - low:.2f} ms over llama_decode)"
        )
    low = min(times["reversed", largest]) * 1000
    print(
        f"B={largest} with the rows in reversed order of sequence ids (llama.cpp splits the call into one "
        f"piece per run of consecutive ids): llama_decode min {low:.1f} ms "
        f"(median {statistics.median(times['reversed', largest]) * 1000:.1f})"
    )
    logits = model._logits(0)
    for params in (SamplingParams(temperature=0), SamplingParams(temperature=1), SamplingParams(top_p=0.9)):
        sampler = Sampler(params)
        start = time.perf_counter()
        for _ in range(200):
            sampler.choose(sampler.adjust(logits.copy()))
        per = (time.perf_counter() - start) / 200 * 1000
        print(f"sampler (temperature {params.temperature}, top_p {params.top_p}): {per:.2f} ms a token")
    model.close()


if __name__ == "__main__":
    main()
