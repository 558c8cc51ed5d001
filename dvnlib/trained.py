"""Kept models: the trained network a run leaves behind, written beside its record and read back.

Training calls ``save`` once a run is evaluated; the run's record (``runs.py``) then holds the
SHA-256 of every file kept, which ``verify`` checks before a run counts as finished and ``read``
checks before a network is given back (``kept.load``). Files, per configuration so that a run
with other settings never replaces the defaults' model:
``<out>/models/<method>/<config>/seed<seed>.pt`` (the state dict, tensors only, read back with
``weights_only=True``, with the identity it claims) and ``.json`` (the same identity, the layout
that builds the network, the overrides, and each task's classes, native image size and
normalisation statistics, so that exporting needs no dataset). ``<out>`` is the scenario's results
folder (``<root>/<scenario>/<profile>``) and ``<config>`` the id of its resolved settings, as for
the run records.

A kept model is trusted only when all three agree: the record's hash, the file's own identity
(scenario, profile, method, seed, configuration and run key) and the one asked for. Anything else
(a missing, truncated, replaced or stale file) is ``ModelMissing`` or ``ModelMismatch``: one line
naming the file and the command that trains it again.

This module stands below deployment and the book: it imports neither.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

from . import provenance as P
from . import results as R
from . import scenarios as S

FORMAT = 2  # of the model's files
IDENTITY = ("scenario", "profile", "method", "seed", "config", "key")


class ModelMissing(FileNotFoundError):
    """No kept model where one was looked for; the message names the path and the command."""


class ModelMismatch(ValueError):
    """A kept model that is not what its run kept, or not what was asked for; the message names
    the file and the command that trains it again."""


def paths(out, config: str, method: str, seed: int) -> tuple[Path, Path]:
    """The (weights, metadata) files of one kept model."""
    d = Path(out) / "models" / method / config
    return d / f"seed{seed}.pt", d / f"seed{seed}.json"


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _class_names(t: S.TaskDef) -> list[str]:
    names = S.FASHION_CLASSES if t.dataset == "fashion_mnist" else None
    label = (lambda c: names[c]) if names else str
    if t.classes is not None:
        return [label(c) for c in t.classes]
    if t.groups is not None:
        return ["+".join(label(c) for c in g) for g in t.groups]
    return [label(c) for c in range(t.num_classes)]


def save(ctx, out, config: str, key: str, overrides: dict) -> dict[str, str]:
    """Write every network a method left in ``ctx.trained`` (name -> (module, Layout)) for the
    run of identity ``key`` in configuration ``config``, trained with the profile settings
    ``overrides`` replaced (``runner.run(overrides=...)``); returns each file's path relative to
    ``out`` with its SHA-256, for the run's record. Each file is written atomically."""
    import torch

    from .data import NATIVE
    kept = {}
    for name, (net, lay) in getattr(ctx, "trained", {}).items():
        identity = {"scenario": ctx.scenario.id, "profile": ctx.profile_name, "method": name, "seed": ctx.seed,
                    "config": config, "key": key}
        tasks = [{**dataclasses.asdict(t), "class_names": _class_names(t), "native": list(NATIVE[t.dataset]),
                  "mean": list(data.mean), "std": list(data.std)}
                 for t, data in zip(ctx.scenario.tasks, ctx.train_data)]
        meta = {"format": FORMAT, **identity, "overrides": overrides,
                "layout": dataclasses.asdict(lay), "tasks": tasks, "versions": P.versions()}
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        buf = io.BytesIO()
        torch.save({"format": FORMAT, "identity": identity, "state_dict": state}, buf)
        files = zip(paths(out, config, name, ctx.seed),
                    (buf.getvalue(), (json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n").encode()))
        for path, data in files:
            R.atomic_write_bytes(path, data)
            kept[path.relative_to(out).as_posix()] = hashlib.sha256(data).hexdigest()
    return kept


def verify(out, kept) -> str | None:
    """What is wrong with the kept models a run record lists (``kept``: path relative to ``out``
    -> SHA-256), as one phrase naming the file; None when every file is there, as it was kept."""
    if not isinstance(kept, dict):
        return "it lists no kept models with their hashes (it was written by older code)"
    for rel, digest in kept.items():
        path = Path(out) / rel
        if not path.is_file():
            return f"the kept model {path} is missing"
        if sha256(path) != digest:
            return f"the kept model {path} is not the file the run kept (its SHA-256 differs from the record's)"
    return None


def read(out, config: str, method: str, seed: int, record: Path, fix: str):
    """The network kept by the run whose record is ``record``, checked against the record's
    hashes and against the identity asked for (``out``, ``config``, ``method``, ``seed``); in eval
    mode, with its metadata as ``net.info`` (and ``record``: the record's path). ``fix`` is the
    command that trains it again, for the messages."""
    from .network import DVNNet
    pt, js = paths(out, config, method, seed)
    what = f"kept {method} model of {Path(out).parent.name} ({Path(out).name}, seed {seed})"
    if not (pt.is_file() and js.is_file()):
        stale = Path(out) / "models" / method / pt.name
        why = (f" ({stale} is of an older layout, with no record of its content, and is not read)"
               if stale.is_file() else "")
        raise ModelMissing(f"no {what} at {pt}{why}: `{fix}` trains it")
    try:
        meta = R.read_record(record)
    except FileNotFoundError:
        raise ModelMismatch(f"{pt} has no finished run record ({record} is missing): `{fix}` trains it again") \
            from None
    except R.CorruptFile as e:
        raise ModelMismatch(f"{e}: `{fix}` trains the run again") from None
    problem = verify(out, meta.get("models"))
    if problem is None and {pt.relative_to(out).as_posix(), js.relative_to(out).as_posix()} - set(meta["models"]):
        problem = f"it does not list {pt}, the {what}"
    if problem:
        raise ModelMismatch(f"{record}: {problem}; `{fix}` trains it again")
    expected = {"scenario": Path(out).parent.name, "profile": Path(out).name, "method": method, "seed": seed,
                "config": config, "key": meta.get("key")}
    try:
        info = R.read_record(js)
        state = R.load_checkpoint(pt)
    except R.CorruptFile as e:
        raise ModelMismatch(f"{e}: `{fix}` trains it again") from None
    for path, claims in ((js, info), (pt, state.get("identity"))):
        claims = claims if isinstance(claims, dict) else {}
        wrong = [f"{k} {claims.get(k)!r}, not {v!r}" for k, v in expected.items() if claims.get(k) != v]
        if wrong:
            raise ModelMismatch(f"{path} is not the {what}: it claims {'; '.join(wrong)}; `{fix}` trains it again")
    net = DVNNet.from_layout(layout_from_json(info["layout"]))
    try:
        net.load_state_dict(state["state_dict"])
    except (KeyError, RuntimeError) as e:
        raise ModelMismatch(f"{pt} does not hold the weights of the network its {js.name} describes "
                            f"({' '.join(str(e).split())[:120]}): `{fix}` trains it again") from None
    net.eval()
    net.info = {**info, "record": str(record)}
    return net


def layout_from_json(d: dict):
    """The ``Layout`` that ``dataclasses.asdict`` wrote, rebuilt (tuples where they were)."""
    from .backbones import BackboneSpec
    from .layout import Layout, TaskIO
    spec = d["spec"]
    spec = BackboneSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    return Layout(d["scenario"], spec, tuple(TaskIO(**t) for t in d["tasks"]),
                  tuple(tuple(o) for o in d["config"]), tuple(d["unit_sizes"]), d["bn"])
