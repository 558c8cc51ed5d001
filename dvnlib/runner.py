"""Run a scenario: every requested method and seed, trained, evaluated and written as CSV.

This is the one function the notebooks and the command line call::

    dvnlib.run("FJ1", profile="smoke", methods=["dvn"], seeds=[0])

Data flows one way: scenario -> data -> method -> rows -> ``<out_dir>/<scenario>/<profile>/``
(see ``results.py`` for the files). A (method, seed) that already finished with the same
configuration is read back, not retrained; one that was interrupted resumes from its last
epoch's checkpoint.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from . import methods as M
from . import results as R
from . import scenarios as S

log = logging.getLogger("dvnlib")


def resolve_device(device: str | None) -> str:
    import torch
    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but CUDA is not available: use 'cpu' or 'auto'")
    return str(device)


def configuration(scenario: S.Scenario, profile: str) -> dict:
    """Everything that determines a run's numbers, as plain JSON-able data."""
    sc = dataclasses.asdict(scenario)
    sc.pop("profiles")
    return {"scenario": sc, "profile": profile, "settings": dataclasses.asdict(scenario.profile(profile)),
            "dvnlib_schema": 1}


def _check(scenario, profile, methods, seeds, family=None):
    s = S.get(scenario)
    if family is not None and s.family != family:
        same = [x.id for x in S.SCENARIOS.values() if x.family == family]
        raise ValueError(f"scenario {s.id} is {s.family}, not {family}: run it with notebooks/{s.family}.ipynb "
                         f"({family} scenarios are {', '.join(same)})")
    s.profile(profile)  # raises with the valid profiles
    methods = list(M.defaults(s.family) if methods is None else methods)
    if not methods:
        raise ValueError(f"no methods given for {s.id}: valid methods are {', '.join(M.METHODS)}")
    for m in methods:
        M.get(m)
    seeds = list(s.profile(profile).seeds if seeds is None else seeds)
    if not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        raise ValueError(f"seeds must be a non-empty list of integers: got {seeds!r}")
    return s, methods, seeds


def run(scenario: str, profile: str = "smoke", methods: Sequence[str] | None = None,
        seeds: Iterable[int] | None = None, data_root=None, out_dir="results", device: str | None = None,
        progress: bool = True, overrides: dict | None = None, family: str | None = None):
    """Train and evaluate ``methods`` x ``seeds`` on ``scenario`` at ``profile``; returns the
    scenario's metrics (a pandas DataFrame) and writes them under ``out_dir``.

    ``overrides`` replaces profile settings (e.g. ``{"epochs": 1}``): the one override path.
    ``family``, if given, insists that the scenario belongs to it (each notebook runs one family)."""
    import pandas as pd

    from .data import data_root as resolve_root, load_task
    from .train import RunContext

    s, methods, seeds = _check(scenario, profile, methods, seeds, family)
    if overrides:
        s = S.with_profile(s, profile, **overrides)
    device = resolve_device(device)
    p = s.profile(profile)
    base = configuration(s, profile)
    base_key = R.config_key(base)
    out = Path(out_dir) / s.id / profile
    started = datetime.now(timezone.utc)
    t_start = time.perf_counter()

    train_data = test_data = None
    for method in methods:
        for seed in seeds:
            record = out / "runs" / method / f"seed{seed}.json"
            key = R.config_key({**base, "method": method, "seed": seed})
            if record.exists() and json.loads(record.read_text()).get("key") == key:
                log.info("%s %s seed %d: already finished, reading its results", s.id, method, seed)
                continue
            if train_data is None:  # load only when something needs training
                root = resolve_root(data_root)
                train_data = [load_task(t, "train", root, p.train_per_task) for t in s.tasks]
                test_data = [load_task(t, "test", root, p.test_per_task) for t in s.tasks]
            ctx = RunContext(s, profile, seed, device, train_data, test_data,
                             out / "checkpoints" / method / f"seed{seed}", key, progress,
                             label=f"{s.id} {method} seed {seed}",
                             shared_dir=out / "checkpoints" / "shared" / f"seed{seed}",
                             shared_key=R.config_key({**base, "seed": seed}))
            t0 = time.perf_counter()
            rows = M.get(method)(ctx)
            R.write_rows(record.with_suffix(".csv"), R.row_dicts(rows, s.id, profile))
            R.write_json(record, {"key": key, "base_key": base_key, "method": method, "seed": seed,
                                  "train_seconds": round(ctx.train_seconds, 2),
                                  "wall_seconds": round(time.perf_counter() - t0, 2),
                                  "device": device, "finished": datetime.now(timezone.utc).isoformat(),
                                  # where and with what this (method, seed) was trained, kept with
                                  # it: run.json is rewritten whenever the scenario is collected
                                  "git": R.git_state(), "versions": R.versions(),
                                  "hardware": R.hardware(device)})
    return _collect(out, s, profile, base, base_key, device, started, time.perf_counter() - t_start, pd)


def _collect(out: Path, s: S.Scenario, profile: str, base: dict, base_key: str, device: str,
             started, wall: float, pd):
    """Rewrite metrics.csv and run.json from every finished (method, seed) of this configuration."""
    rows, runs, stale = [], {}, []
    for record in sorted((out / "runs").glob("*/seed*.json")):
        meta = json.loads(record.read_text())
        if meta.get("base_key") != base_key:
            stale.append(str(record.relative_to(out)))
            continue
        rows += R.read_rows(record.with_suffix(".csv"))
        runs.setdefault(meta["method"], []).append(
            {**{k: meta[k] for k in ("seed", "train_seconds", "wall_seconds", "device", "finished")},
             "commit": meta.get("git", {}).get("commit"), "torch": meta.get("versions", {}).get("torch")})
    if stale:
        log.warning("%d finished runs under %s have another configuration and are left out: %s",
                    len(stale), out, ", ".join(stale))
    df = pd.DataFrame(rows, columns=R.COLUMNS)
    for col, typ in (("seed", int), ("task", int), ("level", int), ("params", int), ("params_total", int),
                     ("density", float), ("accuracy", float), ("n_test", int)):
        df[col] = df[col].astype(typ)
    df = df.sort_values(["method", "seed", "task", "level"], kind="stable").reset_index(drop=True)
    R.atomic_write_text(out / "metrics.csv", df.to_csv(index=False, lineterminator="\n"))
    R.write_json(out / "run.json", {
        "scenario": s.id, "profile": profile, "configuration": base, "configuration_key": base_key,
        "runs": runs, "versions": R.versions(), "hardware": R.hardware(device), "device": device,
        "git": R.git_state(), "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(), "wall_seconds_this_call": round(wall, 2)})
    return df
