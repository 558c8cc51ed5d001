"""One (method, seed) run of a scenario: its identity, its record, whether it is finished, and
training it. ``runner.run`` (what to run, gathering ``metrics.csv``) and ``workers.py`` (where each
run executes) both build on this module; it imports neither.

A run's identity is its configuration (the scenario's resolved settings), method, seed and the
code that trains it (``provenance.code_version`` of its method). Its record and rows are
``runs/<method>/<config>/seed<N>.json`` and ``.csv`` under the scenario's results folder, and the
networks it keeps for deployment are under ``models/`` (``trained.py``). The record is written
last and holds the SHA-256 of every model file kept, so a record means a finished run, and a run
whose kept model is missing or was changed is not finished: it trains again.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from . import methods as M
from . import provenance as P
from . import results as R
from . import scenarios as S
from . import trained

log = logging.getLogger("dvnlib")


def configuration(scenario: S.Scenario, profile: str) -> dict:
    """Everything in the settings that determines a run's numbers, as plain JSON-able data."""
    sc = dataclasses.asdict(scenario)
    sc.pop("profiles")
    return {"scenario": sc, "profile": profile, "settings": dataclasses.asdict(scenario.profile(profile)),
            "backbone": dataclasses.asdict(scenario.backbone(profile)), "dvnlib_schema": 1}


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
    problem = trained.verify(record.parents[3], meta.get("models"))  # <out>/runs/<method>/<config>/
    if problem:
        log.warning("%s: %s; its run is trained again", record, problem)
        return False
    return True


def identity(req) -> tuple[dict, str]:
    """(configuration, its id)."""
    base = configuration(req.scenario, req.profile)
    return base, R.config_key(base)


def code(method: str) -> str:
    """The hash of the code a run of ``method`` executes (``provenance.code_version``)."""
    return P.code_version(M.get(method))


def run_key(req, method: str, seed: int) -> tuple[Path, str]:
    """The record path and identity key of one (method, seed) of ``req``."""
    base, base_key = identity(req)
    return record_path(req.out, base_key, method, seed), R.config_key({**base, "code": code(method),
                                                                       "method": method, "seed": seed})


def is_finished(req, method: str, seed: int) -> bool:
    return finished(*run_key(req, method, seed))


def train_one(req, method: str, seed: int, data_root=None, progress: bool = True,
              data: dict | None = None) -> None:
    """Train, evaluate and write one (method, seed) of ``req``. The caller holds its lock
    (``workers.py``). ``data`` caches the loaded tasks across calls of one process."""
    from .data import data_root as resolve_root, load_task
    from .train import RunContext, check_learned

    s, profile, device, out = req.scenario, req.profile, req.device, req.out
    p = s.profile(profile)
    base, base_key = identity(req)
    record, key = run_key(req, method, seed)
    # stages shared by the methods of a seed (``methods.common.independent_network``) are keyed
    # by the code that trains them, the same whichever method asks first
    shared_code = P.code_version(M.common.independent_network)
    data = {} if data is None else data
    root = resolve_root(data_root)
    limits = tuple(p.train_limit(i) for i in range(1, len(s.tasks) + 1))
    cache = (str(root), s.tasks, limits, p.test_per_task)
    if cache not in data:  # load only when something needs training, once per process
        data[cache] = ([load_task(t, "train", root, n) for t, n in zip(s.tasks, limits)],
                       [load_task(t, "test", root, p.test_per_task) for t in s.tasks])
    train_data, test_data = data[cache]
    ckpts = out / "checkpoints" / base_key
    ctx = RunContext(s, profile, seed, device, train_data, test_data,
                     ckpts / method / f"seed{seed}", key, progress,
                     label=f"{s.id} {method} seed {seed}",
                     shared_dir=ckpts / "shared" / f"seed{seed}",
                     shared_key=R.config_key({**base, "code": shared_code, "seed": seed}))
    t0 = time.perf_counter()
    rows = M.get(method)(ctx)
    check_learned(ctx, rows)  # a run that blew up is not a result
    R.write_rows(record.with_suffix(".csv"), R.row_dicts(rows, s.id, profile))
    predictions = R.predictions_path(record)
    predictions_sha256 = R.write_predictions(predictions, ctx.predictions)
    models = trained.save(ctx, out, base_key, key)  # each file's SHA-256, checked by ``finished``
    R.write_json(record, {"key": key, "base_key": base_key, "code": code(method), "models": models,
                          "overrides": req.overrides, "method": method, "seed": seed,
                          "train_seconds": round(ctx.train_seconds, 2),
                          # the passes (epochs) and batches over each task's training
                          # split made by every stage that learns it: equal across methods
                          "epochs_per_task": ctx.epochs_per_task(),
                          "predictions": {"file": predictions.name, "sha256": predictions_sha256},
                          "steps_per_task": ctx.steps_per_task(),
                          "wall_seconds": round(time.perf_counter() - t0, 2),
                          "device": device, "finished": datetime.now(timezone.utc).isoformat(),
                          # where and with what this (method, seed) was trained, kept with
                          # it: run.json is rewritten whenever the scenario is collected
                          "git": P.git_state(), "versions": P.versions(),
                          "hardware": P.hardware(device)})
