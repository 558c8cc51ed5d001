"""What worker processes buy: one workload trained serially, then with ``--workers N``,
in one go on this machine, each into a fresh folder; runs per hour of each, the speed-up, and
whether the numbers agree. Appends one measurement to ``results/workers/speedup.json`` (and its
rows to ``speedup.csv``), which the README and the book's reproducibility page quote.

    .venv/bin/python scripts/bench_workers.py [--scenario FJ1] [--profile quick] [--workers 2]
        [--methods dvn baseline nestednet packnet] [--seeds 0 1] [--note "..."]

Serial runs use torch's default threads (every core) unless ``--serial-threads`` says otherwise,
each worker its share (cores / N). torch on CPU rounds differently with another number of threads,
and a few epochs amplify that into different accuracies; at equal threads the two ``metrics.csv``
are identical (``metrics_identical``; tests/test_workers.py).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cores() -> int:
    from dvnlib.workers import cores
    return cores()


def measure(args, out: Path, workers: int, threads: int | None) -> dict:
    import dvnlib
    import torch
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    df = dvnlib.run(args.scenario, args.profile, args.methods, args.seeds, out_dir=out, device="cpu",
                    progress=False, workers=workers, threads=threads)
    wall = time.perf_counter() - t0
    runs = len(args.methods) * len(args.seeds)
    threads = threads or (torch.get_num_threads() if workers == 1 else max(1, _cores() // workers))
    return {"workers": workers, "threads_per_run": threads, "wall_seconds": round(wall, 1), "runs": runs,
            "runs_per_hour": round(runs * 3600 / wall, 2), "load_before": round(load0, 2),
            "load_after": round(os.getloadavg()[0], 2), "metrics": df}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="FJ1")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--methods", nargs="+", default=["dvn", "baseline", "nestednet", "packnet"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--serial-threads", type=int, help="torch threads of the serial run (default: torch's, "
                    "every core); 1 compares like with like (and gives identical numbers)")
    ap.add_argument("--note", default="", help="e.g. whether other work shared the machine")
    ap.add_argument("--out", default=str(REPO / "results" / "workers"))
    args = ap.parse_args()
    from dvnlib import provenance as P
    from dvnlib import results as R
    from dvnlib.workers import cores
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        serial = measure(args, Path(tmp) / "serial", 1, args.serial_threads)
        parallel = measure(args, Path(tmp) / "workers", args.workers, None)
    a, b = serial.pop("metrics"), parallel.pop("metrics")
    diff = (a["accuracy"] - b["accuracy"]).abs().max()
    m = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "scenario": args.scenario,
         "profile": args.profile, "methods": args.methods, "seeds": args.seeds, "cores": cores(),
         "serial": serial, "parallel": parallel,
         "speedup": round(serial["wall_seconds"] / parallel["wall_seconds"], 2),
         "metrics_identical": bool(a.equals(b)), "max_accuracy_difference": round(float(diff), 4),
         "cpu": P.hardware("cpu")["cpu"], "platform": platform.platform(),
         "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                  text=True).stdout.strip(), "note": args.note}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "speedup.json"
    old = json.loads(path.read_text()) if path.exists() else {"measurements": []}
    old["measurements"].append(m)
    R.write_json(path, old)
    rows = [{"date": m["date"], "scenario": m["scenario"], "profile": m["profile"], "runs": r["runs"],
             "workers": r["workers"], "threads_per_run": r["threads_per_run"],
             "cores": m["cores"], "wall_seconds": r["wall_seconds"], "runs_per_hour": r["runs_per_hour"],
             "load_before": r["load_before"], "load_after": r["load_after"], "note": m["note"]}
            for r in (serial, parallel)]
    csv_path = out / "speedup.csv"
    new = not csv_path.exists()
    with open(csv_path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        if new:
            w.writeheader()
        w.writerows(rows)
    print(json.dumps(m, indent=2))


if __name__ == "__main__":
    sys.exit(main())
