#!/usr/bin/env bash
# Installs what is missing, then runs every check CI runs: lint, format, types, the test suite, and the
# SDK contract tests again under the openai 1.x line. Arguments go to the main pytest run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test command always installs the `omni` extra: the transformers-omni tests build a tiny model with it.
scripts/bootstrap.sh test,omni

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# pytest exits 5 when it collected no test: that is a failure here too (set -e).
.venv/bin/pytest "$@"

# openai 1.x delivers some fields differently (streamed delta.audio as a dict): run the SDK tests there too.
OMNIVOX_VENV=.venv-openai1 scripts/bootstrap.sh test,omni "openai>=1.50,<2"
.venv-openai1/bin/pytest -m sdk -q
