#!/usr/bin/env bash
# The whole Fashion-MNIST study at the quick profile, through the notebooks with papermill: every
# twin with every method its family compares, then the DVN ablations on FJ1. A finished
# (method, seed) is read back rather than retrained, so rerunning this only does what is missing.
# The executed notebooks land beside each scenario's metrics.csv; the total time and hardware go
# to results/quick_study.json.  Usage: scripts/quick_study.sh [PROFILE]   (default: quick)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-quick}
py=.venv/bin/python
start=$(date -u +%s)
run() {  # run SCENARIO FAMILY NAME [papermill args...]
  local scenario=$1 family=$2 name=$3; shift 3
  mkdir -p "results/$scenario/$profile"
  echo "== $scenario ($family) $name: $(date -u +%H:%M:%S)"
  .venv/bin/papermill "notebooks/$family.ipynb" "results/$scenario/$profile/$name.ipynb" -k python3 \
    --no-progress-bar -p scenario "$scenario" -p profile "$profile" "$@"
}
# Two-task twins first (they test most claims and are cheapest), then the ablations on FJ1,
# then the four- and three-task twins.
run FJ1 joint joint
run FH1 hierarchical hierarchical
run FS1 sequential sequential
run FJ1 joint ablations -y "methods: [dvn-shared-bn, dvn-prefix]"
run FJ2 joint joint
run FJ3 joint joint
$py - "$profile" "$start" <<'PY'
import glob, json, sys, time
from dvnlib import results as R
profile, start = sys.argv[1], int(sys.argv[2])
scenarios = ["FJ1", "FH1", "FS1", "FJ2", "FJ3"]
# This invocation's wall time skips what earlier invocations finished; the sum over every
# (method, seed) record is the study's total training cost, however many invocations it took.
def records(s):  # every (method, seed) of the configuration the scenario's run.json shows
    out = f"results/{s}/{profile}"
    config = json.load(open(f"{out}/run.json"))["configuration_key"]
    return [json.load(open(f)) for f in glob.glob(f"{out}/runs/*/{config}/seed*.json")]
records = [r for s in scenarios for r in records(s)]
R.write_json(f"results/quick_study_{profile}.json" if profile != "quick" else "results/quick_study.json",
             {"profile": profile, "wall_seconds_last_invocation": round(time.time() - start),
              "runs": len(records), "run_wall_seconds_total": round(sum(r["wall_seconds"] for r in records)),
              "run_train_seconds_total": round(sum(r["train_seconds"] for r in records)),
              "hardware": R.hardware("cpu"), "versions": R.versions(), "git": R.git_state(),
              "scenarios": scenarios, "ablations": {"FJ1": ["dvn-shared-bn", "dvn-prefix"]}})
PY
echo "done in $(( $(date -u +%s) - start )) s"
