"""One (method, seed) run of a scenario: its identity, its record, whether it is finished, and
training it. ``runner.run`` (what to run, gathering ``metrics.csv``) and ``workers.py`` (where each
run executes) both build on this module; it imports neither.

``resolve`` turns a checked request into a ``Plan``, once: the resolved settings, backbone and
configuration, and each (method, seed) as a ``Run`` with its identity. A run's identity is its
configuration (the scenario's resolved settings), method, seed and the code that trains it
(``provenance.code_version`` of its method). Its record and rows are
``runs/<method>/<config>/seed<N>.json`` and ``.csv`` under the scenario's results folder, and the
networks it keeps for deployment are under ``models/`` (``trained.py``). The record is written
last and holds the SHA-256 of every model file kept, so a record means a finished run, and a run
whose kept model is missing or was changed is not finished: it trains again.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from . import methods as M
from . import provenance as P
from . import results as R
from . import scenarios as S
from . import trained
from .backbones import BackboneSpec

log = logging.getLogger("dvnlib")


@dataclass(frozen=True)
class Run:
    """One (method, seed) of a plan, its identity computed once: the method's function (carried
    to worker processes and cluster jobs as it is), the hash of the code it executes, and the key
    of its identity (configuration, method, seed, code)."""
    method: str
    seed: int
    fn: Callable
    code: str
    key: str


@dataclass(frozen=True)
class Plan:
    """A checked request (``request.check``) resolved once: the scenario with its overrides, its
    resolved profile settings and backbone, the configuration they make and its key, and each
    requested (method, seed) with its identity. The runner, the workers and the runs receive this,
    and a method's ``RunContext`` is built from it, so nothing is resolved or hashed again."""
    scenario: S.Scenario
    profile: str
    settings: S.Profile
    backbone: BackboneSpec
    configuration: dict
    config_key: str
    shared_code: str  # the code of the stages the methods of a seed share
    runs: tuple[Run, ...]
    overrides: dict
    device: str
    out: Path  # <out_dir>/<scenario>/<profile>
    download: bool = False  # fetch missing datasets before the runs start (``workers.execute``)

    def record(self, run: Run) -> Path:
        """Where ``run`` keeps its record (``.json``) and rows (``.csv``)."""
        return self.out / "runs" / run.method / self.config_key / f"seed{run.seed}.json"

    def run(self, method: str, seed: int) -> Run:
        for r in self.runs:
            if (r.method, r.seed) == (method, seed):
                return r
        raise KeyError(f"{method} seed {seed} is not part of this plan")

    def what(self, run: Run) -> str:
        return f"{self.scenario.id} {run.method} seed {run.seed}"


def configuration(scenario: S.Scenario, profile: str, settings: S.Profile, backbone: BackboneSpec) -> dict:
    """Everything in the settings that determines a run's numbers, as plain JSON-able data."""
    sc = dataclasses.asdict(scenario)
    sc.pop("profiles")
    return {"scenario": sc, "profile": profile, "settings": dataclasses.asdict(settings),
            "backbone": dataclasses.asdict(backbone), "dvnlib_schema": 1}


def resolve(req) -> Plan:
    """The plan of a checked request: settings, backbone and configuration resolved, and each
    (method, seed)'s identity computed (each method's code hashed once)."""
    s, profile = req.scenario, req.profile
    settings, backbone = s.profile(profile), s.backbone(profile)
    base = configuration(s, profile, settings, backbone)
    fns = {m: M.get(m) for m in req.methods}
    codes = {m: P.code_version(fn) for m, fn in fns.items()}
    runs = tuple(Run(m, seed, fns[m], codes[m], R.config_key({**base, "code": codes[m], "method": m, "seed": seed}))
                 for m in req.methods for seed in req.seeds)
    # stages shared by the methods of a seed (``methods.common.independent_network``) are keyed
    # by the code that trains them, the same whichever method asks first
    from .methods.common import independent_network  # imports torch: not needed to check a request
    shared = P.code_version(independent_network)
    return Plan(s, profile, settings, backbone, base, R.config_key(base), shared, runs, req.overrides,
                req.device, req.out, req.download)


def finished(record: Path, key: str) -> bool:
    """Whether ``record`` is a finished run of identity ``key`` with its rows beside it, checked
    by their content against the record (``results.check_rows``). A record or CSV that cannot be
    read, or whose content is wrong, is moved aside (``results.quarantine``): the run trains again."""
    if not record.exists():
        return False
    try:
        meta = R.read_record(record)
    except R.CorruptFile as e:
        R.quarantine(record, e.reason)
        return False
    if meta.get("key") != key:
        return False  # another configuration or other code: trained again, and replaced
    if not isinstance(meta.get("rows"), dict):  # written before records kept their rows' summary
        log.warning("%s does not say which rows its run produced: its run is trained again", record)
        return False
    rows = record.with_suffix(".csv")
    if not rows.exists():
        log.warning("%s has no %s: its run is trained again", record, rows.name)
        return False
    try:
        R.check_rows(rows, meta)
    except R.CorruptFile as e:
        R.quarantine(rows, e.reason)
        return False
    problem = (R.check_predictions(record, meta.get("predictions"))
               or trained.verify(record.parents[3], meta.get("models")))  # <out>/runs/<method>/<config>/
    if problem:
        log.warning("%s: %s; its run is trained again", record, problem)
        return False
    return True


def is_finished(plan: Plan, run: Run) -> bool:
    return finished(plan.record(run), run.key)


def train_one(plan: Plan, run: Run, data_root=None, progress: bool = True, data: dict | None = None,
              shared_lock=None) -> None:
    """Train, evaluate and write ``run`` of ``plan``. The caller holds its lock (``workers.py``),
    and passes the lock its shared stages are trained under (``train.RunContext``'s
    ``shared_lock``). ``data`` caches the loaded tasks across calls of one process."""
    from .data import data_root as resolve_root, load_task
    from .train import RunContext, check_learned

    s, p, device, out = plan.scenario, plan.settings, plan.device, plan.out
    method, seed, key = run.method, run.seed, run.key
    record = plan.record(run)
    data = {} if data is None else data
    root = resolve_root(data_root)
    limits = tuple(p.train_limit(i) for i in range(1, len(s.tasks) + 1))
    cache = (str(root), s.tasks, limits, p.test_per_task)
    if cache not in data:  # load only when something needs training, once per process
        data[cache] = ([load_task(t, "train", root, n) for t, n in zip(s.tasks, limits)],
                       [load_task(t, "test", root, p.test_per_task) for t in s.tasks])
    train_data, test_data = data[cache]
    ckpts = out / "checkpoints" / plan.config_key
    ctx = RunContext(s, plan.profile, seed, device, train_data, test_data,
                     ckpts / method / f"seed{seed}", key, progress,
                     label=plan.what(run),
                     shared_dir=ckpts / "shared" / f"seed{seed}",
                     shared_key=R.config_key({**plan.configuration, "code": plan.shared_code, "seed": seed}),
                     settings=p, backbone=plan.backbone, shared_lock=shared_lock)
    t0 = time.perf_counter()
    rows = run.fn(ctx)
    check_learned(ctx, rows)  # a run that blew up is not a result
    written = R.row_dicts(rows, s.id, plan.profile)
    for row in written:
        problem = R.check_values(row)
        if problem:  # a result out of range is a bug of the method, not a result
            raise ValueError(f"{ctx.label} produced an impossible result, task {row['task']} level "
                             f"{row['level']}: {problem}; nothing of this run was written")
    R.write_rows(record.with_suffix(".csv"), written)
    predictions = R.predictions_path(record)
    predictions_sha256 = R.write_predictions(predictions, ctx.predictions)
    # each kept file's SHA-256, checked by ``finished``
    models = trained.save(ctx, out, plan.config_key, key, plan.overrides)
    R.write_json(record, {"key": key, "base_key": plan.config_key, "code": run.code, "models": models,
                          "scenario": s.id, "profile": plan.profile, "overrides": plan.overrides,
                          "method": method, "seed": seed,
                          # what the CSV beside it must hold: ``finished`` checks it
                          "rows": R.rows_summary(written),
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
