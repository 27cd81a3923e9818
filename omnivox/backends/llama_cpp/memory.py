"""Memory a language model's context will take, estimated before it is created, and the memory there is to
take it from: a window that does not fit must fail at start-up with a message, not later with an
out-of-memory kill (llama.cpp fills the whole KV cache when it creates the context).

Pure arithmetic and /proc reading, no native library, so that it is unit-testable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20

#: cgroup v1 reports "no limit" as a huge number near 2**63.
_NO_LIMIT = 1 << 60


@dataclass(frozen=True, slots=True)
class ContextMemory:
    """Estimated bytes of one context."""

    kv_cache: int  # K and V of every layer for every position of the window
    compute: int  # llama.cpp's scratch buffers for one micro-batch (what grows with the window included)

    @property
    def total(self) -> int:
        return self.kv_cache + self.compute


def kv_cache_bytes(
    n_ctx: int, *, n_layer: int, n_head_kv: int, key_length: int, value_length: int, bytes_per_value: int = 2
) -> int:
    """K and V of `n_layer` layers, `n_head_kv` heads each, for `n_ctx` positions (f16 by default, as
    llama.cpp keeps them). SmolLM2-135M: 30 layers x 3 heads x (64 + 64) x 2 bytes = 23,040 bytes a token."""
    return n_ctx * n_layer * n_head_kv * (key_length + value_length) * bytes_per_value


def compute_bytes(n_ctx: int, *, n_ubatch: int, n_head: int, n_vocab: int, flash_attention: bool) -> int:
    """A rough figure for llama.cpp's compute buffer: the logits of a micro-batch, plus, without flash
    attention, the f32 attention scores of a micro-batch against the whole window, which grow with it
    (2.5 GiB for SmolLM2 at 128K; flash attention works in tiles instead). Measured for SmolLM2 with
    n_ubatch 512: 98 MiB at 16K and 142 MiB at 128K with flash attention, 326 MiB and 2,566 MiB without."""
    logits = n_ubatch * n_vocab * 4
    scores = 0 if flash_attention else n_ctx * n_ubatch * n_head * 4
    return logits + scores + 64 * MIB  # + the graph's other activations and the window-sized mask


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom(
    root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc/self/cgroup")
) -> int | None:
    """Bytes this process's cgroup may still take (limit - usage), or None when it has no limit."""
    try:
        lines = proc.read_text().splitlines()
    except OSError:
        lines = []
    candidates: list[tuple[Path, str, str]] = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        group = group.lstrip("/")
        if controllers == "":  # cgroup v2
            candidates += [
                (root / group, "memory.max", "memory.current"),
                (root, "memory.max", "memory.current"),
            ]
        elif "memory" in controllers.split(","):  # cgroup v1
            base = root / "memory"
            candidates += [
                (base / group, "memory.limit_in_bytes", "memory.usage_in_bytes"),
                (base, "memory.limit_in_bytes", "memory.usage_in_bytes"),
            ]
    for folder, limit_name, usage_name in candidates:
        limit, usage = _read_int(folder / limit_name), _read_int(folder / usage_name)
        if usage is None:
            continue
        if limit is None or limit >= _NO_LIMIT:
            return None
        return max(0, limit - usage)
    return None


def _mem_available(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_memory() -> tuple[int | None, str]:
    """Bytes that can still be allocated, and where the figure comes from: the smaller of the cgroup's
    headroom (memory.max - memory.current) and the machine's MemAvailable. (None, ...) when neither can be
    read (not Linux): then nothing is refused."""
    figures = [
        (f, name)
        for f, name in ((_cgroup_headroom(), "cgroup"), (_mem_available(), "MemAvailable"))
        if f is not None
    ]
    if not figures:
        return None, "unknown"
    return min(figures)


def check_fits(
    model_id: str,
    *,
    context_window: int,
    needed: ContextMemory,
    prompt_cache: int,
    available: int | None,
    source: str,
) -> str | None:
    """None when the context plus the prompt cache's budget fit in `available` bytes; else why not, in a
    sentence for the operator."""
    if available is None:
        return None
    wanted = needed.total + prompt_cache
    if wanted <= available:
        return None
    return (
        f"model {model_id!r}: context_window {context_window} needs an estimated "
        f"{needed.kv_cache / MIB:,.0f} MiB of KV cache and {needed.compute / MIB:,.0f} MiB of compute "
        f"buffers, and prompt_cache_mib reserves {prompt_cache / MIB:,.0f} MiB: {wanted / MIB:,.0f} MiB in "
        f"all, but only {available / MIB:,.0f} MiB is available ({source}). Lower context_window, "
        "max_batch or prompt_cache_mib, or free memory."
    )
