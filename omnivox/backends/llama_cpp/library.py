"""The native llama.cpp library: which build is installed, and which CPU kernels it runs with.

omnivox installs a portable build (scripts/llama-wheel.sh): ggml's CPU kernels come as one module per
CPU family (`libggml-cpu-haswell.so`, `-skylakex`, `-zen4`, ...) and the best one for the CPU found is
loaded at run time, as llama.cpp's own releases do. Nothing loads them unless asked: `load_backends` does
it once, before the first model. A build made the other way (one `libggml-cpu.so` compiled for the build
host) still loads, with a warning: it may crash on any other CPU.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as C

log = logging.getLogger("omnivox.llama_cpp")

_VARIANT = re.compile(r"libggml-cpu-([\w.]+)\.so")


@dataclass(frozen=True, slots=True)
class LlamaBuild:
    """What `load_backends` found and chose."""

    library_dir: Path
    portable: bool  # CPU kernels as run-time chosen modules (GGML_BACKEND_DL)
    variants: tuple[str, ...]  # the CPU families built, e.g. ("haswell", "skylakex", ...)
    loaded: str | None  # the family chosen for this CPU; None for a non-portable build

    def describe(self) -> str:
        if not self.portable:
            return f"llama.cpp {C.__version__}, built for one CPU (not portable)"
        return f"llama.cpp {C.__version__}, CPU kernels {self.loaded} (of {len(self.variants)} built)"


_GGML = re.compile(r"/\S*/libggml\.so(\.\d+)*$", re.MULTILINE)


def library_dir() -> Path:
    """Where llama-cpp-python loads libllama from (its LLAMA_CPP_LIB_PATH override, or its package)."""
    override = os.environ.get("LLAMA_CPP_LIB_PATH")
    return Path(override) if override else Path(C.__file__).parent / "lib"


def variants_in(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(m.group(1) for p in folder.glob("libggml-cpu-*.so") if (m := _VARIANT.match(p.name))))


def _loaded_variant() -> str | None:
    """The CPU module this process mapped (Linux: from /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    found = _VARIANT.search(maps)
    return found.group(1) if found else None


def _mapped_ggml() -> Path | None:
    """The libggml file this process mapped for libllama (Linux: from /proc/self/maps)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    found = _GGML.search(maps)
    return Path(found.group(0)) if found else None


@functools.cache
def load_backends() -> LlamaBuild:
    """Load ggml's backends once: the best CPU module of a portable build. Idempotent."""
    folder = library_dir()
    variants = variants_in(folder)
    if not variants:
        log.warning(
            "llama.cpp %s was built for the CPU of the machine that compiled it (no CPU kernel modules in "
            "%s): it may crash on another CPU. Reinstall with scripts/bootstrap.sh for the portable build.",
            C.__version__,
            folder,
        )
        return LlamaBuild(folder, portable=False, variants=(), loaded=None)
    # The copy of libggml that libllama loaded (by its soname, libggml.so.0): a wheel cannot hold symlinks,
    # so libggml.so beside it is a second copy with a backend registry of its own, which libllama never
    # reads ("no backends are loaded").
    ggml = ctypes.CDLL(str(_mapped_ggml() or folder / "libggml.so"))
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path.restype = None
    ggml.ggml_backend_load_all_from_path(str(folder).encode())
    build = LlamaBuild(folder, portable=True, variants=variants, loaded=_loaded_variant())
    log.info("%s", build.describe())
    return build
