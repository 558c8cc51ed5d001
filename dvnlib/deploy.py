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

**Precision.** ``precision="int8"`` writes the same graph statically quantised by ONNX Runtime
(``onnxruntime.quantization.quantize_static``) in the QDQ format: per-channel symmetric int8
weights, uint8 (asymmetric) activations, their ranges calibrated (min/max) on ``CALIBRATION``
training images of the task, a fixed subset drawn by ``CALIBRATION_SEED``. QDQ, because the file
stays a standard ONNX graph (QuantizeLinear/DequantizeLinear pairs around float operators) that
any runtime can execute, ONNX Runtime on the CPU and in the browser (WebAssembly) fuses into
integer kernels, and a runtime without int8 kernels still runs exactly. Per-channel weights,
because the channels of a unit have very different ranges; uint8 activations, because they
follow ReLUs and the x86 integer kernels (VNNI) take unsigned activations with signed weights.
The preprocessing (every node before the first convolution) stays float: it computes whole grey
levels, which an 8-bit scale would round.

**Names.** Every tensor but the input and the output is renamed to a short id, and nodes lose
their names, in both precisions (``compact_names``): a device pays for each byte of a file, and the
paths torch and the quantiser write (``/body/layer1/conv/Conv_output_0_QuantizeLinear_Output``)
were 18% of the int8 file of FJ1's top level (111 kB with them, 91 kB without). The graph and
its numbers are unchanged.

**Budgets.** ``net.level_for(task, max_bytes=...)`` picks the (level, precision) of the best
accuracy recorded in the zoo (``dvnlib/zoo.py``) whose file fits (``budget.py``).

A model a run kept is found by the run's names in ``kept.py`` (``dvnlib.load``).
"""
from __future__ import annotations

import contextlib
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
PRECISIONS = ("float32", "int8")
CALIBRATION = 512  # training images an int8 file's activation ranges are calibrated on
CALIBRATION_SEED = 0
HALF_UP = 0.5 + 1e-3  # rounding offset after each resize pass (see ``deployable``)


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


def export(net, task: int, level: int, path, preprocess: Preprocess | None = None, *,
           precision: str = "float32", calibration=None, data_root=None) -> Path:
    """Write the ONNX file of output (task, level) alone (see the module docstring) at
    ``precision`` (``PRECISIONS``). int8 is calibrated on ``calibration`` (uint8 raw images,
    N x C x H x W at the native size) or, by default, on ``CALIBRATION`` of the task's training
    images read from ``data_root`` (``data.load_task``)."""
    import onnx
    import torch
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: valid precisions are {', '.join(PRECISIONS)}")
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
    if precision == "int8":
        images = calibration if calibration is not None else calibration_images(net, task, data_root)
        model = quantize(model, images)
    model = compact_names(model)
    info = getattr(net, "info", {}) or {}
    meta = {"task": task, "level": level, "units": ",".join(map(str, net.units(task, level))),
            "precision": precision, "input": f"uint8 N x {c} x {p.native} x {p.native}, raw pixel values",
            "producer": "dvnlib (Deep Virtual Networks, reproduced)"}
    for k in trained.IDENTITY:
        if k in info:
            meta[k] = str(info[k])
    if info:
        t = info["tasks"][task - 1]
        meta["task_name"], meta["classes"] = t["name"], json.dumps(t["class_names"])
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, {k: str(v) for k, v in meta.items()})
    R.atomic_write_bytes(path, model.SerializeToString())
    return path


def compact_names(model):
    """``model`` with every value but its inputs and outputs renamed to a short id (in the order
    they first appear) and its nodes' names dropped: what they compute is unchanged. A graph with
    subgraphs (If, Loop), whose inner names could refer to outer ones, is returned as it is."""
    import onnx
    g = model.graph
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for n in g.node for a in n.attribute):
        return model
    keep = {v.name for v in (*g.input, *g.output)}
    ids: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:  # "" is an omitted optional input
            return name
        return ids.setdefault(name, format(len(ids), "x"))
    for t in (*g.initializer, *g.value_info):
        t.name = short(t.name)
    for n in g.node:
        n.name = ""
        n.input[:] = [short(x) for x in n.input]
        n.output[:] = [short(x) for x in n.output]
    return model


def calibration_images(net, task: int, data_root=None):
    """The ``CALIBRATION`` training images of ``task`` that int8 files are calibrated on: a fixed
    subset (``data.load_task``'s, balanced over labels, drawn by ``CALIBRATION_SEED``), raw uint8
    at the native size, as the exported file receives them."""
    from .data import load_task
    info = getattr(net, "info", None)
    if not info or "scenario" not in info:
        raise ValueError("int8 export calibrates on the task's training images, which it finds for a network "
                         "of dvnlib.load (a registered scenario); for another network pass calibration=<raw "
                         "uint8 training images, N x C x H x W>")
    s = S.with_profile(info["scenario"], info["profile"], **info["overrides"])
    return load_task(s.tasks[task - 1], "train", data_root, CALIBRATION, seed=CALIBRATION_SEED, native=True).x


def quantize(model, images):
    """``model`` (a float ONNX ModelProto: ``export``'s, or any one-input image model)
    statically quantised as the module docstring says, its activation ranges calibrated on
    ``images`` (N x C x H x W, of the model's input type: raw uint8 for ``export``'s files)."""
    import tempfile

    import numpy as np
    import onnx
    from onnxruntime import quantization as Q
    x = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    name = model.graph.input[0].name
    want = onnx.helper.tensor_dtype_to_np_dtype(model.graph.input[0].type.tensor_type.elem_type)
    if x.dtype != want or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"calibration images must be {want} N x C x H x W, as the model takes them; "
                         f"got {x.dtype} {x.shape}")

    step = model.graph.input[0].type.tensor_type.shape.dim[0].dim_value or 64  # a fixed batch, or 64 at a time

    class Reader(Q.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{name: x[i:i + step]} for i in range(0, len(x), step)])

        def get_next(self):
            return next(self.batches, None)
    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        # ONNX Runtime's own pre-processing (shape inference, constant folding) first: it makes
        # the folded BN biases initialisers, which the quantiser then stores as int32.
        pre, out = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        Q.shape_inference.quant_pre_process(model, pre)
        nodes = onnx.load(str(pre)).graph.node
        first_conv = next(i for i, n in enumerate(nodes) if n.op_type == "Conv")
        Q.quantize_static(pre, out, Reader(), quant_format=Q.QuantFormat.QDQ, per_channel=True,
                          activation_type=Q.QuantType.QUInt8, weight_type=Q.QuantType.QInt8,
                          nodes_to_exclude=[n.name for n in nodes[:first_conv]],
                          calibrate_method=Q.CalibrationMethod.MinMax)
        return onnx.load(str(out))


@contextlib.contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantiser advises on the root logger (``logging.warning``) about choices
    this module makes on purpose; its advice is silenced while it runs."""
    import logging
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def session(path, threads: int = 1):
    """An ONNX Runtime CPU session with ``threads`` intra-op threads and full graph optimisation.
    int8 files run exactly: on an x86 CPU without VNNI, ONNX Runtime's fast uint8 x int8 kernel
    sums pairs of products in 16 bits, which saturate and change predictions (3 of 1,200 sample
    images of FJ2's demo files on an AVX2 CPU); ``session.x64quantprecision`` takes the exact path,
    which is what a VNNI CPU and the browser's WebAssembly kernel compute."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.x64quantprecision", "1")
    src = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def predict(sess, images, batch: int = 256):
    """Logits (numpy) of uint8 images (numpy or torch) through an exported model, in batches."""
    import numpy as np
    x = images.numpy() if hasattr(images, "numpy") else np.asarray(images)
    return np.concatenate([sess.run(None, {INPUT: x[i:i + batch]})[0] for i in range(0, len(x), batch)])
