"""What grammars cost the transformers-omni backend at Qwen2.5-Omni's vocabulary size (151,936 logits):
building llama.cpp's vocabulary from the tokenizer (once, at load) and masking the whole vocabulary for
one step (what a grammar costs a token when the sampled one is refused, or always with logprobs).

    .venv/bin/python -m benchmarks.omni_grammar [--runs 5]

No Qwen tokenizer is at hand offline, so a byte-level BPE of the same size is made up: the 256 byte
symbols, then 151,387 tokens of 2-12 symbols each grown by merges, then Qwen's specials. Token texts are
random, so the grammar engine's work per token is of the right order, not Qwen's exact figure.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

import numpy as np

QWEN_TEXT_TOKENS = 151_643  # ids 0..151642 are BPE tokens in Qwen2.5's tokenizer; specials follow
QWEN_LOGITS = 151_936  # the thinker's vocab_size (its logits)


def tokenizer(size: int = QWEN_TEXT_TOKENS) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from omnivox.backends.omni.thinker import byte_symbols

    chooser = random.Random(0)
    symbols = byte_symbols()
    vocab = {s: i for i, s in enumerate(symbols)}
    texts, merges = list(symbols), []
    while len(texts) < size:
        left, right = chooser.choice(texts[:5000]), chooser.choice(symbols[33:127])
        if (text := left + right) in vocab or len(text) > 12:
            continue
        vocab[text] = len(texts)
        texts.append(text)
        merges.append((left, right))
    model = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    made = PreTrainedTokenizerFast(tokenizer_object=model)
    made.add_special_tokens({"additional_special_tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]})
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from omnivox.backends.llama_cpp.vocab import HuggingFaceVocab
    from omnivox.backends.logits.structured import schema_grammar

    made = tokenizer()
    ends = [made.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    builds, build_cpu = [], []
    for _ in range(args.runs):
        started, cpu = time.perf_counter(), time.process_time()
        vocab = HuggingFaceVocab(made, QWEN_LOGITS, ends)
        builds.append(time.perf_counter() - started)
        build_cpu.append(time.process_time() - cpu)
        vocab.close()
    vocab = HuggingFaceVocab(made, QWEN_LOGITS, ends)
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    constraint = vocab.constrain(schema_grammar(schema, param="bench"))
    for token in made.encode('{"text": "', add_special_tokens=False):  # inside the string: most allowed
        constraint.accept(token)
    masks, mask_cpu = [], []
    for _ in range(args.runs):
        logits = np.zeros(QWEN_LOGITS, dtype=np.float32)
        started, cpu = time.perf_counter(), time.process_time()
        constraint.mask(logits)
        masks.append(time.perf_counter() - started)
        mask_cpu.append(time.process_time() - cpu)
    allowed = int(np.isfinite(logits).sum())
    started = time.perf_counter()
    for token in range(1000):
        constraint.allows(token)
    one = (time.perf_counter() - started) / 1000
    constraint.close()
    vocab.close()
    print(f"vocabulary: {len(made)} tokens, {QWEN_LOGITS} logits")
    build, build_cpu_s = statistics.median(builds), statistics.median(build_cpu)
    mask, mask_cpu_ms = statistics.median(masks) * 1000, statistics.median(mask_cpu) * 1000
    print(f"build llama.cpp vocabulary (at load): median {build:.2f} s wall, {build_cpu_s:.2f} s CPU")
    print(f"mask the whole vocabulary (one step): median {mask:.1f} ms wall, {mask_cpu_ms:.1f} ms CPU")
    print(f"  ({allowed} tokens allowed inside a JSON string; {args.runs} runs each)")
    print(f"check one token (the usual step): {one * 1e6:.1f} us")


if __name__ == "__main__":
    main()
