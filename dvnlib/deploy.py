"""Deploying one (task, level) under a memory budget: pick the level that fits, export it to ONNX
with its own preprocessing, run it with ONNX Runtime.

    net = dvnlib.load("FJ2", "quick", seed=0)          # the trained DVN a run kept, checked
    level = net.level_for(task=1, max_params=50_000)    # the largest level that fits
    dvnlib.export(net, 1, level, "fj2_t1.onnx")         # that output alone, BN folded

The exported model takes the task's raw images, uint8 ``N x C x H x W`` at the dataset's native
size (a task of your own, ``dvnlib.Task``: its images as given, whose size, channels and
statistics its network from ``dvnlib.build`` carries in ``net.info``), and does what training saw
inside: bilinear resize to the task's input size (none for a task of your own), then ``x / 255``
normalised by the training split's mean and std. The resize is ``data.load_task``'s (antialiased
bilinear, uint8 in and out) as ONNX's Resize can state it: half-pixel centres (for the
enlargements every registered task makes, the antialiased filter's weights are the plain bilinear
ones), width first and then height, each pass rounded half up to whole grey levels, as torch's
separable uint8 kernel does. Measured on the Fashion-MNIST test split: every pixel equal
at 32 and 64 px; at 96 px (28 -> 96 px, whose weights torch quantises to fixed point) 0.5% of
pixels differ, by at most 2 grey levels (``tests/test_deploy.py``). Output: logits over the
task's classes, in the order of its class list (``classes`` in the model's metadata). Opset
``OPSET``; the batch axis is dynamic. The file is written atomically: a full disk or a kill
leaves a previous file at that path as it was.

``load`` finds the model a run kept (``trained.py``) from the names a run was asked with, and
``recorded_accuracy`` reads that run's test accuracy of an output, which the export command
reports beside the file.
"""
from __future__ import annotations

import dataclasses
import io
import json
import warnings
from pathlib import Path

from . import results as R
from . import scenarios as S
from . import trained

OPSET = 17
INPUT, OUTPUT = "images", "logits"
HALF_UP = 0.5 + 1e-3  # rounding offset after each resize pass (see ``deployable``)


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
    return trained.read(plan.out, plan.config_key, method, seed, plan.record(plan.run(method, seed)), fix)


def kept_seeds(scenario: str, profile: str, method: str = "dvn", root="results", overrides=None) -> list[int]:
    """The seeds of which a run of these names kept a model (unchecked until ``load``)."""
    plan = _resolve(scenario, profile, method, 0, root, overrides)
    d = trained.paths(plan.out, plan.config_key, method, 0)[0].parent
    return sorted(int(p.stem[4:]) for p in d.glob("seed*.pt") if p.stem[4:].isdigit())


def _resolve(scenario, profile, method, seed, root, overrides):
    """The plan of (method, seed), as ``dvnlib.run`` resolves it (``runs.resolve``)."""
    from . import request, runs
    return runs.resolve(request.check(scenario, profile, methods=[method], seeds=[seed], overrides=overrides,
                                      device="cpu", out_dir=root, probe_out=False))


def recorded_accuracy(net, task: int, level: int) -> float:
    """The test accuracy that the run which kept ``net`` (``load``) recorded for output
    (task, level): its record's rows, which ``metrics.csv`` collects."""
    rows = Path(net.info["record"]).with_suffix(".csv")
    for r in R.check_rows(rows):  # a damaged file is a one-line CorruptFile naming it
        if (int(r["task"]), int(r["level"])) == (task, level):
            return float(r["accuracy"])
    raise ValueError(f"{rows} has no row for task {task} level {level}: rerun its run to rewrite it")


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
                         "network from dvnlib.load or dvnlib.build(tasks) carries (net.info); for another "
                         "network pass preprocess=deploy.Preprocess(native, size, mean, std)")
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
    buf = io.BytesIO()  # exported in memory, written once complete: the target is never half a file
    with torch.no_grad(), warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of torch.export's, which this
        # project does not use (the ENVIRONMENT notes: dynamo=False exports these modules as is).
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(m, (x,), buf, input_names=[INPUT], output_names=[OUTPUT], opset_version=OPSET,
                          dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}}, dynamo=False)
    model = onnx.load_from_string(buf.getvalue())
    info = getattr(net, "info", {}) or {}
    meta = {"task": task, "level": level, "units": ",".join(map(str, net.units(task, level))),
            "input": f"uint8 N x {c} x {p.native} x {p.native}, raw pixel values",
            "producer": "dvnlib (Deep Virtual Networks, reproduced)"}
    for k in trained.IDENTITY:
        if k in info:
            meta[k] = str(info[k])
    if info:
        t = info["tasks"][task - 1]
        meta["task_name"], meta["classes"] = t["name"], json.dumps(t["class_names"])
    onnx.helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
    R.atomic_write_bytes(path, model.SerializeToString())
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
                  max_params: int | None = None, method: str = "dvn", root="results",
                  overrides: dict | None = None) -> dict:
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
    net = load(scenario, profile, seed, method, root, overrides)
    level = net.level_for(task, max_params) if level is None else level
    lay = trained.layout_from_json(net.info["layout"])
    from .units import check_output
    check_output(lay.config, task, level)
    params = accounting.output_cost(lay, task, level)[0]
    acc = recorded_accuracy(net, task, level)
    path = export(net, task, level, out)
    return {"scenario": s.id, "profile": profile, "seed": seed, "task": task,
            "task_name": net.info["tasks"][task - 1]["name"], "level": level,
            "units": list(net.units(task, level)), "params": params, "accuracy": acc,
            "file": str(path), "bytes": path.stat().st_size}
