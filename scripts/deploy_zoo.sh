#!/usr/bin/env bash
# The deployment page's model zoo: dvn runs of the five Fashion-MNIST twins with their models kept,
# then every (task, level) exported, checked and timed into results/deploy/zoo.csv.
#   bash scripts/deploy_zoo.sh [PROFILE] [ROOT]
# Defaults: quick, results/deploy/runs (retrained here: about 10 minutes on the shared 2-core CPU).
# Once the study's own runs keep their models: bash scripts/deploy_zoo.sh study results
# (finished runs are read back, not retrained).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-quick}
root=${2:-results/deploy/runs}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for sc in FJ1 FJ2 FJ3 FH1 FS1; do
  .venv/bin/python -m dvnlib run "$sc" --profile "$profile" --methods dvn --out "$root"
done
.venv/bin/python -m dvnlib.deploy zoo --profile "$profile" --root "$root" --out results/deploy/zoo.csv
