#!/usr/bin/env bash
# The README's main command: set up (idempotent), run one scenario through its notebook with
# papermill, then build the book from the committed results.
# Usage: scripts/main.sh [SCENARIO [PROFILE]]   (default: FJ1 smoke, about a minute on a CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
scenario=${1:-FJ1}
profile=${2:-smoke}
family=$(.venv/bin/python -c 'import sys, dvnlib
try:
    print(dvnlib.scenario(sys.argv[1]).family)
except ValueError as e:
    sys.exit(f"error: {e}")' "$scenario")
out="results/$scenario/$profile"
mkdir -p "$out"
.venv/bin/papermill "notebooks/$family.ipynb" "$out/$family.ipynb" -k python3 \
  -p scenario "$scenario" -p profile "$profile"
echo "results: $out/metrics.csv, $out/run.json, executed notebook $out/$family.ipynb"
bash scripts/build_book.sh
