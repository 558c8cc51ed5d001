"""Command line: ``python -m dvnlib summary J2 [--json]``, ``python -m dvnlib run FJ1 [--profile quick]``,
``python -m dvnlib bench [--quick] [--json]``, ``python -m dvnlib export FJ2 --task 1 --max-bytes N --out F.onnx``,
``python -m dvnlib zoo --profile study --out results/deploy/zoo.csv``, ``python -m dvnlib demo FJ2 --profile quick``.

Errors in what the user asked for or in the environment (an unknown scenario, an inconsistent
override, an unusable device, a missing or malformed dataset, a results folder that cannot be
written, a diverged run, memory or disk running out) print one line that says what was wrong and how to fix it, with no
traceback, and exit with status 2; a bug still shows its traceback. Output piped into a reader
that stops early (``| head``) ends quietly."""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import accounting
from .scenarios import SCENARIOS

# every profile some scenario has (the study's ``narrow`` only FJ1 and FJ2): a scenario without the
# one asked for says so, with its own list
PROFILES = tuple(dict.fromkeys(p for s in SCENARIOS.values() for p in s.profiles))


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
    p.add_argument("--depth", type=_at_least_1)
    p.add_argument("--width", type=_at_least_1)
    p.add_argument("--units", type=_at_least_1, help="number of units k")
    p.add_argument("--rule", default="dvn", help="configuration rule: dvn (eq. 3) or prefix")
    p.add_argument("--bn", default="per_output", help="per_output or shared")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    r = sub.add_parser("run", help="train and evaluate a scenario (what the notebooks call)")
    r.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    r.add_argument("--profile", choices=PROFILES, default="smoke")
    r.add_argument("--methods", nargs="+", help="method ids, e.g. dvn lwf or dvn,lwf "
                   "(default: every method the family compares)")
    r.add_argument("--seeds", nargs="+", help="e.g. 0 1 2 or 0,1,2 (default: the profile's seeds)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="SETTING=VALUE",
                   help="replace a profile setting, e.g. --set epochs=1 --set lr=0.01 (repeatable)")
    r.add_argument("--data-root", help="default: $DVN_DATA, else data/")
    r.add_argument("--download", action="store_true",
                   help="fetch datasets missing under the data root first (the paper's: needs the network)")
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N or mps")
    r.add_argument("--workers", type=_at_least_1, help="train N runs at once: worker processes here, or at most N "
                   "cluster jobs at once with --executor submitit (default: 1 here, no limit on Slurm)")
    r.add_argument("--executor", choices=("local", "submitit"), default="local",
                   help="submitit: one job per (method, seed), on Slurm where found, else local processes")
    r.add_argument("--threads", type=_at_least_1, help="torch threads per run (default: the cores over --workers; "
                   "Slurm: --cpus-per-job)")
    r.add_argument("--partition", help="Slurm partition (default: the cluster's)")
    r.add_argument("--gpus-per-job", type=int, help="GPUs per Slurm job (default 1)")
    r.add_argument("--cpus-per-job", type=_at_least_1, help="CPUs per Slurm job (default 8)")
    r.add_argument("--mem-gb", type=_at_least_1, help="memory per Slurm job in GB (default 32)")
    r.add_argument("--time-min", type=_at_least_1, help="time limit per Slurm job in minutes (default 1440)")
    b = sub.add_parser("bench", help="time every level against the full network, training and data")
    b.add_argument("--quick", action="store_true", help="a shorter run (under a minute on a 2-core CPU)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--out", help="also write inference.csv, bench.json and tables/*.csv to this folder")
    b.add_argument("--device", default="cpu", help="cpu or cuda")
    b.add_argument("--threads", type=_at_least_1, default=1, help="CPU threads for the headline figures (default 1)")
    b.add_argument("--engine", help="headline inference engine (default: the one that runs the full network fastest)")
    e = sub.add_parser("export", help="write one (task, level) of a kept model as ONNX (raw uint8 images in)")
    e.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    e.add_argument("--profile", choices=PROFILES, default="smoke")
    e.add_argument("--seed", type=_seed, default=0)
    e.add_argument("--task", type=_at_least_1, required=True, help="task number, from 1")
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument("--level", type=_at_least_1, help="the level to export")
    which.add_argument("--max-params", type=_at_least_1, help="export the largest level with at most this many parameters")
    which.add_argument("--max-bytes", type=_at_least_1, help="export the (level, precision) of the best accuracy the "
                       "zoo measured whose file has at most this many bytes")
    e.add_argument("--precision", choices=("float32", "int8"), help="float32 (default) or int8 (static "
                   "quantisation calibrated on the task's training images); --max-bytes chooses it")
    e.add_argument("--data-root", help="where int8 finds its calibration images (default: $DVN_DATA, else data/)")
    e.add_argument("--out", required=True, help="the ONNX file to write")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="SETTING=VALUE",
                   help="the settings the run was given (its --set), to export that run's model (repeatable)")
    e.add_argument("--results", default="results", help="results folder holding the models (default: results)")
    z = sub.add_parser("zoo", help="export, measure and time every (task, level) of every kept dvn model")
    z.add_argument("--scenarios", nargs="+", default=[s for s, x in SCENARIOS.items() if x.twin_of],
                   help="default: the Fashion-MNIST twins")
    z.add_argument("--profile", choices=PROFILES, default="study")
    z.add_argument("--set", dest="overrides", action="append", default=[], metavar="SETTING=VALUE",
                   help="the settings the runs were given (their --set); default: the profile's (repeatable)")
    z.add_argument("--results", default="results", help="results folder holding the models (default: results)")
    z.add_argument("--data-root", help="default: $DVN_DATA, else data/")
    z.add_argument("--rounds", type=_at_least_1, default=30, help="timed batch-1 rounds per output")
    z.add_argument("--out", required=True, help="the CSV to write (the book reads results/deploy/zoo.csv)")
    d = sub.add_parser("demo", help="the deployment page's live demo: a kept model's levels in both precisions "
                       "and test images, for the reader's browser")
    d.add_argument("scenario", help=f"one of {', '.join(SCENARIOS)}")
    d.add_argument("--profile", choices=PROFILES, default="study")
    d.add_argument("--seed", type=_seed, default=0)
    d.add_argument("--set", dest="overrides", action="append", default=[], metavar="SETTING=VALUE",
                   help="the settings the run was given (its --set), to use that run's model (repeatable)")
    d.add_argument("--results", default="results", help="results folder holding the models (default: results)")
    d.add_argument("--data-root", help="default: $DVN_DATA, else data/")
    d.add_argument("--images-per-task", type=_at_least_1, default=75, help="test images shipped per task")
    d.add_argument("--out", help="the folder to write (default: book/_extra/demo, which the book serves)")
    args = parser.parse_args(argv)
    try:
        _command(args)
        sys.stdout.flush()  # here, so that a closed pipe is met inside the handlers below
    except BrokenPipeError:
        return _reader_gone()
    except KeyboardInterrupt:
        print("interrupted: finished runs and each stage's last checkpoint are kept; "
              "the same command resumes", file=sys.stderr)
        return 130
    except Exception as e:
        from .resources import exhausted  # memory or disk running out, wherever it happened
        line = exhausted(e, getattr(args, "out", None))
        if line is None and not isinstance(e, _user_errors()):
            raise  # a bug: its traceback
        print(f"error: {line or _one_line(e)}", file=sys.stderr)
        return 2
    return 0


def _command(args) -> None:
    if args.command == "summary":
        info = accounting.summary(args.scenario, args.profile, depth=args.depth, width=args.width,
                                  units=args.units, rule=args.rule, bn=args.bn)
        print(json.dumps(info) if args.json else _summary_table(info))
    elif args.command == "run":
        import logging

        from .request import check
        overrides = dict(_setting(x) for x in args.overrides)
        # checked before torch and pandas load, so that a wrong method, seed or setting is refused at
        # once; the device is checked by ``run``, with the schedule that says where it is resolved
        check(args.scenario, args.profile, args.methods, args.seeds, overrides or None, "cpu", args.out,
              probe_out=False, download=args.download)
        from .report import table
        from .runner import run
        logging.basicConfig(level=logging.INFO, format="%(message)s")
        cluster = {"partition": args.partition, "gpus_per_job": args.gpus_per_job, "cpus_per_job": args.cpus_per_job,
                   "mem_gb": args.mem_gb, "time_min": args.time_min}
        df = run(args.scenario, args.profile, args.methods, args.seeds, data_root=args.data_root,
                 out_dir=args.out, device=args.device, overrides=overrides or None, workers=args.workers,
                 executor=args.executor, threads=args.threads, cluster=cluster, download=args.download)
        print(table(df).to_string(index=False))
    elif args.command == "bench":
        from . import bench  # imports torch: kept out of the summary's path
        from .request import check_device
        from .results import check_writable
        log = (lambda s: print(s, file=sys.stderr, flush=True))
        check_device(args.device)
        if args.out:
            check_writable(args.out)  # before minutes of timing, not after
        result = bench.run(quick=args.quick, device=args.device, threads=args.threads,
                           engine=args.engine, log=log)
        print(json.dumps(bench.public(result), default=str) if args.json else bench.table(result))
        sys.stdout.flush()
        if args.out:  # after the table, so that a failed write loses nothing that was timed
            for path in bench.write(result, args.out):
                log(f"wrote {path}")
    elif args.command == "export":
        _export(args)
    elif args.command == "zoo":
        _zoo(args)
    elif args.command == "demo":
        from . import demo  # imports torch and onnxruntime: kept out of the other commands' path
        print(demo.build(args.scenario, args.profile, args.seed, args.out or demo.DEMO_DIR, args.results,
                         args.data_root, args.images_per_task, dict(_setting(x) for x in args.overrides) or None,
                         log=lambda s: print(s, file=sys.stderr, flush=True)))


def _export(args) -> None:
    from .kept import export_output  # imports torch and onnx: kept out of the other commands' path
    overrides = dict(_setting(x) for x in args.overrides) or None
    print(json.dumps(export_output(args.scenario, args.profile, args.seed, args.task, args.out, args.level,
                                   args.max_params, root=args.results, overrides=overrides,
                                   precision=args.precision, max_bytes=args.max_bytes, data_root=args.data_root)))


def _zoo(args) -> None:
    from pathlib import Path

    from . import zoo  # imports torch and onnxruntime: kept out of the other commands' path
    from .results import check_writable
    check_writable(Path(args.out).parent)  # before minutes of timing, not after
    rows = zoo.build(args.scenarios, args.profile, args.results, args.data_root, args.rounds,
                     log=lambda s: print(s, file=sys.stderr, flush=True),
                     overrides=dict(_setting(x) for x in args.overrides) or None)
    if not rows:
        raise ValueError(f"no kept dvn models of {', '.join(args.scenarios)} ({args.profile}) under "
                         f"{args.results}: `python -m dvnlib run SCENARIO --profile {args.profile} --methods dvn` "
                         "keeps them")
    print(zoo.write(rows, args.out))


def _at_least_1(text: str) -> int:
    """An integer option where 0 or less makes no sense (it would not mean "the default")."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {n}")
    return n


def _seed(text: str) -> int:
    from .request import parse_seeds  # the one range check of a seed
    try:
        seeds = parse_seeds(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if len(seeds) != 1:
        raise argparse.ArgumentTypeError(f"expected one seed, got {text!r}")
    return seeds[0]


def _setting(text: str) -> tuple[str, str]:
    key, eq, value = text.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"--set takes SETTING=VALUE, e.g. --set epochs=1: got {text!r}")
    return key.strip(), value.strip()


def _user_errors() -> tuple[type[BaseException], ...]:
    """What the user or the environment got wrong. ``ValueError`` covers bad input (and
    ``results.CorruptFile``), ``OSError`` a dataset that is missing or malformed
    (``data.DatasetMissing``/``DatasetCorrupt``) and folders that cannot be written; memory or
    disk running out is ``resources.exhausted``'s. ``Diverged`` is added only where training is
    loaded, so that ``summary`` never imports torch."""
    errors: list[type[BaseException]] = [ValueError, OSError]
    train = sys.modules.get("dvnlib.train")
    if train is not None and hasattr(train, "Diverged"):
        errors.append(train.Diverged)
    return tuple(errors)


def _one_line(e: BaseException) -> str:
    if isinstance(e, OSError) and e.filename and str(e.filename) not in str(e):
        return f"{e.strerror or e}: {e.filename}"
    return " ".join(str(e).split()) or type(e).__name__


def _reader_gone() -> int:
    """The reader of our output stopped early (``| head``): end quietly, as a tool killed by
    SIGPIPE would (status 141). stdout is pointed at /dev/null so that the interpreter's last
    flush of what is still buffered does not fail a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 141
