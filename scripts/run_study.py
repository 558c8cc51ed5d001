"""The whole Fashion-MNIST study at the `study` profile (issue 13), run by run, committed as it goes.

Every twin with every method its family compares, plus the ablations the book shows, for the
profile's five seeds. Seeds are the outer loop, so that a study cut off after some hours has
every method at the same seeds rather than some methods complete and others missing. A finished
(method, seed) is read back, not retrained (the runner recognises it by its configuration and
code), so rerunning this after an interruption only does what is missing; with ``--commit`` each
finished (scenario, seed) is committed to git at once (a session's background jobs end with it).

    .venv/bin/python scripts/run_study.py [--workers 2] [--commit] [--seeds 0 1 2 3 4]

At the end the executed notebooks (one per twin, reading the finished runs back) land beside each
``metrics.csv`` and the study's record (times, hardware, versions, commit) in ``results/study.json``.
"""
from __future__ import annotations

import argparse
import glob
import json
import subprocess
import sys
import time

import dvnlib
from dvnlib import results as R
from dvnlib.methods import FAMILY_METHODS

PROFILE = "study"
# The twins, cheapest first, each with the ablations the book shows on it.
ABLATIONS = {"FJ1": ("dvn-shared-affine", "dvn-shared-bn", "dvn-prefix"), "FJ2": ("dvn-prefix",),
             "FS1": ("dvn-random-expansion",)}
TWINS = ("FJ1", "FH1", "FS1", "FJ2", "FJ3")


def methods_for(scenario: str) -> list[str]:
    return [*FAMILY_METHODS[dvnlib.scenario(scenario).family], *ABLATIONS.get(scenario, ())]


def commit(paths: list[str], message: str) -> None:
    subprocess.run(["git", "add", "--", *paths], check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"]).returncode:
        subprocess.run(["git", "commit", "-q", "-m", message], check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=list(dvnlib.scenario("FJ1").profile(PROFILE).seeds))
    ap.add_argument("--twins", nargs="+", default=list(TWINS))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--commit", action="store_true", help="git-commit each finished (twin, seed)")
    ap.add_argument("--notebooks", action="store_true", help="run each twin's notebook at the end")
    args = ap.parse_args(argv)
    start = time.time()
    extra = {"workers": args.workers} if args.workers > 1 else {}
    for seed in args.seeds:
        for sc in args.twins:
            t0 = time.time()
            print(f"== {sc} seed {seed}: {', '.join(methods_for(sc))}", file=sys.stderr, flush=True)
            dvnlib.run(sc, PROFILE, methods_for(sc), [seed], progress=False, **extra)
            print(f"   {sc} seed {seed} done in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            if args.commit:
                commit([f"results/{sc}/{PROFILE}"], f"Study results: {sc} seed {seed} ({', '.join(methods_for(sc))})")
    if args.notebooks:
        for sc in args.twins:
            family = dvnlib.scenario(sc).family
            subprocess.run([sys.executable, "-m", "papermill", f"notebooks/{family}.ipynb",
                            f"results/{sc}/{PROFILE}/{family}.ipynb", "-k", "python3", "--no-progress-bar",
                            "-p", "scenario", sc, "-p", "profile", PROFILE, "-p", "methods", ",".join(methods_for(sc)),
                            "-p", "seeds", ",".join(map(str, args.seeds))], check=True)
    records = [json.load(open(f)) for sc in args.twins for f in glob.glob(f"results/{sc}/{PROFILE}/runs/**/seed*.json",
                                                                          recursive=True)]
    R.write_json("results/study.json", {
        "profile": PROFILE, "wall_seconds_last_invocation": round(time.time() - start), "runs": len(records),
        "run_wall_seconds_total": round(sum(r.get("wall_seconds", 0) for r in records)),
        "run_train_seconds_total": round(sum(r.get("train_seconds", 0) for r in records)),
        "hardware": R.hardware("cpu"), "versions": R.versions(), "git": R.git_state(), "scenarios": list(args.twins),
        "ablations": {k: list(v) for k, v in ABLATIONS.items()}, "workers": args.workers})
    if args.commit:
        commit(["results"], "Study record: results/study.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
