"""The sweep that chose the fine-tuning rate and warm-up: LwF, sequential DVN and
sequential NestedNet start their new stage from a trained network, and use one starting rate
(``finetune_lr_scale`` x the profile's rate) and one warm-up, chosen here for all three together.

On FS1, for each (scale, warm-up) of the grid and each seed, the three methods are trained from the
same old networks (trained once per seed: they do not depend on the fine-tuning settings) and
every output's test and training accuracy goes to ``results/FS1/sweep/finetune.csv``. The chosen
setting maximises the mean, over the three methods and seeds, of the mean accuracy of each
method's outputs (old and new task alike, so neither forgetting nor learning the new task is
favoured); ``--choose`` prints it.

    .venv/bin/python scripts/sweep_finetune.py --profile study --epochs 4 --seeds 0 1
    .venv/bin/python scripts/sweep_finetune.py --choose

A (scale, warm-up, seed) already in the CSV is not run again. Runs go to ``results/_sweep/``
(not committed); only the CSV is the result.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from dvnlib import methods as M, results as R, scenarios as S
from dvnlib.report.tables import finetune_choice as choose
from dvnlib.data import load_task
from dvnlib.train import RunContext

OUT = Path("results/FS1/sweep/finetune.csv")
GRID = [(1.0, 0.0), (0.3, 0.0), (0.1, 0.0), (0.03, 0.0), (0.3, 0.1), (0.1, 0.1)]
METHODS = ("lwf", "dvn", "nestednet")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="study")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--work", default="results/_sweep")
    ap.add_argument("--choose", action="store_true", help="print the ranking of the committed sweep")
    args = ap.parse_args(argv)
    done = pd.read_csv(OUT) if OUT.exists() else pd.DataFrame()
    if args.choose:
        print(choose(done).round(2).to_string())
        return 0
    base = S.with_profile("FS1", args.profile, epochs=args.epochs)
    p = base.profile(args.profile)
    train = [load_task(t, "train", None, p.train_per_task) for t in base.tasks]
    test = [load_task(t, "test", None, p.test_per_task) for t in base.tasks]
    work = Path(args.work) / f"{args.profile}-e{args.epochs}"
    for seed in args.seeds:
        for scale, warmup in GRID:
            if not done.empty and ((done.finetune_lr_scale == scale) & (done.warmup == warmup)
                                   & (done.seed == seed)).any():
                continue
            s = S.with_profile(base, args.profile, finetune_lr_scale=scale, warmup=warmup)
            rows = []
            for m in METHODS:
                print(f"FS1 {m} seed {seed}: scale {scale}, warm-up {warmup}", file=sys.stderr, flush=True)
                ctx = RunContext(s, args.profile, seed, "cpu", train, test,
                                 work / f"s{scale}-w{warmup}" / m / f"seed{seed}", f"{scale}-{warmup}-{m}",
                                 progress=False, label=f"FS1 {m} seed {seed}",
                                 # the old networks: trained from scratch, the same for every setting
                                 shared_dir=work / "shared" / f"seed{seed}", shared_key=f"shared-{seed}")
                rows += R.row_dicts(M.get(m)(ctx), "FS1", args.profile)
            new = pd.DataFrame(rows).assign(finetune_lr_scale=scale, warmup=warmup, epochs=args.epochs)
            done = pd.concat([done, new], ignore_index=True)
            R.atomic_write_text(OUT, done.to_csv(index=False, lineterminator="\n"))
    print(choose(done).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
