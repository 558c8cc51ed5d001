"""Run a scenario: every requested method and seed, trained, evaluated and written as CSV.

This is the one function the notebooks and the command line call::

    dvnlib.run("FJ1", profile="smoke", methods=["dvn"], seeds=[0])

Data flows one way: scenario -> data -> method -> rows -> ``<out_dir>/<scenario>/<profile>/``
(see ``results.py`` for the files). Everything asked for is checked first (``request.check``),
before any data is read, and then resolved once (``runs.resolve``: a ``Plan`` with each
(method, seed)'s identity). A run's identity is its configuration (the scenario's resolved
settings), method, seed and the code that trains it (``provenance.code_version`` of its method):
a (method, seed) that already finished with the same identity is read back, not retrained; one that was
interrupted resumes from its last epoch's checkpoint; each configuration keeps its own records
and checkpoints, so a run with other settings never overwrites another's.

Where each (method, seed) executes (this process, worker processes, cluster jobs) and the locks
that keep two runners from training one run twice are ``workers.py``'s; what one run is (its
identity, record and training) is ``runs.py``'s. Imports go one way: runner -> workers -> runs.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from typing import Iterable, Sequence

from . import methods as M
from . import provenance as P
from . import results as R
from . import workers as W
from .request import check, check_device
from .resources import ResourceExhausted, exhausted
from .runs import Plan, resolve

log = logging.getLogger("dvnlib")


def resolve_device(device: str | None) -> str:
    """``auto`` -> ``cuda`` where available, else ``cpu``; an unknown or unusable device raises."""
    return check_device(device)


def run(scenario: str, profile: str = "smoke", methods: Sequence[str] | str | None = None,
        seeds: Iterable[int] | int | str | None = None, data_root=None, out_dir="results",
        device: str | None = None, progress: bool = True, overrides: dict | None = None,
        family: str | None = None, *, workers: int | str | None = None, executor: str = "local",
        threads: int | str | None = None, cluster: dict | None = None, download: bool | str = False):
    """Train and evaluate ``methods`` x ``seeds`` on ``scenario`` at ``profile``; returns the
    scenario's metrics (a pandas DataFrame) and writes them under ``out_dir``.

    ``methods`` and ``seeds`` take a list, one value or a comma-separated string. ``overrides``
    replaces profile settings (e.g. ``{"epochs": 1}``): the one override path. ``family``, if
    given, insists that the scenario belongs to it (each notebook runs one family).
    ``download=True`` fetches the datasets missing under the data root (official archives; needs
    the network) once, in this process, before any run starts. Every argument is checked before
    any data is read (``request.check``).

    Where the (method, seed) runs execute (``workers.py``): ``workers=N`` trains them in N
    processes of this machine; ``executor="submitit"`` submits one job per run (Slurm where it is
    found, with ``cluster`` settings, else submitit's local executor); ``threads`` sets torch's
    threads per run. Runs hold a lock while they train, so runners pointed at one ``out_dir``
    never train a run twice. The numbers do not depend on any of this (at equal ``threads``)."""
    import pandas as pd

    sched = W.check_schedule(workers, executor, threads, cluster, device)
    req = check(scenario, profile, methods, seeds, overrides, sched.device_check, out_dir, family, download=download)
    if sched.job_device is not None:  # resolved by each cluster job on its node
        req = dataclasses.replace(req, device=sched.job_device)
    plan = resolve(req)
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()
    try:
        W.execute(plan, plan.runs, data_root, progress, sched)
        return _collect(plan, started, time.perf_counter() - t_start, pd)
    except Exception as e:  # memory or disk ran out, in this process or a worker: one line
        line = exhausted(e, plan.out)
        if line is None:
            raise
        raise ResourceExhausted(line) from e


def _collect(plan: Plan, started, wall: float, pd):
    """Rewrite metrics.csv and run.json from every finished (method, seed) of this configuration
    trained by its method's code as it is now; records of other code, or of a method not
    registered here, are left out (and named)."""
    out, base_key = plan.out, plan.config_key
    codes = {r.method: r.code for r in plan.runs}
    rows, runs, stale = [], {}, []
    for record in sorted((out / "runs").glob(f"*/{base_key}/seed*.json")):
        try:
            meta = R.read_record(record)
            m = meta.get("method")
            if m not in codes:  # a method of this configuration not asked for this time
                codes[m] = P.code_version(M.get(m)) if m in M.METHODS else None
            if (codes[m] is None or meta.get("code") != codes[m] or meta.get("base_key") != base_key
                    or not isinstance(meta.get("rows"), dict)):
                stale.append(str(record.relative_to(out)))
                continue
            found = R.check_rows(record.with_suffix(".csv"), meta)
        except R.CorruptFile as e:
            R.quarantine(e.path, e.reason)
            continue
        except FileNotFoundError:
            log.warning("%s has no CSV beside it and is left out", record)
            continue
        rows += found
        runs.setdefault(meta["method"], []).append(
            {**{k: meta[k] for k in ("seed", "train_seconds", "wall_seconds", "device", "finished")},
             "commit": meta.get("git", {}).get("commit"), "torch": meta.get("versions", {}).get("torch"),
             "machine": P.machine(meta.get("hardware") or {})})
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
        "scenario": plan.scenario.id, "profile": plan.profile, "configuration": plan.configuration,
        "configuration_key": base_key, "overrides": plan.overrides,
        "code": {m: c for m, c in codes.items() if c}, "stale_runs": stale,
        "runs": runs, "versions": P.versions(), "hardware": P.hardware(plan.device), "device": plan.device,
        "git": P.git_state(), "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(), "wall_seconds_this_call": round(wall, 2)})
    return df
