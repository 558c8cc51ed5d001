#!/usr/bin/env bash
# The README's main command: set up (idempotent), then show a scenario's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m dvnlib summary "${1:-J2}"
