"""The cost of constrained decoding (llguidance): generation speed with and without a JSON-schema
grammar, the cost of one token's mask, and the time to compile a schema's grammar -- cold, cached, and for
pathological schemas, which must be refused (400) within a bounded time.

    .venv/bin/python -m benchmarks.structured [--runs 5] [--tokens 120]

In-process, on the embedded SmolLM2 through omnivox's generation loop (runtime + sampler + grammar), so
the figure is the grammar's cost and not HTTP's. Temperature 0.8, a fixed seed per run, frequency
penalty 0.5 (both paths alike) so neither path loops on one token. Prints the machine's load with the
figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from omnivox.backends.guidance import compile_error
from omnivox.backends.llama_cpp.model import LlamaCppModel
from omnivox.backends.logits.generate import GenerationJob, generate
from omnivox.backends.logits.prompt import PromptBuilder
from omnivox.backends.logits.structured import schema_grammar
from omnivox.config import EMBEDDED_CHAT_MODEL
from omnivox.errors import InvalidRequest
from omnivox.runtimes.events import UsageReport
from omnivox.sampling.sampler import SamplingParams
from omnivox.serving.registry import resolve_source

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 8},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "contact": {"type": "string", "format": "email"},
        "review": {"type": "string"},
    },
    "required": ["title", "tags", "rating", "contact", "review"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Review a film you like."}]
_NEST = {"type": "string", "pattern": "(a|b|ab)*c{2,900}(x|y){1,900}"}
#: schemas made to cost: each must be refused, or compile, within a bounded time
PATHOLOGICAL: dict[str, dict[str, Any]] = {
    "nested counted repetitions": {"type": "string", "pattern": "((a{1,999}){1,999}){1,999}"},
    "alternation of 60 patterns": {
        "anyOf": [{"type": "string", "pattern": f"^x{i}[a-z]{{{i}}}$"} for i in range(60)]
    },
    "counted repetition of a class": {"type": "string", "pattern": "^[a-z0-9]{500}[A-Z]{500}$"},
    "deep anyOf": json.loads('{"anyOf": [' * 60 + '{"type": "integer"}' + "]}" * 60),
    "1000 lengths in an array": {"type": "array", "items": _NEST, "minItems": 1000, "maxItems": 1000},
}


def speed(model: LlamaCppModel, prompt: list[int], grammar: str | None, tokens: int, seed: int) -> float:
    sampling = SamplingParams(temperature=0.8, seed=seed, frequency_penalty=0.5)
    job = GenerationJob(prompt, sampling, tokens, (), grammar=grammar)
    start = time.perf_counter()
    produced = 0
    for event in generate(model, job, threading.Event()):
        if isinstance(event, UsageReport):
            produced = event.completion_tokens
    return produced / (time.perf_counter() - start)


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1000


def outcome(schema: dict[str, Any], model: LlamaCppModel | None = None) -> str:
    """Refused (400) or compiled; with a model, the time its matcher takes to compile and mask once."""
    try:
        grammar = schema_grammar(schema, param="schema")
    except InvalidRequest as exc:
        return f"refused ({exc.message[:60]}...)"
    if model is None:
        return "compiles"
    logits = np.zeros(model.info.vocab_size, dtype=np.float32)
    try:
        cost = timed(lambda: model.constrain(grammar).mask(logits))
    except ValueError as exc:
        return f"refused by the model's matcher ({str(exc)[:60]}...)"
    return f"compiles; the model's matcher + first mask {cost:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=120)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    model = LlamaCppModel(resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=2048)
    prompt = PromptBuilder(model).tokens(MESSAGES)
    compile_error.cache_clear()
    check_cold = timed(lambda: schema_grammar(SCHEMA, param="schema"))
    check_cached = timed(lambda: schema_grammar(json.loads(json.dumps(SCHEMA)), param="schema"))
    grammar = schema_grammar(SCHEMA, param="schema")
    view = timed(lambda: model.constrain(grammar).close())  # the vocabulary view, built once, + compile
    cached = timed(lambda: model.constrain(grammar).close())
    constraint, logits = model.constrain(grammar), np.zeros(model.info.vocab_size, dtype=np.float32)
    masks = [timed(lambda: constraint.mask(logits.copy())) for _ in range(200)]
    checks = [timed(lambda: constraint.allows(1)) for _ in range(2000)]
    free, constrained = [], []
    for run in range(args.runs):
        free.append(speed(model, prompt, None, args.tokens, run))
        constrained.append(speed(model, prompt, grammar, args.tokens, run))
    print(f"up to {args.tokens} tokens, median of {args.runs} interleaved runs")
    print(f"free text:          {statistics.median(free):6.1f} tok/s")
    print(
        f"json_schema:        {statistics.median(constrained):6.1f} tok/s "
        f"({statistics.median(constrained) / statistics.median(free):.0%} of free)"
    )
    print(f"one token's mask:   {statistics.median(masks):.3f} ms (whole vocabulary, median of 200)")
    print(f"one token checked:  {statistics.median(checks) * 1000:.1f} us (the sampled token alone)")
    print(f"schema check:       cold {check_cold:.2f} ms, cached {check_cached:.3f} ms")
    print(f"model's grammar:    first {view:.0f} ms (with the vocabulary view), then cached {cached:.3f} ms")
    for name, schema in PATHOLOGICAL.items():
        compile_error.cache_clear()
        start = time.perf_counter()
        result = outcome(schema, model)
        print(f"{name:32s} {(time.perf_counter() - start) * 1000:8.1f} ms  {result}")
    model.close()
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
