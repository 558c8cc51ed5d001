"""Run a scenario: every requested method and seed, trained, evaluated and written as CSV.

This is the one function the notebooks and the command line call::

    dvnlib.run("FJ1", profile="smoke", methods=["dvn"], seeds=[0])

Data flows one way: scenario -> data -> method -> rows -> ``<out_dir>/<scenario>/<profile>/``
(see ``results.py`` for the files). Everything asked for is checked first (``request.check``),
before any data is read. A run's identity is its configuration (the scenario's resolved
settings), method, seed and the code that trains it (``results.code_version``): a (method, seed)
that already finished with the same identity is read back, not retrained; one that was
interrupted resumes from its last epoch's checkpoint; each configuration keeps its own records
and checkpoints, so a run with other settings never overwrites another's.

Where each (method, seed) executes (this process, worker processes, cluster jobs) and the locks
that keep two runners from training one run twice are ``workers.py``'s; ``train_one`` is what
each of them calls.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from . import methods as M
from . import results as R
from . import scenarios as S
from .request import check, check_device

log = logging.getLogger("dvnlib")


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` where available, else ``cpu``; an unknown or unusable device raises."""
    return check_device(device)


def configuration(scenario: S.Scenario, profile: str) -> dict:
    """Everything in the settings that determines a run's numbers, as plain JSON-able data."""
    sc = dataclasses.asdict(scenario)
    sc.pop("profiles")
    return {"scenario": sc, "profile": profile, "settings": dataclasses.asdict(scenario.profile(profile)),
            "dvnlib_schema": 1}


def record_path(out: Path, config_id: str, method: str, seed: int) -> Path:
    """Where a (method, seed) of one configuration keeps its record (``.json``) and rows (``.csv``)."""
    return out / "runs" / method / config_id / f"seed{seed}.json"


def finished(record: Path, key: str) -> bool:
    """Whether ``record`` is a finished run of identity ``key`` with its rows beside it. A record
    or CSV that cannot be read is moved aside (``results.quarantine``): the run trains again."""
    if not record.exists():
        return False
    try:
        meta = R.read_record(record)
    except R.CorruptFile as e:
        R.quarantine(record, e.reason)
        return False
    if meta.get("key") != key:
        return False  # another configuration or other code: trained again, and replaced
    rows = record.with_suffix(".csv")
    if not rows.exists():
        log.warning("%s has no %s: its run is trained again", record, rows.name)
        return False
    try:
        R.check_rows(rows)
    except R.CorruptFile as e:
        R.quarantine(rows, e.reason)
        return False
    return True


def run(scenario: str, profile: str = "smoke", methods: Sequence[str] | str | None = None,
        seeds: Iterable[int] | int | str | None = None, data_root=None, out_dir="results",
        device: str | None = None, progress: bool = True, overrides: dict | None = None,
        family: str | None = None, *, workers: int | str | None = None, executor: str = "local",
        threads: int | str | None = None, cluster: dict | None = None):
    """Train and evaluate ``methods`` x ``seeds`` on ``scenario`` at ``profile``; returns the
    scenario's metrics (a pandas DataFrame) and writes them under ``out_dir``.

    ``methods`` and ``seeds`` take a list, one value or a comma-separated string. ``overrides``
    replaces profile settings (e.g. ``{"epochs": 1}``): the one override path. ``family``, if
    given, insists that the scenario belongs to it (each notebook runs one family). Every
    argument is checked before any data is read (``request.check``).

    Where the (method, seed) runs execute (``workers.py``): ``workers=N`` trains them in N
    processes of this machine; ``executor="submitit"`` submits one job per run (Slurm where it is
    found, with ``cluster`` settings, else submitit's local executor); ``threads`` sets torch's
    threads per run. Runs hold a lock while they train, so runners pointed at one ``out_dir``
    never train a run twice. The numbers do not depend on any of this (at equal ``threads``)."""
    import pandas as pd

    from . import workers as W

    sched = W.check_schedule(workers, executor, threads, cluster, device)
    req = check(scenario, profile, methods, seeds, overrides, sched.device_check, out_dir, family)
    if sched.job_device is not None:  # resolved by each cluster job on its node
        req = dataclasses.replace(req, device=sched.job_device)
    s, out = req.scenario, req.out
    base, base_key, code, _ = identity(req)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    W.execute(req, [(m, seed) for m in req.methods for seed in req.seeds], data_root, progress, sched)
    return _collect(out, s, profile, base, base_key, code, req.overrides, req.device, started,
                    time.perf_counter() - t_start, pd)


def identity(req) -> tuple[dict, str, str, dict]:
    """(configuration, its id, code hash, the identity every run key of ``req`` extends)."""
    base = configuration(req.scenario, req.profile)
    code = R.code_version()
    return base, R.config_key(base), code, {**base, "code": code}


def run_key(req, method: str, seed: int) -> tuple[Path, str]:
    """The record path and identity key of one (method, seed) of ``req``."""
    _, base_key, _, ident = identity(req)
    return record_path(req.out, base_key, method, seed), R.config_key({**ident, "method": method, "seed": seed})


def is_finished(req, method: str, seed: int) -> bool:
    return finished(*run_key(req, method, seed))


def train_one(req, method: str, seed: int, data_root=None, progress: bool = True,
              data: dict | None = None) -> None:
    """Train, evaluate and write one (method, seed) of ``req``. The caller holds its lock
    (``workers.py``). ``data`` caches the loaded tasks across calls of one process."""
    from .data import data_root as resolve_root, load_task
    from .train import RunContext

    s, profile, device, out = req.scenario, req.profile, req.device, req.out
    p = s.profile(profile)
    base, base_key, code, ident = identity(req)
    record, key = run_key(req, method, seed)
    data = {} if data is None else data
    root = resolve_root(data_root)
    cache = (str(root), s.tasks, p.train_per_task, p.test_per_task)
    if cache not in data:  # load only when something needs training, once per process
        data[cache] = ([load_task(t, "train", root, p.train_per_task) for t in s.tasks],
                       [load_task(t, "test", root, p.test_per_task) for t in s.tasks])
    train_data, test_data = data[cache]
    ckpts = out / "checkpoints" / base_key
    ctx = RunContext(s, profile, seed, device, train_data, test_data,
                     ckpts / method / f"seed{seed}", key, progress,
                     label=f"{s.id} {method} seed {seed}",
                     shared_dir=ckpts / "shared" / f"seed{seed}",
                     shared_key=R.config_key({**ident, "seed": seed}))
    t0 = time.perf_counter()
    rows = M.get(method)(ctx)
    R.write_rows(record.with_suffix(".csv"), R.row_dicts(rows, s.id, profile))
    R.write_json(record, {"key": key, "base_key": base_key, "code": code,
                          "overrides": req.overrides, "method": method, "seed": seed,
                          "train_seconds": round(ctx.train_seconds, 2),
                          # the passes (epochs) and batches over each task's training
                          # split made by every stage that learns it: equal across methods
                          "epochs_per_task": ctx.epochs_per_task(),
                          "steps_per_task": ctx.steps_per_task(),
                          "wall_seconds": round(time.perf_counter() - t0, 2),
                          "device": device, "finished": datetime.now(timezone.utc).isoformat(),
                          # where and with what this (method, seed) was trained, kept with
                          # it: run.json is rewritten whenever the scenario is collected
                          "git": R.git_state(), "versions": R.versions(),
                          "hardware": R.hardware(device)})
    # The trained network itself, beside its record (``deploy.load`` reads it back).
    from .deploy import save_trained
    save_trained(ctx, out, key)


def _collect(out: Path, s: S.Scenario, profile: str, base: dict, base_key: str, code: str,
             overrides: dict, device: str, started, wall: float, pd):
    """Rewrite metrics.csv and run.json from every finished (method, seed) of this configuration
    trained by this code; records of other code are left out (and named)."""
    rows, runs, stale = [], {}, []
    for record in sorted((out / "runs").glob(f"*/{base_key}/seed*.json")):
        try:
            meta = R.read_record(record)
            if meta.get("code") != code or meta.get("base_key") != base_key:
                stale.append(str(record.relative_to(out)))
                continue
            found = R.check_rows(record.with_suffix(".csv"))
        except R.CorruptFile as e:
            R.quarantine(e.path, e.reason)
            continue
        except FileNotFoundError:
            log.warning("%s has no CSV beside it and is left out", record)
            continue
        rows += found
        runs.setdefault(meta["method"], []).append(
            {**{k: meta[k] for k in ("seed", "train_seconds", "wall_seconds", "device", "finished")},
             "commit": meta.get("git", {}).get("commit"), "torch": meta.get("versions", {}).get("torch")})
    if stale:
        log.warning("%d finished runs under %s were trained by other code and are left out "
                    "(run them again to include them): %s", len(stale), out, ", ".join(stale))
    df = pd.DataFrame(rows, columns=R.COLUMNS)
    for col, typ in (("seed", int), ("task", int), ("level", int), ("params", int), ("params_total", int),
                     ("density", float), ("accuracy", float), ("train_accuracy", float), ("n_test", int)):
        df[col] = df[col].astype(typ)
    df = df.sort_values(["method", "seed", "task", "level"], kind="stable").reset_index(drop=True)
    R.atomic_write_text(out / "metrics.csv", df.to_csv(index=False, lineterminator="\n"))
    R.write_json(out / "run.json", {
        "scenario": s.id, "profile": profile, "configuration": base, "configuration_key": base_key,
        "overrides": overrides, "code": code, "stale_runs": stale,
        "runs": runs, "versions": R.versions(), "hardware": R.hardware(device), "device": device,
        "git": R.git_state(), "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(), "wall_seconds_this_call": round(wall, 2)})
    return df
