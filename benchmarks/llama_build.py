"""Two llama.cpp builds of the same version side by side: prompt evaluation and generation speed of the
embedded SmolLM2 through omnivox's runtime, in alternating child processes (so drifts of a shared machine
hit both builds alike).

    .venv/bin/python -m benchmarks.llama_build [--rounds 5] [--tokens 200] LIB_DIR [LIB_DIR ...]

Each LIB_DIR is a folder of llama.cpp libraries (libllama.so, libggml*.so), used through
LLAMA_CPP_LIB_PATH; `installed` names the build in the virtual environment. docs/benchmarks.md compares
the portable build with a native one (`cmake -DGGML_NATIVE=ON` of the same vendored llama.cpp).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = "Write a long story about a lighthouse keeper and a storm. " * 8


def measure(tokens: int) -> dict[str, float | str]:
    """In the child: load, evaluate the prompt, generate greedily; speeds in tokens/s."""
    import numpy as np

    from omnivox.backends.llama_cpp.library import load_backends
    from omnivox.backends.llama_cpp.model import LlamaCppModel
    from omnivox.config import EMBEDDED_CHAT_MODEL
    from omnivox.serving.registry import resolve_source

    model = LlamaCppModel(
        resolve_source(f"embedded:{EMBEDDED_CHAT_MODEL}"), context_window=1024, prompt_cache_bytes=0
    )
    prompt = model.tokenize(PROMPT)
    started = time.perf_counter()
    logits = model.evaluate(prompt).logits
    evaluated = time.perf_counter()
    produced = 0
    while produced < tokens:
        produced += 1
        logits = model.append(int(np.argmax(logits)))
    ended = time.perf_counter()
    return {
        "build": load_backends().describe(),
        "prompt_tokens_per_s": len(prompt) / (evaluated - started),
        "generation_tokens_per_s": produced / (ended - evaluated),
    }


def _run(library: str, tokens: int) -> dict[str, float | str]:
    env = dict(os.environ)
    if library != "installed":
        env["LLAMA_CPP_LIB_PATH"] = library
    command = [sys.executable, "-m", "benchmarks.llama_build", "--child", "--tokens", str(tokens)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("libraries", nargs="*", default=["installed"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.tokens)))
        return
    runs: dict[str, list[dict[str, float | str]]] = {lib: [] for lib in args.libraries}
    for _ in range(args.rounds):
        for library in args.libraries:
            runs[library].append(_run(library, args.tokens))
    words = len(PROMPT.split())
    print(f"{words}-word prompt, {args.tokens} tokens greedy, median of {args.rounds} alternating rounds")
    for library, results in runs.items():
        prompt = statistics.median(float(r["prompt_tokens_per_s"]) for r in results)
        generation = statistics.median(float(r["generation_tokens_per_s"]) for r in results)
        print(f"{library}: {results[0]['build']}")
        print(f"    prompt {prompt:7.1f} tok/s   generation {generation:6.1f} tok/s")


if __name__ == "__main__":
    main()
