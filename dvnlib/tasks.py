"""A deep virtual network over your own tasks, with the library's recipe, through public names.

    import dvnlib
    clothes = dvnlib.Task("clothes", (x_train, y_train), (x_test, y_test), classes=names)
    digits = dvnlib.Task("digits", digits_train, digits_test)  # another size, or a torch Dataset
    tasks = [clothes, digits]
    net = dvnlib.build(tasks)                      # one unit per task, the study's WRN-8-1
    dvnlib.fit(net, tasks, epochs=16)              # eq. 4 with the study's optimiser and schedule
    dvnlib.evaluate(net, tasks)                    # test accuracy of every (task, level)
    level = net.level_for(task=2, max_params=25_000)
    dvnlib.export(net, 2, level, "digits.onnx")    # uint8 images of the task's own size in

A task's images are kept as the library keeps every dataset (``data.TaskData``): one uint8 tensor
N x C x H x W per split, normalised per channel by its training split's statistics when batches
are made; float images in [0, 1] are rounded to 8-bit grey levels. Images are square; tasks may
differ in size and channels, and each task's input layer strides its images down to one common
feature size, as the paper's task-specific input layers do (J3: 64, 32 and 96 px meet at 32).

``fit`` is the loop every method of the study trains with (``train.fit``: eq. 4's joint step,
SGD with Nesterov momentum, the multi-step schedule, augmentation, the epoch of one pass over
*each* task's training split, the divergence check), at the Fashion-MNIST study's settings
(``RECIPE``). Its checkpoints, under ``checkpoints=`` for resuming, are keyed by the data's
content, the network's starting weights and layout, the settings, the seed and the training code:
other data under the same folder never resumes from them.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from . import provenance
from . import results as R
from . import scenarios as S
from .backbones import BackboneSpec, backbone as make_backbone
from .data import TaskData, statistics
from .layout import TaskIO, checked

# The study's optimiser and schedule; the backbone is the network's and the data are the tasks'.
RECIPE = dataclasses.replace(S.study_profile("wrn"), depth=None, width=None, train_per_task=None,
                             test_per_task=None, seeds=(0,))
# What ``fit`` lets you change (``Profile``'s fields that concern the training of one network).
FIT_SETTINGS = ("epochs", "batch_size", "lr", "weight_decay", "milestones", "gamma", "momentum")
STAGE = "dvn"  # the checkpoint's name, as the study's joint DVN names its stage


class Task:
    """One classification task: ``name``, its ``train`` and ``test`` splits, each (images, labels)
    tensors (or numpy arrays; images uint8 in 0..255 or float in [0, 1], N x C x H x W, square;
    labels integers 0..n-1) or a torch Dataset of (image, label) pairs, and optional class names
    (default: the labels' numbers). Every class must have images in both splits. ``train`` and
    ``test`` then hold ``data.TaskData``, normalised by the training split's statistics."""

    def __init__(self, name: str, train, test, classes: Sequence | None = None):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a task's name must be a non-empty string, got {name!r}")
        self.name = name
        x, y = _split(name, "train", train)
        xt, yt = _split(name, "test", test)
        if xt.shape[1:] != x.shape[1:]:
            raise ValueError(f"task {name!r}: test images are {_dims(xt)} but train images are {_dims(x)}; "
                             "both splits need one image format")
        if classes is not None:
            classes = tuple(str(c) for c in classes)
            if len(set(classes)) != len(classes):
                raise ValueError(f"task {name!r}: class names must be distinct, got {list(classes)}")
        n = len(classes) if classes is not None else int(max(y.max(), yt.max())) + 1
        if n < 2:
            raise ValueError(f"task {name!r} has {n} class; a classification task needs at least 2")
        for split, labels in (("train", y), ("test", yt)):
            bad = labels[(labels < 0) | (labels >= n)]
            if len(bad):
                raise ValueError(f"task {name!r}: {split} label {int(bad[0])} is out of range: labels are class "
                                 f"indices 0..{n - 1}{', one per name in classes' if classes else ''}")
            missing = sorted(set(range(n)) - set(labels.unique().tolist()))
            if missing:
                raise ValueError(f"task {name!r}: class {missing[0]} has no {split} images; every class needs "
                                 f"images in both splits (drop it and renumber the labels, or add images)")
        mean, std = statistics(x)
        if min(std) == 0:
            raise ValueError(f"task {name!r}: channel {std.index(0)} of the train images is constant, which "
                             "nothing can be learned from (and it cannot be normalised); drop it")
        self.classes = classes or tuple(str(c) for c in range(n))
        self.train, self.test = TaskData(x, y, mean, std), TaskData(xt, yt, mean, std)
        self._digest: str | None = None

    def __repr__(self) -> str:
        return (f"Task({self.name!r}: {self.num_classes} classes, {self.channels} x {self.size} x {self.size} px, "
                f"{len(self.train.y)} train / {len(self.test.y)} test images)")

    @property
    def channels(self) -> int:
        return self.train.x.shape[1]

    @property
    def size(self) -> int:
        return self.train.x.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def digest(self) -> str:
        """A content hash of both splits (images and labels): the data's identity in a checkpoint key."""
        if self._digest is None:
            h = hashlib.sha256()
            for t in (self.train.x, self.train.y, self.test.x, self.test.y):
                h.update(repr((t.dtype, tuple(t.shape))).encode())
                h.update(t.contiguous().numpy().tobytes())
            self._digest = h.hexdigest()[:16]
        return self._digest

    def info(self) -> dict:
        """What deploying one of its outputs needs (``deploy.preprocess_for`` reads it from
        ``net.info``): the image format, the class names and the normalisation statistics."""
        return {"name": self.name, "class_names": list(self.classes), "num_classes": self.num_classes,
                "in_channels": self.channels, "input_size": self.size, "native": [self.channels, self.size],
                "mean": list(self.train.mean), "std": list(self.train.std)}


def _dims(x: torch.Tensor) -> str:
    return " x ".join(map(str, x.shape[1:]))


def _split(name: str, split: str, value) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images N x C x H x W, int64 labels) of one split, checked."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        images, labels = (torch.as_tensor(v).cpu() for v in value)
    elif isinstance(value, torch.utils.data.Dataset) or (
            hasattr(value, "__getitem__") and hasattr(value, "__len__")
            and not isinstance(value, (str, bytes, tuple, list, torch.Tensor)) and not hasattr(value, "__array__")):
        images, labels = _stack(name, split, value)
    else:
        raise ValueError(f"task {name!r}: {split} must be (images, labels) tensors or a torch Dataset of "
                         f"(image, label) pairs, got {type(value).__name__}")
    if images.ndim != 4:
        hint = "; add the channel axis with images.unsqueeze(1)" if images.ndim == 3 else ""
        raise ValueError(f"task {name!r}: {split} images must be N x C x H x W (4 dimensions), got shape "
                         f"{tuple(images.shape)}{hint}")
    if len(images) == 0:
        raise ValueError(f"task {name!r}: the {split} split has no images")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"task {name!r}: {split} images are {images.shape[2]} x {images.shape[3]} px; images "
                         "must be square: crop or resize them")
    if labels.ndim != 1 or labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise ValueError(f"task {name!r}: {split} labels must be a 1-D tensor of integer class indices, got "
                         f"{labels.dtype} of shape {tuple(labels.shape)}")
    if len(labels) != len(images):
        raise ValueError(f"task {name!r}: {len(images)} {split} images but {len(labels)} labels")
    return _as_uint8(name, split, images).contiguous(), labels.long().contiguous()


def _as_uint8(name: str, split: str, images: torch.Tensor) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images
    if images.is_floating_point():
        lo, hi = float(images.min()), float(images.max())
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo and hi <= 1):
            raise ValueError(f"task {name!r}: float {split} images must lie in [0, 1], got values {lo:g}..{hi:g}; "
                             "scale them (e.g. images / 255) or pass uint8")
        return (images.float() * 255).round_().to(torch.uint8)
    raise ValueError(f"task {name!r}: {split} images are {images.dtype}; give uint8 (0..255) or float (0..1)")


def _stack(name: str, split: str, dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """A Dataset's (image, label) pairs as two tensors; an image is a tensor or array C x H x W (or
    H x W: one channel) or a PIL image."""
    import numpy as np
    images, labels = [], []
    for i in range(len(dataset)):
        item = dataset[i]
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise ValueError(f"task {name!r}: {split} item {i} is not an (image, label) pair")
        image, label = item
        if hasattr(image, "getbands"):  # PIL: H x W or H x W x C
            a = torch.from_numpy(np.array(image))
            image = a.unsqueeze(0) if a.ndim == 2 else a.permute(2, 0, 1)
        image = torch.as_tensor(image)
        images.append(image.unsqueeze(0) if image.ndim == 2 else image)
        labels.append(int(label))
    if not images:
        raise ValueError(f"task {name!r}: the {split} split has no images")
    shapes = {tuple(x.shape) for x in images}
    if len(shapes) > 1:
        raise ValueError(f"task {name!r}: {split} images differ in shape ({', '.join(map(str, sorted(shapes)))}); "
                         "resize them to one size")
    return torch.stack(images).cpu(), torch.tensor(labels, dtype=torch.int64)


def _tasks(tasks) -> list[Task]:
    tasks = [tasks] if isinstance(tasks, Task) else list(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise ValueError("tasks must be a list of dvnlib.Task (or a scenario id such as 'J2' for build)")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    return tasks


def _backbone(backbone, width: int | None) -> BackboneSpec:
    """The backbone by name (``'wrn'``, ``'wrn-14'``, ``'resnet'``, ``'resnet-18'``; depth and width
    default to the study's for that family: WRN-8-1, ResNet-10 of width 16) or as a spec."""
    if isinstance(backbone, BackboneSpec):
        if width is not None:
            raise ValueError("width sizes a backbone given by name; a BackboneSpec has its widths already")
        return backbone
    family, _, depth = ("wrn" if backbone is None else str(backbone)).lower().partition("-")
    if family not in ("wrn", "resnet") or (depth and not depth.isdigit()):
        raise ValueError(f"unknown backbone {backbone!r}: use 'wrn' or 'resnet', optionally with a depth "
                         "('wrn-14', 'resnet-18'), or a dvnlib.backbones.BackboneSpec")
    study = S.study_profile(family)
    return make_backbone(family, int(depth) if depth else study.depth, study.width if width is None else width)


def build(tasks, backbone=None, units=None, width: int | None = None, *, feature_size: int | None = None,
          rule: str = "dvn", bn: str = "per_output", seed: int = 0):
    """A ``network.DVNNet`` over ``tasks``, its initial weights drawn from ``seed``.

    ``backbone``: ``'wrn'`` (default: the study's WRN-8-1), ``'resnet'`` (ResNet-10), with a
    depth (``'wrn-14'``), or a ``backbones.BackboneSpec``; ``width``: its width factor (WRN) or
    first stage's width (ResNet). ``units``: k, one unit per task as the paper's joint scenarios
    (the default, which the DVN rule of eq. 3 requires), or unit sizes such as ``(2, 1, 1)``.
    ``feature_size`` (default: the smallest task's image size) is where every task's input layer
    strides its images to; each task's size must be a multiple of it. ``rule`` and ``bn`` as
    ``dvnlib.build(scenario, ...)`` takes them. The network carries each task's image format and
    normalisation in ``net.info``, which ``dvnlib.export`` reads."""
    from .network import DVNNet
    tasks = _tasks(tasks)
    spec = _backbone(backbone, width)
    fs = min(t.size for t in tasks) if feature_size is None else feature_size
    if not (isinstance(fs, int) and fs >= 1):
        raise ValueError(f"feature_size must be a positive number of pixels, got {feature_size!r}")
    for t in tasks:
        if t.size % fs:
            common = math.gcd(*(t.size for t in tasks))
            fix = f"resize its images to a multiple of {fs} px (e.g. {fs * math.ceil(t.size / fs)})"
            if common > 1:
                fix += f", or pass feature_size={common}"
            raise ValueError(f"task {t.name!r} has {t.size} px images, which its input layer cannot stride to the "
                             f"common feature size of {fs} px: {fix}")
    if units is None:
        units = len(tasks)
    sizes = (1,) * units if isinstance(units, int) else tuple(units)
    io = tuple(TaskIO(t.channels, t.num_classes, t.size // fs, t.size) for t in tasks)
    lay = checked(", ".join(t.name for t in tasks), spec, io, len(sizes), sizes, rule, bn)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = DVNNet.from_layout(lay)
    net.info = {"tasks": [t.info() for t in tasks]}
    return net


def _check_net(net, tasks: list[Task]) -> None:
    if len(net.tasks) != len(tasks):
        raise ValueError(f"the network has {len(net.tasks)} tasks but {len(tasks)} were given: pass the tasks it "
                         "was built from (dvnlib.build(tasks))")
    for i, (io, t) in enumerate(zip(net.tasks, tasks), 1):
        have, want = (io.in_channels, io.input_size, io.num_classes), (t.channels, t.size, t.num_classes)
        if have != want:
            raise ValueError(f"task {i} ({t.name!r}) has {want[0]} x {want[1]} px images and {want[2]} classes, but "
                             f"the network's task {i} takes {have[0]} x {have[1]} px and {have[2]} classes: build "
                             "the network from these tasks (dvnlib.build(tasks))")


def _weights_digest(net) -> str:
    h = hashlib.sha256()
    for k, v in net.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def fit(net, tasks, epochs: int = RECIPE.epochs, seed: int = 0, *, checkpoints=None, progress: bool = True,
        **settings):
    """Train every (task, level) output of ``net`` jointly (eq. 4) on ``tasks``' training splits
    for ``epochs`` passes over each, with the library's recipe (``RECIPE``; ``settings`` replace
    any of ``FIT_SETTINGS``, e.g. ``lr=0.01``), batches drawn by ``seed``, where ``net`` lives.

    ``checkpoints``: a folder to checkpoint each epoch in, so that the same call resumes after an
    interruption and returns at once once finished; under it, a subfolder per key (the data, the
    starting weights, the layout, the settings, the seed, the code). None: a temporary folder.
    Returns ``net``, trained, in eval mode; a non-finite loss raises ``train.Diverged``."""
    from .request import SEED_LIMIT, check_settings
    from .train import TrainContext, train_outputs
    tasks = _tasks(tasks)
    _check_net(net, tasks)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    profile = dataclasses.replace(RECIPE, **check_settings({"epochs": epochs, **settings}, FIT_SETTINGS))
    key = R.config_key({"data": [t.digest for t in tasks], "start": _weights_digest(net),
                        "layout": dataclasses.asdict(net.layout), "settings": dataclasses.asdict(profile),
                        "seed": seed, "code": provenance.code_version(fit)})
    device = next(net.parameters()).device
    folder = tempfile.TemporaryDirectory() if checkpoints is None else contextlib.nullcontext(checkpoints)
    with folder as root:
        ctx = TrainContext(profile, seed, device, [t.train for t in tasks], [t.test for t in tasks],
                           Path(root) / key, key, progress, label=f"{', '.join(t.name for t in tasks)} seed {seed}")
        train_outputs(ctx, STAGE, net, net.outputs)
    return net.eval()


def evaluate(net, tasks, batch_size: int = 256):
    """A pandas table, one row per (task, level) of ``net``: ``task`` (its name), ``level``,
    ``params`` (what the output uses, as ``dvnlib.summary`` counts) and ``accuracy`` (percent of
    the task's test split, in eval mode, where ``net`` lives)."""
    import pandas as pd

    from .accounting import costs
    from .data import test_batches
    from .train import evaluate as counts
    tasks = _tasks(tasks)
    _check_net(net, tasks)
    device = next(net.parameters()).device
    found = counts(net, {i: test_batches(t.test, batch_size, device) for i, t in enumerate(tasks, 1)})
    rows = [{"task": tasks[c.task - 1].name, "level": c.level, "params": c.params,
             "accuracy": 100 * found[(c.task, c.level)][0] / found[(c.task, c.level)][1]} for c in costs(net.layout)]
    return pd.DataFrame(rows, columns=["task", "level", "params", "accuracy"])
