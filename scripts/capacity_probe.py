"""The capacity probe that chooses the study's narrow width (the book's preregistration page).

The independent baseline (one network per density, sharing nothing) is trained at the study's
budget at each candidate width; a task is capacity-limited at a width when its full-width network
beats its one-unit-width network by at least ``LIMITED`` points (mean over the probe's seeds). The
narrow width of a twin is the widest candidate at which a majority of its tasks are
capacity-limited; if none is, its narrowest candidate, and the summary says so.

    python scripts/capacity_probe.py [--twins FJ1 FJ2] [--seeds 0 1] [--workers 2]

Runs go to ``results/<twin>/probe/`` (each width its own configuration); the summary, one row per
(twin, width, task), to ``results/<twin>/probe/capacity.csv`` and the choice to
``results/<twin>/probe/choice.json``.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

import dvnlib
from dvnlib import results as R

LIMITED = 2.0  # points from full width to one unit's width, the paper's Table 3 regime
# The override that narrows each twin, widest first; FJ2's ResNet-10 cannot go below 8 maps
# without emptying a NestedNet or PackNet+ group.
CANDIDATES = {"FJ1": [{"base_width": 8}, {"base_width": 4}], "FJ2": [{"width": 8}]}


def majority(twin: str) -> int:
    n = len(dvnlib.scenario(twin).tasks)
    return n if n == 2 else n // 2 + 1  # FJ1: both tasks; FJ2: 3 of 4


def losses(df: pd.DataFrame) -> pd.DataFrame:
    """Per task: the baseline's full-width (top level) minus one-unit-width (level 1) accuracy."""
    by = df.groupby(["task", "task_name", "level"])["accuracy"].agg(["mean", "count"]).reset_index()
    rows = []
    for (t, name), g in by.groupby(["task", "task_name"]):
        top, one = g[g["level"] == g["level"].max()].iloc[0], g[g["level"] == 1].iloc[0]
        rows.append({"task": t, "task_name": name, "seeds": int(one["count"]), "full_width": top["mean"],
                     "one_unit_width": one["mean"], "loss": top["mean"] - one["mean"]})
    out = pd.DataFrame(rows)
    out["capacity_limited"] = out["loss"] >= LIMITED
    return out


def probe(twin: str, seeds, workers: int, root: Path) -> dict:
    out = root / twin / "probe"
    parts = []
    for override in CANDIDATES[twin]:
        dvnlib.layout(twin, "study", **override)  # raises if a unit would be empty
        df = dvnlib.run(twin, "study", methods=["baseline"], seeds=list(seeds), out_dir=out,
                        overrides=override, workers=workers, threads=1)
        lo = losses(df)
        (name, value), = override.items()
        lo.insert(0, "twin", twin)
        lo.insert(1, "setting", name)
        lo.insert(2, "value", value)
        lo.insert(3, "backbone", dvnlib.summary(twin, "study", **override)["backbone"])
        parts.append(lo)
    table = pd.concat(parts, ignore_index=True)
    R.atomic_write_text(out / "capacity.csv", table.to_csv(index=False, lineterminator="\n"))
    need = majority(twin)
    chosen, met = None, False
    for override in CANDIDATES[twin]:  # widest first
        (name, value), = override.items()
        lim = table[(table["setting"] == name) & (table["value"] == value)]["capacity_limited"].sum()
        if lim >= need:
            chosen, met = override, True
            break
    if chosen is None:
        chosen = CANDIDATES[twin][-1]
    choice = {"twin": twin, "chosen": chosen, "criterion_met": met, "rule": (
        f"the widest candidate at which at least {need} of {len(dvnlib.scenario(twin).tasks)} tasks "
        f"lose at least {LIMITED} points from full width to one unit's width (baseline, mean over seeds "
        f"{', '.join(map(str, seeds))}); else the narrowest candidate"),
        "candidates": CANDIDATES[twin], "git": R.git_state()}
    R.write_json(out / "choice.json", choice)
    return choice


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--twins", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--results", type=Path, default=Path("results"))
    a = ap.parse_args(argv)
    for twin in a.twins:
        print(json.dumps(probe(twin, a.seeds, a.workers, a.results), indent=2))


if __name__ == "__main__":
    main()
