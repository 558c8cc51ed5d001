#!/usr/bin/env bash
# The deployment page's model zoo: every (task, level) of the kept dvn models of the five
# Fashion-MNIST twins, exported, checked and timed into results/deploy/zoo.csv.
#   bash scripts/deploy_zoo.sh [PROFILE] [ROOT]
# Default: the study's own models (study, results/), trained by scripts/run_study.py: nothing is
# trained here, every seed present is read. Another profile trains its dvn runs under ROOT first
# (finished runs are read back, not retrained), e.g. bash scripts/deploy_zoo.sh quick results/zoo-quick
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-study}
root=${2:-results}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
if [ "$profile" != study ]; then
  for sc in FJ1 FJ2 FJ3 FH1 FS1; do
    .venv/bin/python -m dvnlib run "$sc" --profile "$profile" --methods dvn --out "$root"
  done
fi
.venv/bin/python -m dvnlib zoo --profile "$profile" --results "$root" --out results/deploy/zoo.csv
