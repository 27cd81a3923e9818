"""The installed llama.cpp is the portable build: CPU kernels as modules chosen at run time, and no AMX
instruction anywhere unless the build opted in (OMNIVOX_LLAMA_AMX=1, scripts/llama-wheel.sh).

AMX needs permission from the kernel and support from the hypervisor; a VM that advertised it but could
not run it crashed on the first request with a native build. Disassembling the libraries is what proves a
regression cannot slip in: a flag or a new llama.cpp version that turns AMX kernels on shows up here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from omnivox.backends.llama_cpp.library import library_dir, load_backends, variants_in

#: AMX mnemonics as objdump writes them (tile configuration, loads, stores, dot products).
AMX = re.compile(
    r"\b(ldtilecfg|sttilecfg|tileloadd\w*|tilestored|tilerelease|tilezero|tdp\w+ps|tdpb[su]{2}d)\b"
)
OPTED_IN = os.environ.get("OMNIVOX_LLAMA_AMX") == "1"

pytestmark = pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")


def amx_instructions(library: Path) -> set[str]:
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(library)], capture_output=True, text=True, check=True
    ).stdout
    return set(AMX.findall(listing))


def test_the_detector_finds_amx_in_an_object_that_has_it(tmp_path: Path) -> None:
    source = tmp_path / "amx.s"
    source.write_text(
        "ldtilecfg (%rax)\ntileloadd (%rax,%rbx,1), %tmm0\ntdpbssd %tmm2, %tmm1, %tmm0\ntilerelease\n"
    )
    subprocess.run(["as", str(source), "-o", str(tmp_path / "amx.o")], check=True)
    assert amx_instructions(tmp_path / "amx.o") == {"ldtilecfg", "tileloadd", "tdpbssd", "tilerelease"}


def test_the_installed_libraries_hold_no_amx_instruction() -> None:
    libraries = sorted(library_dir().glob("*.so*"))
    assert any(p.name.startswith("libggml-cpu-") for p in libraries), "not the portable build"
    found = {
        p.name: used
        for p in libraries
        if (used := amx_instructions(p)) and not (OPTED_IN and "sapphirerapids" in p.name)
    }
    assert found == {}


def test_cpu_kernels_are_chosen_at_run_time_for_this_cpu() -> None:
    build = load_backends()
    assert build.portable
    assert {"x64", "haswell", "skylakex", "icelake"} <= set(build.variants)
    assert ("sapphirerapids" in build.variants) == OPTED_IN
    assert build.loaded in build.variants
    assert variants_in(library_dir()) == build.variants
