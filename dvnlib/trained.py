"""Kept models: the trained network a run leaves behind, written beside its record and read back.

Training calls ``save`` after each finished run; ``load`` gives the network back for deployment
(``deploy.py``) or inspection. Files: ``<root>/<scenario>/<profile>/models/<method>/seed<seed>.pt``
(the state dict, tensors only, read back with ``weights_only=True``) and ``.json`` (the layout
that builds the network, the scenario, profile, overrides, the run's key, and each task's classes,
native image size and normalisation statistics, so that exporting needs no dataset).

This module stands below deployment and the book: it imports neither.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

from . import provenance as P
from . import results as R
from . import scenarios as S

FORMAT = 1  # of the model's JSON


class ModelMissing(FileNotFoundError):
    """No kept model where one was looked for; the message names the path and the command."""


def model_dir(root, scenario: str, profile: str, method: str = "dvn") -> Path:
    return Path(root) / scenario / profile / "models" / method


def _class_names(t: S.TaskDef) -> list[str]:
    names = S.FASHION_CLASSES if t.dataset == "fashion_mnist" else None
    label = (lambda c: names[c]) if names else str
    if t.classes is not None:
        return [label(c) for c in t.classes]
    if t.groups is not None:
        return ["+".join(label(c) for c in g) for g in t.groups]
    return [label(c) for c in range(t.num_classes)]


def _overrides(scenario: S.Scenario, profile: str) -> dict:
    """The profile settings a run replaced (``runner.run(overrides=...)``)."""
    base = dataclasses.asdict(S.get(scenario.id).profile(profile))
    now = dataclasses.asdict(scenario.profile(profile))
    return {k: v for k, v in now.items() if base.get(k) != v}


def save(ctx, out_dir, key: str) -> list[Path]:
    """Write every network a method left in ``ctx.trained`` (name -> (module, Layout)) under
    ``<out_dir>/models/<name>/seed<seed>.{pt,json}``; ``key`` is the run record's key."""
    from .data import NATIVE
    paths = []
    for name, (net, lay) in getattr(ctx, "trained", {}).items():
        d = Path(out_dir) / "models" / name
        tasks = []
        for t, data in zip(ctx.scenario.tasks, ctx.train_data):
            tasks.append({**dataclasses.asdict(t), "class_names": _class_names(t),
                          "native": list(NATIVE[t.dataset]),
                          "mean": list(data.mean), "std": list(data.std)})
        meta = {"format": FORMAT, "scenario": ctx.scenario.id, "profile": ctx.profile_name, "method": name,
                "seed": ctx.seed, "key": key, "overrides": _overrides(ctx.scenario, ctx.profile_name),
                "layout": dataclasses.asdict(lay), "tasks": tasks, "versions": P.versions()}
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        pt, js = d / f"seed{ctx.seed}.pt", d / f"seed{ctx.seed}.json"
        R.save_checkpoint(pt, state)
        R.write_json(js, meta)
        paths += [pt, js]
    return paths


def layout_from_json(d: dict):
    """The ``Layout`` that ``dataclasses.asdict`` wrote, rebuilt (tuples where they were)."""
    from .backbones import BackboneSpec
    from .layout import Layout, TaskIO
    spec = d["spec"]
    spec = BackboneSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    return Layout(d["scenario"], spec, tuple(TaskIO(**t) for t in d["tasks"]),
                  tuple(tuple(o) for o in d["config"]), tuple(d["unit_sizes"]), d["bn"])


def produce_command(scenario: str, profile: str, seed: int, method: str, root) -> str:
    """The command whose run writes (or rewrites) this kept model."""
    out = "" if str(root) == "results" else f" --out {root}"
    return f"python -m dvnlib run {scenario} --profile {profile} --methods {method} --seeds {seed}{out}"


def load(scenario: str, profile: str, seed: int, method: str = "dvn", root="results"):
    """The trained network a run kept, in eval mode, with its JSON as ``net.info``."""
    import torch

    from .network import DVNNet
    d = model_dir(root, scenario, profile, method)
    pt, js = d / f"seed{seed}.pt", d / f"seed{seed}.json"
    if not (pt.is_file() and js.is_file()):
        raise ModelMissing(f"no trained {method} model of {scenario} ({profile}, seed {seed}) at {pt}: "
                           f"`{produce_command(scenario, profile, seed, method, root)}` writes it")
    meta = json.loads(js.read_text())
    net = DVNNet.from_layout(layout_from_json(meta["layout"]))
    net.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
    net.eval()
    net.info = meta
    return net


def run_record(root, scenario: str, profile: str, seed: int, key: str, method: str = "dvn") -> Path:
    """The finished run's record (``runs/<method>/[<configuration>/]seed<seed>.json``) whose key is
    ``key``: the run that trained a kept model."""
    base = Path(root) / scenario / profile / "runs" / method
    for record in sorted(base.rglob(f"seed{seed}.json")) if base.is_dir() else []:
        if json.loads(record.read_text()).get("key") == key:
            return record
    raise ValueError(f"no finished run under {base} has the key {key} of the kept {method} model of {scenario} "
                     f"({profile}, seed {seed}): the model and the results are of different runs; retrain with "
                     f"`{produce_command(scenario, profile, seed, method, root)}`")


def committed_accuracy(root, scenario: str, profile: str, seed: int, task: int, level: int, key: str,
                       method: str = "dvn") -> float:
    """The test accuracy the run with key ``key`` recorded for output (task, level): its record's
    rows, which ``metrics.csv`` collects."""
    rows = run_record(root, scenario, profile, seed, key, method).with_suffix(".csv")
    with open(rows, newline="") as fh:
        for r in csv.DictReader(fh):
            if (int(r["task"]), int(r["level"])) == (task, level):
                return float(r["accuracy"])
    raise ValueError(f"{rows} has no row for task {task} level {level}")
