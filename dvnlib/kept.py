"""The models that runs kept, found by the names a run was asked with (scenario, profile,
method, seed, overrides), as ``dvnlib.run`` resolves them: ``load`` checks the model against its
run's record (``trained.read``), ``recorded_accuracy`` reads that run's test accuracy of an output,
and ``export_output`` is the whole of ``python -m dvnlib export``.

    net = dvnlib.load("FJ2", "study", seed=0)          # this module's ``load``
"""
from __future__ import annotations

from pathlib import Path

from . import budget, deploy, request, runs
from . import results as R
from . import scenarios as S
from . import trained


def produce_command(scenario: str, profile: str, seed: int, method: str = "dvn", root="results",
                    overrides: dict | None = None) -> str:
    """The command whose run trains (or trains again) a kept model."""
    out = "" if str(root) == "results" else f" --out {root}"
    sets = "".join(f" --set {k}={v}" for k, v in (overrides or {}).items())
    return f"python -m dvnlib run {scenario} --profile {profile} --methods {method} --seeds {seed}{sets}{out}"


def load(scenario: str, profile: str, seed: int, method: str = "dvn", root="results", overrides=None):
    """The trained network that the run of these names kept (``root`` as ``dvnlib.run``'s
    ``out_dir``; ``overrides`` as its, for a run with other settings), checked against its run's
    record; in eval mode, with its metadata as ``net.info``. A missing, replaced or damaged model
    raises ``trained.ModelMissing`` or ``trained.ModelMismatch``: one line naming the file and the
    command that trains it again."""
    plan = _resolve(scenario, profile, method, seed, root, overrides)
    fix = produce_command(plan.scenario.id, profile, seed, method, root, plan.overrides)
    net = trained.read(plan.out, plan.config_key, method, seed, plan.record(plan.run(method, seed)), fix)
    # what a byte budget picks for this very model: the files the zoo measured of it
    net.byte_budget = lambda task, max_bytes, zoo=None: budget.choose(budget.recorded(net, zoo), task, max_bytes)
    return net


def kept_seeds(scenario: str, profile: str, method: str = "dvn", root="results", overrides=None) -> list[int]:
    """The seeds of which a run of these names kept a model (unchecked until ``load``)."""
    plan = _resolve(scenario, profile, method, 0, root, overrides)
    d = trained.paths(plan.out, plan.config_key, method, 0)[0].parent
    return sorted(int(p.stem[4:]) for p in d.glob("seed*.pt") if p.stem[4:].isdigit())


def _resolve(scenario, profile, method, seed, root, overrides):
    """The plan of (method, seed), as ``dvnlib.run`` resolves it (``runs.resolve``)."""
    return runs.resolve(request.check(scenario, profile, methods=[method], seeds=[seed], overrides=overrides,
                                      device="cpu", out_dir=root, probe_out=False))


def recorded_accuracy(net, task: int, level: int) -> float:
    """The test accuracy that the run which kept ``net`` (``load``) recorded for output
    (task, level): its record's rows, which ``metrics.csv`` collects."""
    record = Path(net.info["record"])
    rows = record.with_suffix(".csv")
    for r in R.check_rows(rows, R.read_record(record)):  # a damaged file is a one-line CorruptFile naming it
        if (int(r["task"]), int(r["level"])) == (task, level):
            return float(r["accuracy"])
    raise ValueError(f"{rows} has no row for task {task} level {level}: rerun its run to rewrite it")


def export_output(scenario: str, profile: str, seed: int, task: int, out, level: int | None = None,
                  max_params: int | None = None, method: str = "dvn", root="results",
                  overrides: dict | None = None, precision: str | None = None,
                  max_bytes: int | None = None, data_root=None) -> dict:
    """``python -m dvnlib export``: load the kept model, pick the level (given, the largest within
    ``max_params``, or the (level, precision) of the best accuracy the zoo measured within
    ``max_bytes``), export it; what was written, with the run's test accuracy."""
    from . import accounting
    s = S.get(scenario)
    s.profile(profile)  # an unknown profile names the valid ones
    if sum(x is not None for x in (level, max_params, max_bytes)) != 1:
        raise ValueError("give exactly one of level (--level), a parameter budget (--max-params) and a byte "
                         "budget (--max-bytes)")
    if precision is not None and precision not in deploy.PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(deploy.PRECISIONS)}")
    if max_bytes is not None and precision is not None:
        raise ValueError("a byte budget (--max-bytes) chooses the precision too: leave out --precision")
    n = len(s.tasks)
    if not (isinstance(task, int) and 1 <= task <= n):
        raise ValueError(f"unknown task {task!r}: {s.id} has tasks 1..{n} "
                         f"({', '.join(f'{i + 1}: {t.name}' for i, t in enumerate(s.tasks))})")
    net = load(scenario, profile, seed, method, root, overrides)
    if max_bytes is not None:
        level, precision = net.level_for(task, max_bytes=max_bytes)
    elif level is None:
        level = net.level_for(task, max_params)
    precision = precision or "float32"
    lay = trained.layout_from_json(net.info["layout"])
    from .units import check_output
    check_output(lay.config, task, level)
    params = accounting.output_cost(lay, task, level)[0]
    acc = recorded_accuracy(net, task, level)
    path = deploy.export(net, task, level, out, precision=precision, data_root=data_root)
    return {"scenario": s.id, "profile": profile, "seed": seed, "task": task,
            "task_name": net.info["tasks"][task - 1]["name"], "level": level, "precision": precision,
            "units": list(net.units(task, level)), "params": params, "accuracy": acc,
            "file": str(path), "bytes": path.stat().st_size}
