#!/usr/bin/env bash
# Builds (once) and prints the path of a portable llama-cpp-python wheel: usable on any x86-64 machine,
# whatever CPU it was built on.
#
#   scripts/llama-wheel.sh PYTHON     -> prints /path/to/llama_cpp_python-*.whl
#
# Why not `pip install llama-cpp-python`: its source build compiles llama.cpp for the build host's CPU
# (GGML_NATIVE), and pip caches that wheel keyed on the source archive alone, so a wheel built on one CPU is
# reused on another. On an Intel VM that advertises AMX but cannot run it, that build crashed on the first
# request (general protection fault at `ldtilecfg`).
#
# What this builds instead, as llama.cpp's own releases do: every CPU kernel family as a separate module
# (GGML_BACKEND_DL + GGML_CPU_ALL_VARIANTS), the best one for the CPU found chosen when omnivox loads
# llama.cpp (omnivox/backends/llama_cpp/library.py). The AMX variant ("sapphirerapids") is left out: AMX
# needs permission from the kernel and support from the hypervisor, which a CPU flag does not prove.
# OMNIVOX_LLAMA_AMX=1 builds it too (docs/install.md).
#
# The wheel lives in a folder keyed on everything that shapes it (version, CMake flags, AMX choice, the
# revision below), so a different build can never be picked up by mistake:
# ${OMNIVOX_WHEELHOUSE:-~/.cache/omnivox/wheels}. Bump `revision` whenever this script changes the build.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:?usage: llama-wheel.sh PYTHON}"

version="$(sed -n 's/.*"llama-cpp-python==\([0-9.]*\)".*/\1/p' pyproject.toml)"
[[ -n "$version" ]] || { echo "llama-wheel.sh: no llama-cpp-python==X pin in pyproject.toml" >&2; exit 1; }
amx="${OMNIVOX_LLAMA_AMX:-0}"
# LLAVA_BUILD: omnivox does not use llava/mtmd (saves minutes of compiling).
# CMAKE_INSTALL_BINDIR: where ggml installs the CPU variant modules; next to libllama.so in the wheel.
cmake_args="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON -DLLAVA_BUILD=OFF"
cmake_args+=" -DCMAKE_INSTALL_BINDIR=llama_cpp/lib"

revision=1
key="$(echo "$version $amx $cmake_args $revision" | sha256sum | cut -c1-16)"
root="${OMNIVOX_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/omnivox/wheels}"
house="$root/llama-cpp-python-$version-$key"
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9  # one build at a time: a second caller waits for the first one's wheel
shopt -s nullglob
wheels=("$house"/llama_cpp_python-*.whl)
if (( ${#wheels[@]} == 1 )); then
    echo "${wheels[0]}"
    exit 0
fi

# Reads a build log on stdin; prints "omnivox: building llama.cpp: 45% (12 min)" to stderr each time the
# percentage moves (ninja's "[12/345]" steps or make's "[ 45%]").
build_progress() {
    awk '
        BEGIN { last = -1; t0 = systime() }
        function show(pct) {
            if (pct <= last) return
            last = pct
            printf "omnivox: building llama.cpp: %d%% (%d min)\n", pct, (systime() - t0) / 60 > "/dev/stderr"
            fflush("/dev/stderr")
        }
        { line = $0; sub(/^[ \t]+/, "", line) }
        match(line, /^\[ *[0-9]+\/[0-9]+\]/) {          # ninja: [done/total]
            split(substr(line, 2, RLENGTH - 2), n, "/"); if (n[2] > 0) show(int(100 * n[1] / n[2]))
        }
        match(line, /^\[ *[0-9]+%\]/) {                 # make: [ pct%]
            show(substr(line, 2, RLENGTH - 3) + 0)
        }
    '
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "omnivox: building a portable llama.cpp $version (all CPU variants; about 10 min on 2 cores, once)" >&2
echo "omnivox: downloading the llama-cpp-python $version source" >&2
"$python" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
src="$work/llama_cpp_python-$version"
if [[ "$amx" != 1 ]]; then
    variants="$src/vendor/llama.cpp/ggml/src/CMakeLists.txt"
    grep -q 'ggml_add_cpu_backend_variant(sapphirerapids' "$variants" \
        || { echo "llama-wheel.sh: AMX variant line not found in $variants; update this script" >&2; exit 1; }
    sed -i '/ggml_add_cpu_backend_variant(sapphirerapids/d' "$variants"
fi
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
# Progress: the build's own step counter as a percentage with the minutes spent (build_progress); the full
# log is kept to show its end if the build fails.
echo "omnivox: compiling llama.cpp (progress below; log: $work/build.log)" >&2
started=$SECONDS
CMAKE_ARGS="$cmake_args" "$python" -m pip wheel -v --no-deps --no-cache-dir "$src" -w "$work/out" 2>&1 \
    | tee "$work/build.log" | build_progress "$started" \
    || { echo "llama-wheel.sh: the build failed; its last lines:" >&2; tail -n 40 "$work/build.log" >&2; exit 1; }
echo "omnivox: llama.cpp built in $(( (SECONDS - started) / 60 )) min" >&2
mkdir -p "$house"
mv "$work"/out/llama_cpp_python-*.whl "$house"/
wheels=("$house"/llama_cpp_python-*.whl)
echo "${wheels[0]}"
