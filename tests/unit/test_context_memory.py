"""The memory estimate of a context and the refusal of a window that does not fit."""

from __future__ import annotations

from pathlib import Path

from omnivox.backends.llama_cpp.memory import (
    MIB,
    ContextMemory,
    _cgroup_headroom,
    _mem_available,
    available_memory,
    check_fits,
    compute_bytes,
    kv_cache_bytes,
)

SMOLLM2 = {"n_layer": 30, "n_head_kv": 3, "key_length": 64, "value_length": 64}


def test_kv_cache_of_smollm2() -> None:
    """30 layers x 3 KV heads x (64 + 64) x 2 bytes = 23,040 bytes a token: llama.cpp reports 360 MiB at
    16K and 2,880 MiB at 128K for the embedded GGUF."""
    assert kv_cache_bytes(1, **SMOLLM2) == 23_040
    assert kv_cache_bytes(16384, **SMOLLM2) == 360 * MIB
    assert kv_cache_bytes(131072, **SMOLLM2) == 2880 * MIB
    assert kv_cache_bytes(1, **SMOLLM2, bytes_per_value=4) == 46_080


def test_compute_buffer_grows_with_the_window_only_without_flash_attention() -> None:
    small = compute_bytes(8192, n_ubatch=512, n_head=9, n_vocab=49152, flash_attention=True)
    large = compute_bytes(131072, n_ubatch=512, n_head=9, n_vocab=49152, flash_attention=True)
    assert small == large == 512 * 49152 * 4 + 64 * MIB
    plain = compute_bytes(131072, n_ubatch=512, n_head=9, n_vocab=49152, flash_attention=False)
    assert plain - large == 131072 * 512 * 9 * 4  # 2.25 GiB of attention scores (llama.cpp: 2,566 MiB in all)


def test_a_window_that_fits_passes() -> None:
    needed = ContextMemory(kv_cache=100 * MIB, compute=50 * MIB)
    ok = check_fits("m", context_window=4096, needed=needed, prompt_cache=0, available=150 * MIB, source="x")
    assert ok is None
    unknown = check_fits("m", context_window=4096, needed=needed, prompt_cache=0, available=None, source="?")
    assert unknown is None  # nothing known: nothing refused


def test_a_window_that_does_not_fit_is_refused_with_the_figures() -> None:
    needed = ContextMemory(kv_cache=2880 * MIB, compute=160 * MIB)
    message = check_fits(
        "smol",
        context_window=131072,
        needed=needed,
        prompt_cache=1024 * MIB,
        available=2000 * MIB,
        source="cgroup",
    )
    assert message is not None
    for part in (
        "'smol'",
        "context_window 131072",
        "2,880 MiB of KV cache",
        "1,024 MiB",
        "4,064 MiB",
        "2,000 MiB",
    ):
        assert part in message
    assert "cgroup" in message and "prompt_cache_mib" in message


def test_cgroup_v2_headroom(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("0::/app\n")
    group = tmp_path / "fs" / "app"
    group.mkdir(parents=True)
    (group / "memory.max").write_text("1073741824\n")
    (group / "memory.current").write_text("268435456\n")
    assert _cgroup_headroom(tmp_path / "fs", proc) == 768 * MIB
    (group / "memory.max").write_text("max\n")
    assert _cgroup_headroom(tmp_path / "fs", proc) is None


def test_cgroup_v1_headroom(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    proc.write_text("4:memory:/box\n3:cpu:/box\n")
    group = tmp_path / "fs" / "memory" / "box"
    group.mkdir(parents=True)
    (group / "memory.limit_in_bytes").write_text(str(512 * MIB))
    (group / "memory.usage_in_bytes").write_text(str(500 * MIB))
    assert _cgroup_headroom(tmp_path / "fs", proc) == 12 * MIB
    (group / "memory.limit_in_bytes").write_text("9223372036854771712")  # v1's "no limit"
    assert _cgroup_headroom(tmp_path / "fs", proc) is None


def test_mem_available(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    2048 kB\n")
    assert _mem_available(meminfo) == 2 * MIB
    assert _mem_available(tmp_path / "missing") is None


def test_available_memory_on_this_machine() -> None:
    figure, source = available_memory()
    assert figure is not None and figure > 0 and source in ("cgroup", "MemAvailable")
