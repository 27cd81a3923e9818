"""The cost of constrained decoding: generation speed with and without a JSON-schema grammar, and the
time to compile a schema's grammar, cold and cached.

    .venv/bin/python -m benchmarks.structured [--runs 5] [--tokens 120]

In-process, on the embedded SmolLM2 through omnivox's generation loop (runtime + sampler + grammar), so
the figure is the grammar's cost and not HTTP's. Temperature 0.8, a fixed seed per run, frequency
penalty 0.5 (both paths alike) so neither path loops on one token.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time

from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.backends.logits.generate import GenerationJob, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.backends.logits.structured import _grammar, schema_grammar
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.runtimes.events import UsageReport
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.registry import resolve_source

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
        "rating": {"type": "integer"},
        "review": {"type": "string"},
    },
    "required": ["title", "tags", "rating", "review"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Review a film you like."}]


def speed(model: LlamaCppModel, prompt: list[int], grammar: str | None, tokens: int, seed: int) -> float:
    sampling = SamplingParams(temperature=0.8, seed=seed, frequency_penalty=0.5)
    job = GenerationJob(prompt, sampling, tokens, (), grammar=grammar)
    start = time.perf_counter()
    produced = 0
    for event in generate(model, job, threading.Event()):
        if isinstance(event, UsageReport):
            produced = event.completion_tokens
    return produced / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=120)
    args = parser.parse_args()
    model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=2048)
    prompt = PromptBuilder(model).tokens(MESSAGES)
    _grammar.cache_clear()
    start = time.perf_counter()
    grammar = schema_grammar(SCHEMA, param="schema")
    cold = time.perf_counter() - start
    start = time.perf_counter()
    schema_grammar(json.loads(json.dumps(SCHEMA)), param="schema")
    cached = time.perf_counter() - start
    free, constrained = [], []
    for run in range(args.runs):
        free.append(speed(model, prompt, None, args.tokens, run))
        constrained.append(speed(model, prompt, grammar, args.tokens, run))
    model.close()
    print(f"up to {args.tokens} tokens, median of {args.runs} interleaved runs")
    print(f"free text:          {statistics.median(free):6.1f} tok/s")
    print(
        f"json_schema:        {statistics.median(constrained):6.1f} tok/s "
        f"({statistics.median(constrained) / statistics.median(free):.0%} of free)"
    )
    print(f"grammar compile:    cold {cold * 1000:.2f} ms, cached {cached * 1000:.3f} ms")


if __name__ == "__main__":
    main()
