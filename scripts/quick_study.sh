#!/usr/bin/env bash
# The quick tour of the whole Fashion-MNIST study (not evidence: the book's verdicts rest on the
# study profile): scripts/run_study.py at the quick profile, one worker, then each twin's notebook
# executed with papermill beside its metrics.csv; the times and hardware go to
# results/quick_study.json. A finished (method, seed) is read back, not retrained.
# Usage: scripts/quick_study.sh [PROFILE [run_study.py options, e.g. --workers 2]]   (default: quick)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-quick}
shift || true
exec .venv/bin/python scripts/run_study.py --profile "$profile" --notebooks "$@"
