#!/usr/bin/env bash
# Installs what is missing, then serves the OpenAI-compatible API on the embedded models.
# Arguments go to `omnivox serve` (--host, --port, --config, --model).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/omnivox serve "$@"
