"""Deploying one (task, level) under a memory budget: keep trained models, pick the level that
fits, export it to ONNX with its own preprocessing, run it with ONNX Runtime.

    net = dvnlib.load("FJ2", "quick", seed=0)          # the trained DVN, from results/
    level = net.level_for(task=1, max_params=50_000)    # the largest level that fits
    dvnlib.export(net, 1, level, "fj2_t1.onnx")         # that output alone, BN folded

Kept models (``save_trained``, called by the runner after each finished run) live beside the
run's records: ``<root>/<scenario>/<profile>/models/<method>/seed<seed>.pt`` (the state dict,
tensors only, read back with ``weights_only=True``) and ``.json`` (the layout that builds the
network, the scenario, profile, overrides, the run's configuration key, and each task's classes,
native image size and normalisation statistics, so that exporting needs no dataset).

The exported model takes the task's raw images, uint8 ``N x C x H x W`` at the dataset's native
size, and does what training saw inside: bilinear resize to the task's input size, then ``x /
255`` normalised by the training split's mean and std. The resize is ``data.load_task``'s
(antialiased bilinear, uint8 in and out) as ONNX's Resize can state it: half-pixel centres (for
the enlargements every registered task makes, the antialiased filter's weights are the plain
bilinear ones), width first and then height, each pass rounded half up to whole grey levels, as
torch's separable uint8 kernel does. Measured on the Fashion-MNIST test split: every pixel equal
at 32 and 64 px; at 96 px (28 -> 96 px, whose weights torch quantises to fixed point) 0.5% of
pixels differ, by at most 2 grey levels (``tests/test_deploy.py``). Output: logits over the
task's classes, in the order of its class list (``classes`` in the model's metadata). Opset
``OPSET``; the batch axis is dynamic.
"""
from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Sequence

from . import results as R
from . import scenarios as S

OPSET = 17
FORMAT = 1  # of the model's JSON
# Each dataset's images as its files hold them: (channels, side in pixels).
NATIVE = {"fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "stl10": (3, 96),
          "tiny_imagenet": (3, 64)}
INPUT, OUTPUT = "images", "logits"
HALF_UP = 0.5 + 1e-3  # rounding offset after each resize pass (see ``deployable``)


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


def save_trained(ctx, out_dir, key: str) -> list[Path]:
    """Write every network a method left in ``ctx.trained`` (name -> (module, Layout)) under
    ``<out_dir>/models/<name>/seed<seed>.{pt,json}``; ``key`` is the run record's key."""
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
                "layout": dataclasses.asdict(lay), "tasks": tasks, "versions": R.versions()}
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


def _produce_command(scenario: str, profile: str, seed: int, method: str, root) -> str:
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
                           f"`{_produce_command(scenario, profile, seed, method, root)}` writes it")
    meta = json.loads(js.read_text())
    net = DVNNet.from_layout(layout_from_json(meta["layout"]))
    net.load_state_dict(torch.load(pt, map_location="cpu", weights_only=True))
    net.eval()
    net.info = meta
    return net


# ---------------------------------------------------------------------------------------------
# Export


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """What the exported model does to a raw image before the network: resize from ``native``
    to ``size`` pixels, round, scale to [0, 1], normalise per channel."""
    native: int
    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


def preprocess_for(net, task: int) -> Preprocess:
    info = getattr(net, "info", None)
    if not info:
        raise ValueError("exporting needs the task's image size and normalisation statistics, which a "
                         "network from dvnlib.load carries (net.info); for another network pass "
                         "preprocess=deploy.Preprocess(native, size, mean, std)")
    t = info["tasks"][task - 1]
    return Preprocess(t["native"][1], t["input_size"], tuple(t["mean"]), tuple(t["std"]))


def _check_task(net, task: int) -> None:
    n = len(net.tasks)
    if not (isinstance(task, int) and 1 <= task <= n):
        raise ValueError(f"unknown task {task!r}: this network has tasks 1..{n}")


def deployable(net, task: int, level: int, preprocess: Preprocess | None = None):
    """The module that is exported: raw uint8 images in, the (task, level) logits out."""
    import torch
    import torch.nn.functional as F
    from torch import nn
    _check_task(net, task)
    p = preprocess or preprocess_for(net, task)
    if p.size < p.native:
        # Shrinking needs the antialiased filter (ONNX Resize's antialias, opset 18), which the
        # TorchScript exporter does not emit; no registered task shrinks its images.
        raise ValueError(f"task {task} shrinks {p.native} px images to {p.size} px: not supported by export")
    core = net.extract(task, level).fuse_bn().eval()

    class Deployed(nn.Module):
        def __init__(self):
            super().__init__()
            self.core = core
            mean = torch.tensor(p.mean, dtype=torch.float32).view(1, -1, 1, 1)
            std = torch.tensor(p.std, dtype=torch.float32).view(1, -1, 1, 1)
            self.register_buffer("scale", 1 / (255 * std))
            self.register_buffer("shift", -mean / std)

        def forward(self, images):
            x = images.float()
            if p.size != p.native:
                # Width first, then height, each rounded to whole grey levels: the order and the
                # uint8 intermediate of torch's (and PIL's) separable uint8 resize. Exact halves
                # are common (the weights are multiples of 1/16 for 28 -> 32 px) and ONNX Runtime's
                # Resize lands a float rounding step below some of them: + HALF_UP rounds those
                # up as the integer kernel does, and is far below the weights' own granularity.
                for size in ((p.native, p.size), (p.size, p.size)):
                    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
                    x = torch.floor(x + HALF_UP).clamp(0, 255)
            return self.core(x * self.scale + self.shift)
    return Deployed().eval()


def export(net, task: int, level: int, path, preprocess: Preprocess | None = None) -> Path:
    """Write the ONNX file of output (task, level) alone (see the module docstring)."""
    import onnx
    import torch
    m = deployable(net, task, level, preprocess)
    p = preprocess or preprocess_for(net, task)
    c = net.tasks[task - 1].in_channels
    x = torch.zeros(2, c, p.native, p.native, dtype=torch.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which this
        # project does not use (the ENVIRONMENT notes: dynamo=False exports these modules as is).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(m, (x,), str(path), input_names=[INPUT], output_names=[OUTPUT], opset_version=OPSET,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, dynamo=False)
    model = onnx.load(str(path))
    info = getattr(net, "info", {}) or {}
    meta = {"task": task, "level": level, "units": ",".join(map(str, net.units(task, level))),
            "input": f"uint8 N x {c} x {p.native} x {p.native}, raw pixel values",
            "producer": "dvnlib (Deep Virtual Networks, reproduced)"}
    for k in ("scenario", "profile", "method", "seed", "key"):
        if k in info:
            meta[k] = str(info[k])
    if info:
        t = info["tasks"][task - 1]
        meta["task_name"], meta["classes"] = t["name"], json.dumps(t["class_names"])
    onnx.helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
    onnx.save(model, str(path))
    return path


def session(path, threads: int = 1):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads and full graph optimisation."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    src = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def predict(sess, images, batch: int = 256):
    """Logits (numpy) of uint8 images (numpy or torch) through an exported model, in batches."""
    import numpy as np
    x = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    return np.concatenate([sess.run(None, {INPUT: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def export_output(scenario: str, profile: str, seed: int, task: int, out, level: int | None = None,
                  max_params: int | None = None, method: str = "dvn", root="results") -> dict:
    """``python -m dvnlib export``: load the kept model, pick the level (given, or the largest
    within ``max_params``), export it; what was written, with the run's test accuracy."""
    from . import accounting
    s = S.get(scenario)
    s.profile(profile)  # an unknown profile names the valid ones
    if (level is None) == (max_params is None):
        raise ValueError("give exactly one of level (--level) and a parameter budget (--max-params)")
    n = len(s.tasks)
    if not (isinstance(task, int) and 1 <= task <= n):
        raise ValueError(f"unknown task {task!r}: {s.id} has tasks 1..{n} "
                         f"({', '.join(f'{i + 1}: {t.name}' for i, t in enumerate(s.tasks))})")
    net = load(scenario, profile, seed, method, root)
    level = net.level_for(task, max_params) if level is None else level
    lay = layout_from_json(net.info["layout"])
    from .units import check_output
    check_output(lay.config, task, level)
    params = accounting.output_cost(lay, task, level)[0]
    acc = committed_accuracy(root, scenario, profile, seed, task, level, net.info["key"], method)
    path = export(net, task, level, out)
    return {"scenario": s.id, "profile": profile, "seed": seed, "task": task,
            "task_name": net.info["tasks"][task - 1]["name"], "level": level,
            "units": list(net.units(task, level)), "params": params, "accuracy": acc,
            "file": str(path), "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------------------------
# The raw test images a run evaluated on, and the committed accuracy of an output


def raw_split(task: S.TaskDef, split: str, root=None, limit: int | None = None):
    """(uint8 images at the dataset's native size, labels): exactly the images and labels
    ``data.load_task`` returns for the same arguments, before it resizes them."""
    from . import data as D
    root = D.data_root(root)
    raw = D._read(task.dataset, split, root, False, coarse=task.label == "coarse")
    keep, y = D._relabel(task, raw.labels, raw.num_labels)
    if limit is not None:
        chosen = D._stratified(raw.fine[keep], limit, 0)
        keep, y = keep[chosen], y[chosen]
    return D._convert_channels(raw.x[keep], task.in_channels).contiguous(), y


def run_record(root, scenario: str, profile: str, seed: int, key: str, method: str = "dvn") -> Path:
    """The finished run's record (``runs/<method>/[<configuration>/]seed<seed>.json``) whose key is
    ``key``: the run that trained a kept model."""
    base = Path(root) / scenario / profile / "runs" / method
    for record in sorted(base.rglob(f"seed{seed}.json")) if base.is_dir() else []:
        if json.loads(record.read_text()).get("key") == key:
            return record
    raise ValueError(f"no finished run under {base} has the key {key} of the kept {method} model of {scenario} "
                     f"({profile}, seed {seed}): the model and the results are of different runs; retrain with "
                     f"`{_produce_command(scenario, profile, seed, method, root)}`")


def committed_accuracy(root, scenario: str, profile: str, seed: int, task: int, level: int, key: str,
                       method: str = "dvn") -> float:
    """The test accuracy the run with key ``key`` recorded for output (task, level): its record's
    rows, which ``metrics.csv`` collects."""
    import csv
    rows = run_record(root, scenario, profile, seed, key, method).with_suffix(".csv")
    with open(rows, newline="") as fh:
        for r in csv.DictReader(fh):
            if (int(r["task"]), int(r["level"])) == (task, level):
                return float(r["accuracy"])
    raise ValueError(f"{rows} has no row for task {task} level {level}")


# ---------------------------------------------------------------------------------------------
# The model zoo (the book's deployment page reads its CSV)

ZOO_COLUMNS = ("scenario", "profile", "method", "seed", "task", "task_name", "level", "units", "params",
               "onnx_bytes", "accuracy", "onnx_accuracy", "n_test", "latency_ms", "latency_ms_min",
               "latency_ms_max", "rounds", "threads", "hardware", "onnxruntime", "commit")


def zoo(scenarios: Sequence[str], profile: str, root="results", data_root=None, rounds: int = 30,
        threads: int = 1, log=None) -> list[dict]:
    """Every (task, level) of every kept ``dvn`` model of ``scenarios`` at ``profile``: exported,
    its accuracy measured through ONNX Runtime on the run's test images (``onnx_accuracy``) beside
    the committed one (``accuracy``), its file size and its batch-1 latency (median of ``rounds``
    single-image calls after warm-up, every output of one model timed in the same rounds)."""
    import tempfile
    import time

    import numpy as np
    import onnxruntime as ort

    from . import accounting
    log = log or (lambda s: None)
    hw, commit = R.hardware("cpu"), R.git_state().get("commit")
    rows = []
    for sc in scenarios:
        d = model_dir(root, sc, profile)
        seeds = sorted(int(p.stem[4:]) for p in d.glob("seed*.pt")) if d.is_dir() else []
        for seed in seeds:
            net = load(sc, profile, seed, root=root)
            info = net.info
            s = S.with_profile(sc, profile, **info["overrides"]) if info["overrides"] else S.get(sc)
            p = s.profile(profile)
            lay = layout_from_json(info["layout"])
            cost = {(c.task, c.level): c for c in accounting.costs(lay)}
            sessions = {}
            with tempfile.TemporaryDirectory() as tmp:
                for (t, l), c in cost.items():
                    f = export(net, t, l, Path(tmp) / f"t{t}l{l}.onnx")
                    sessions[(t, l)] = (session(f, threads), f.stat().st_size)
                data = {t: raw_split(s.tasks[t - 1], "test", data_root, p.test_per_task)
                        for t in range(1, len(s.tasks) + 1)}
                one = {t: data[t][0][:1].numpy() for t in data}
                times = {o: [] for o in sessions}
                for r in range(rounds + 2):  # two warm-up rounds
                    order = list(sessions)
                    order = order[r % len(order):] + order[:r % len(order)]
                    for o in order:
                        t0 = time.perf_counter()
                        sessions[o][0].run(None, {INPUT: one[o[0]]})
                        if r >= 2:
                            times[o].append(time.perf_counter() - t0)
                for (t, l), (sess, size) in sessions.items():
                    x, y = data[t]
                    acc = 100 * float((predict(sess, x).argmax(1) == y.numpy()).mean())
                    ms = 1000 * np.asarray(times[(t, l)])
                    rows.append({"scenario": sc, "profile": profile, "method": "dvn", "seed": seed, "task": t,
                                 "task_name": info["tasks"][t - 1]["name"], "level": l,
                                 "units": ",".join(map(str, cost[(t, l)].units)), "params": cost[(t, l)].params,
                                 "onnx_bytes": size, "onnx_accuracy": round(acc, 4),
                                 "accuracy": committed_accuracy(root, sc, profile, seed, t, l, key=info["key"]),
                                 "n_test": len(y), "latency_ms": float(np.median(ms)),
                                 "latency_ms_min": float(ms.min()), "latency_ms_max": float(ms.max()),
                                 "rounds": rounds, "threads": threads, "hardware": hw.get("cpu"),
                                 "onnxruntime": ort.__version__, "commit": commit})
            log(f"{sc} {profile} seed {seed}: {len(cost)} outputs")
    return rows


def write_zoo(rows: Sequence[dict], path) -> Path:
    R.write_rows(path, rows, ZOO_COLUMNS)
    return Path(path)


def zoo_summary(df):
    """Per (scenario, task, level): parameters, ONNX size, test accuracy mean and 95% interval
    half-width over seeds (``report.mean_ci``), median batch-1 latency (the median over seeds of
    each seed's median). Reads a zoo CSV's rows; needs no torch."""
    import pandas as pd

    from .report import mean_ci
    out = []
    for (sc, prof, t, l), g in df.groupby(["scenario", "profile", "task", "level"], sort=True):
        mean, half, n = mean_ci(g["accuracy"])
        out.append({"scenario": sc, "profile": prof, "task": int(t), "task_name": g["task_name"].iloc[0],
                    "level": int(l), "units": str(g["units"].iloc[0]), "params": int(g["params"].iloc[0]),
                    "onnx_kb": float(g["onnx_bytes"].median()) / 1024, "accuracy": mean, "ci95": half,
                    "onnx_accuracy": float(g["onnx_accuracy"].mean()), "seeds": n,
                    "latency_ms": float(g["latency_ms"].median())})
    order = {sc: i for i, sc in enumerate(S.SCENARIOS)}  # the registry's order: FJ1 FJ2 FJ3 FH1 FS1
    return pd.DataFrame(out).sort_values(["scenario", "task", "level"], key=lambda c: c.map(order)
                                         if c.name == "scenario" else c, kind="stable").reset_index(drop=True)



def zoo_table(summary):
    """The zoo as the book shows it: one row per (twin, task, level)."""
    from .report.stats import fmt_ci
    import pandas as pd
    return pd.DataFrame({
        "scenario": summary["scenario"], "task": [f"{t}: {n}" for t, n in zip(summary["task"], summary["task_name"])],
        "level": summary["level"], "units": summary["units"], "parameters": [f"{p:,}" for p in summary["params"]],
        "ONNX file (kB)": [f"{k:.0f}" for k in summary["onnx_kb"]],
        "test accuracy % (mean ± 95%)": [fmt_ci(m, h) for m, h in zip(summary["accuracy"], summary["ci95"])],
        "seeds": summary["seeds"],
        "ONNX Runtime accuracy %": [f"{a:.1f}" for a in summary["onnx_accuracy"]],
        "latency, batch 1 (ms)": [f"{x:.2f}" for x in summary["latency_ms"]]})


def zoo_figure(summary):
    """Accuracy against the memory budget (the ONNX file's size), one panel per twin, a line per
    task through its levels, 95% intervals over seeds as error bars."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter
    scenarios = list(dict.fromkeys(summary["scenario"]))
    cols = min(3, len(scenarios))
    rows = -(-len(scenarios) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(scenarios):]:
        ax.set_visible(False)
    for ax, sc in zip(axes.flat, scenarios):
        d = summary[summary["scenario"] == sc]
        for t, g in d.groupby("task"):
            g = g.sort_values("level")
            ax.errorbar(g["onnx_kb"], g["accuracy"], yerr=g["ci95"].fillna(0), marker="o", capsize=3,
                        label=f"task {t}: {g['task_name'].iloc[0]}")
            for _, r in g.iterrows():
                ax.annotate(f"L{r['level']}", (r["onnx_kb"], r["accuracy"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(d["onnx_kb"].round(-1))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{sc} ({d['profile'].iloc[0]} profile)", fontsize=10)
        ax.set_xlabel("memory budget: ONNX file (kB)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    """``python -m dvnlib.deploy zoo --profile study --root results --out results/deploy/zoo.csv``:
    the zoo CSV the book's deployment page reads."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m dvnlib.deploy", description=main.__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    z = sub.add_parser("zoo", help="export, measure and time every (task, level) of every kept dvn model")
    z.add_argument("--scenarios", nargs="+", default=[s for s, x in S.SCENARIOS.items() if x.twin_of])
    z.add_argument("--profile", default="study")
    z.add_argument("--root", default="results", help="results folder holding the models")
    z.add_argument("--data-root", help="default: $DVN_DATA, else data/")
    z.add_argument("--rounds", type=int, default=30, help="timed batch-1 rounds per output")
    z.add_argument("--out", required=True, help="the CSV to write")
    args = ap.parse_args(argv)
    rows = zoo(args.scenarios, args.profile, args.root, args.data_root, args.rounds,
               log=lambda s: print(s, file=sys.stderr, flush=True))
    if not rows:
        print(f"error: no kept dvn models of {', '.join(args.scenarios)} ({args.profile}) under {args.root}",
              file=sys.stderr)
        return 2
    print(write_zoo(rows, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
