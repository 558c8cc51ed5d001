"""Learning curves that choose the study profile's training budget.

For each scenario and method, the `study` profile is trained with budgets of 1, 2, 4, ... epochs
(each budget a run of its own, with the profile's schedule scaled to it, as the study would run
it), and every output's test and training accuracy is written to
``results/<scenario>/curves/curve.csv``. The budget the study uses is the smallest at which
doubling it adds less than 1 point of test accuracy (``report`` reads the curves for the book).

    .venv/bin/python scripts/learning_curve.py FJ1 FJ2 --methods dvn baseline --epochs 1 2 4 8 16 32

A budget already in the CSV is not run again; each finished budget is written at once (atomic),
so the script can be stopped and resumed. The runs themselves go to ``results/_curves/`` (not
committed): only the CSV is the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

import dvnlib
from dvnlib import results as R
from dvnlib.data import load_task

COLUMNS = ["scenario", "profile", "method", "seed", "epochs", "steps", "task", "level", "units", "params",
           "density", "accuracy", "train_accuracy", "n_test"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="+")
    ap.add_argument("--methods", nargs="+", default=["dvn", "baseline"])
    ap.add_argument("--epochs", nargs="+", type=int, default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--profile", default="study")
    ap.add_argument("--work", default="results/_curves")
    args = ap.parse_args(argv)
    for sc in args.scenarios:
        s = dvnlib.scenario(sc)
        p = s.profile(args.profile)
        out = Path("results") / sc / "curves" / "curve.csv"
        done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=COLUMNS)
        # batches per pass of each task: an epoch is one pass over each task (train.EpochPlan)
        per_pass = {t: len(load_task(task, "train", None, p.train_per_task).y) // p.batch_size
                    for t, task in enumerate(s.tasks, 1)}
        for e in args.epochs:
            for m in args.methods:
                for seed in args.seeds:
                    if ((done.method == m) & (done.epochs == e) & (done.seed == seed)).any():
                        continue
                    print(f"{sc} {m} seed {seed}: {e} epochs", file=sys.stderr, flush=True)
                    df = dvnlib.run(sc, args.profile, [m], [seed], out_dir=args.work, progress=False,
                                    overrides={"epochs": e})
                    df = df[(df.method == m) & (df.seed == seed)].copy()
                    df["epochs"] = e
                    df["steps"] = [e * per_pass[t] for t in df.task]
                    done = pd.concat([done, df[COLUMNS]], ignore_index=True)
                    done = done.sort_values(["method", "seed", "epochs", "task", "level"], kind="stable")
                    R.atomic_write_text(out, done.to_csv(index=False, lineterminator="\n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
