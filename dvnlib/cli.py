"""Command line: ``python -m dvnlib summary J2 [--json]``, ``python -m dvnlib run FJ1 [--profile quick]``,
``python -m dvnlib bench [--quick] [--json]``.

Errors in what the user asked for (an unknown scenario, an inconsistent override) print one line
that names the valid values, with no traceback, and exit with status 2."""
from __future__ import annotations

import argparse
import json
import sys

from . import accounting
from .scenarios import PROFILES, SCENARIOS


def _summary_table(info: dict) -> str:
    lines = [f"{info['scenario']}: {info['backbone']}, k = {info['k']} units of sizes "
             f"{':'.join(map(str, info['unit_sizes']))}, N_T = {info['total_params']:,} parameters",
             f"{'task':>4} {'level':>5}  {'units':<12} {'params':>12} {'density':>8} {'MMACs':>9}"]
    for o in info["outputs"]:
        units = ",".join(map(str, o["units"]))
        lines.append(f"{o['task']:>4} {o['level']:>5}  {units:<12} {o['params']:>12,} "
                     f"{100 * o['density']:>7.1f}% {o['macs'] / 1e6:>9.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dvnlib", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("summary", help="parameters and density of every (task, level) of a scenario")
    p.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    p.add_argument("--profile", choices=PROFILES, help="size the backbone as this profile does (default: paper size)")
    p.add_argument("--depth", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--units", type=int, help="number of units k")
    p.add_argument("--rule", default="dvn", help="configuration rule: dvn (eq. 3) or prefix")
    p.add_argument("--bn", default="per_output", help="per_output or shared")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    r = sub.add_parser("run", help="train and evaluate a scenario (what the notebooks call)")
    r.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    r.add_argument("--profile", choices=PROFILES, default="smoke")
    r.add_argument("--methods", nargs="+", help="method ids (default: every method the family compares)")
    r.add_argument("--seeds", nargs="+", type=int, help="default: the profile's seeds")
    r.add_argument("--data-root", help="default: $DVN_DATA, else data/")
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    b = sub.add_parser("bench", help="time every level against the full network, training and data")
    b.add_argument("--quick", action="store_true", help="a shorter run (under a minute on a 2-core CPU)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--out", help="also write inference.csv, bench.json and tables/*.csv to this folder")
    b.add_argument("--device", default="cpu", help="cpu or cuda")
    b.add_argument("--threads", type=int, default=1, help="CPU threads for the headline figures (default 1)")
    b.add_argument("--engine", help="headline inference engine (default: the one that runs the full network fastest)")
    args = parser.parse_args(argv)
    try:
        if args.command == "summary":
            info = accounting.summary(args.scenario, args.profile, depth=args.depth, width=args.width,
                                      units=args.units, rule=args.rule, bn=args.bn)
            print(json.dumps(info) if args.json else _summary_table(info))
        elif args.command == "run":
            import logging

            from .report import table
            from .runner import run
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            df = run(args.scenario, args.profile, args.methods, args.seeds, data_root=args.data_root,
                     out_dir=args.out, device=args.device)
            print(table(df).to_string(index=False))
        elif args.command == "bench":
            from . import bench  # imports torch: kept out of the summary's path
            log = (lambda s: print(s, file=sys.stderr, flush=True))
            result = bench.run(quick=args.quick, device=args.device, threads=args.threads,
                               engine=args.engine, log=log)
            if args.out:
                for path in bench.write(result, args.out):
                    log(f"wrote {path}")
            print(json.dumps(bench.public(result), default=str) if args.json else bench.table(result))
    except (ValueError, FileNotFoundError) as e:  # bad input, or a dataset that is not there
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
