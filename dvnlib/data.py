"""Datasets as one uint8 tensor per task, and training batches made whole on the device.

Every task in the study is small images (28 to 96 px), so a task's split fits in memory as a
single uint8 tensor ``[N, C, H, W]``, resized once at load to the task's input size. Training
batches are gathered from that tensor by index and augmented as a whole batch where the tensor
lives (random crop with zero padding, horizontal flip, normalisation), as fast small-image
training code does: no per-sample PIL transforms and no DataLoader workers, and on a GPU only
indices and a few random offsets travel to the device.

Batches are a pure function of ``(seed, task_index, step)`` (:class:`TrainStream`), so a run
resumed from a checkpoint at step s sees exactly the batches an uninterrupted run saw, and every
random draw is made on the CPU so that a batch is the same on every device.

Readers: torchvision's for CIFAR-10/100, STL-10 and Fashion-MNIST (``download=False`` unless
asked: nothing is fetched behind the caller's back), and our own for the official Tiny-ImageNet
zip layout, whose 110,000 JPEGs are decoded once and cached as ``.npz`` under
``<root>/tiny-imagenet-200/.dvn_cache/``. Missing or incomplete data raises
:class:`DatasetMissing`, whose message says where it looked and how to get the data; a file that
is there but malformed (a wrong magic number or size, a truncated file, an undecodable image)
raises its subclass :class:`DatasetCorrupt`, which names the file. So does a well-formed split
that cannot train or score a task: one that lacks a class of the task (or all of its images), gives
labels outside the task's classes, or whose images are all blank; each is found when the data is
loaded, before any training.

Normalisation uses the statistics of the dataset's whole training split (all classes, native
size, after channel conversion): every task of one dataset, and its test split, is normalised
the same way whatever its class subset or ``limit``.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from .results import atomic_write
from .scenarios import TaskDef

DATASETS = ("fashion_mnist", "cifar10", "cifar100", "stl10", "tiny_imagenet")
SPLITS = ("train", "test")

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"

# The folder each reader looks in, relative to the data root (torchvision's names, and the zip's).
_FOLDERS = {"fashion_mnist": "FashionMNIST/raw", "cifar10": "cifar-10-batches-py",
            "cifar100": "cifar-100-python", "stl10": "stl10_binary",
            "tiny_imagenet": "tiny-imagenet-200"}
_NUM_LABELS = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "stl10": 10}
# Each dataset's images as its files hold them: (channels, side in pixels).
NATIVE = {"fashion_mnist": (1, 28), "cifar10": (3, 32), "cifar100": (3, 32), "stl10": (3, 96),
          "tiny_imagenet": (3, 64)}
_CIFAR100_COARSE = 20

# Independent random streams derived from one seed (see _seed).
_LIMIT, _ORDER, _AUGMENT = 0, 1, 2


def data_root(root: str | os.PathLike | None = None) -> Path:
    """``root`` if given, else ``$DVN_DATA``, else ``Path('data')``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("DVN_DATA") or "data")


class DatasetMissing(FileNotFoundError):
    """A dataset is not where it was looked for, or is incomplete; the message names the
    dataset, the exact path looked in, and how to obtain it."""


class DatasetCorrupt(DatasetMissing):
    """A dataset file is present but malformed: the message names the file, what is wrong with
    it and how to get a good copy. A subclass of ``DatasetMissing``, so one ``except`` catches both."""


def _missing(dataset: str, root: Path, detail: str = "") -> DatasetMissing:
    path = root / _FOLDERS[dataset]
    reason = f" ({detail})" if detail else ""
    return DatasetMissing(f"{dataset} not found or incomplete in {path}{reason}. {_how(dataset, root)}")


def _corrupt(dataset: str, root: Path, file: Path, detail: str) -> DatasetCorrupt:
    return DatasetCorrupt(f"{file} is not a valid {dataset} file ({detail}). Replace it with a good copy: "
                          f"{_how(dataset, root)}")


def _how(dataset: str, root: Path) -> str:
    return {
        "fashion_mnist": (
            "torchvision's FashionMNIST reads the four decompressed files train-images-idx3-ubyte, "
            "train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte there. "
            f"Install them offline with `bash scripts/get_fashion_mnist.sh {root}` (Debian package "
            "dataset-fashion-mnist), or pass download=True when online."),
        "cifar10": (
            "torchvision's CIFAR10 expects the folder cifar-10-batches-py (data_batch_1..5, "
            "test_batch, batches.meta, with their official MD5 sums) in the data root: pass "
            "download=True when online, or unpack "
            f"https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz in {root}."),
        "cifar100": (
            "torchvision's CIFAR100 expects the folder cifar-100-python (train, test, meta, with "
            "their official MD5 sums) in the data root: pass download=True when online, or unpack "
            f"https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz in {root}."),
        "stl10": (
            "torchvision's STL10 expects the folder stl10_binary in the data root, with train_X.bin, "
            "train_y.bin, test_X.bin, test_y.bin and also unlabeled_X.bin, whose MD5 sum it checks "
            "even for the labelled splits: pass download=True when online, or unpack "
            f"http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz in {root}."),
        "tiny_imagenet": (
            f"Unzip the official {TINY_IMAGENET_URL} in {root} (it creates tiny-imagenet-200/ with "
            "wnids.txt, train/<wnid>/images/*.JPEG, val/images/ and val/val_annotations.txt), "
            "or pass download=True when online."),
    }[dataset]


@dataclass
class TaskData:
    """One split of one task. ``x``: uint8 ``[N, C, H, W]`` at the task's input size; ``y``:
    int64 ``[N]`` in 0..num_classes-1; ``mean``/``std``: per channel, in [0, 1] pixel units."""
    x: torch.Tensor
    y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]


class _Raw(NamedTuple):
    x: torch.Tensor  # uint8 [N, C, H, W] at the dataset's native size
    labels: torch.Tensor  # int64 [N]: the label kind the task asked for (fine or coarse)
    fine: torch.Tensor  # int64 [N]: the finest labels, which a limited subset is stratified by
    num_labels: int  # how many distinct values ``labels`` can take


# ---------------------------------------------------------------------------------------------
# Readers


_T = TypeVar("_T")


def _torchvision(dataset: str, root: Path, make: Callable[[], _T]) -> _T:
    """Build a torchvision dataset; its RuntimeError ("not found or corrupted", or a failed
    download) becomes DatasetMissing with our explanation."""
    try:
        return make()
    except RuntimeError as e:
        raise _missing(dataset, root, str(e)) from e


# idx files (LeCun's MNIST format): magic 0x00000803 / 0x00000801 (unsigned bytes, 3 / 1
# dimensions), then each dimension as a big-endian uint32, then the bytes.
_IDX = {"images": (0x803, 3), "labels": (0x801, 1)}


def _check_idx(root: Path, path: Path, kind: str) -> list[int] | None:
    """The dimensions in ``path``'s header, checked against its magic number and its size without
    reading the data; None where the file is absent (torchvision then says it is missing)."""
    magic, ndim = _IDX[kind]
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(4 + 4 * ndim)
    except FileNotFoundError:
        return None

    def bad(detail: str) -> DatasetCorrupt:
        return _corrupt("fashion_mnist", root, path, detail)
    if len(head) < 4 + 4 * ndim:
        raise bad(f"{size} bytes: too short for an idx header")
    found, *dims = struct.unpack(f">{1 + ndim}I", head)
    if found != magic:
        raise bad(f"magic number {found:#010x}, expected {magic:#010x} for idx {kind}"
                  + ("; is it still gzip-compressed?" if head[:2] == b"\x1f\x8b" else ""))
    if kind == "images" and dims[1:] != [28, 28]:
        raise bad(f"images of {dims[1]}x{dims[2]} px, expected 28x28")
    expected = len(head) + int(np.prod(dims, dtype=np.int64))
    if size != expected:
        raise bad(f"{size} bytes, but its header promises {' x '.join(map(str, dims))} values "
                  f"({expected} bytes): truncated or padded")
    return dims


def _read_fashion_mnist(root: Path, split: str, download: bool) -> _Raw:
    from torchvision.datasets import FashionMNIST
    raw = root / _FOLDERS["fashion_mnist"]
    prefix = "train" if split == "train" else "t10k"
    images = _check_idx(root, raw / f"{prefix}-images-idx3-ubyte", "images")
    labels = _check_idx(root, raw / f"{prefix}-labels-idx1-ubyte", "labels")
    if images and labels and images[0] != labels[0]:
        raise _corrupt("fashion_mnist", root, raw / f"{prefix}-labels-idx1-ubyte",
                       f"{labels[0]} labels for {images[0]} images in {prefix}-images-idx3-ubyte")
    ds = _torchvision("fashion_mnist", root, lambda: FashionMNIST(
        str(root), train=split == "train", download=download))
    y = ds.targets.long()
    if len(y) and not 0 <= int(y.min()) <= int(y.max()) < _NUM_LABELS["fashion_mnist"]:
        raise _corrupt("fashion_mnist", root, raw / f"{prefix}-labels-idx1-ubyte",
                       f"labels {int(y.min())}..{int(y.max())}, expected 0..9")
    return _Raw(ds.data.unsqueeze(1), y, y, _NUM_LABELS["fashion_mnist"])


def _read_cifar(dataset: str, root: Path, split: str, download: bool, coarse: bool) -> _Raw:
    from torchvision.datasets import CIFAR10, CIFAR100
    cls = CIFAR10 if dataset == "cifar10" else CIFAR100
    ds = _torchvision(dataset, root, lambda: cls(str(root), train=split == "train",
                                                 download=download))
    x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # torchvision keeps HWC
    fine = torch.tensor(ds.targets, dtype=torch.int64)
    if not coarse:
        return _Raw(x, fine, fine, _NUM_LABELS[dataset])
    # torchvision keeps only the fine labels; the coarse ones are in the same (already verified)
    # pickle, which the official files store as Python 2 strings, hence latin1.
    name = (cls.train_list if split == "train" else cls.test_list)[0][0]
    with open(root / _FOLDERS[dataset] / name, "rb") as f:
        entry = pickle.load(f, encoding="latin1")
    return _Raw(x, torch.tensor(entry["coarse_labels"], dtype=torch.int64), fine, _CIFAR100_COARSE)


def _read_stl10(root: Path, split: str, download: bool) -> _Raw:
    from torchvision.datasets import STL10
    ds = _torchvision("stl10", root, lambda: STL10(str(root), split=split, download=download))
    y = torch.from_numpy(ds.labels.astype(np.int64))
    return _Raw(torch.from_numpy(ds.data).contiguous(), y, y, _NUM_LABELS["stl10"])


def _text(path: Path, root: Path) -> str:
    try:
        return path.read_text()
    except UnicodeDecodeError as e:  # its message names no file
        raise _corrupt("tiny_imagenet", root, path, f"not text: {e.reason} at byte {e.start}") from None


def _tiny_index(base: Path, root: Path, split: str) -> tuple[list[str], list[Path], list[int]]:
    """wnids (class order), image files and labels of a Tiny-ImageNet split; 'test' is the
    labelled val split (the zip's test/ has no labels)."""
    def fail(detail: str) -> DatasetMissing:
        return _missing("tiny_imagenet", root, detail)

    wnids_file = base / "wnids.txt"
    if not wnids_file.is_file():
        raise fail(f"no {wnids_file}")
    wnids = [w.strip() for w in _text(wnids_file, root).splitlines() if w.strip()]
    label_of = {w: i for i, w in enumerate(wnids)}
    files: list[Path] = []
    labels: list[int] = []
    if split == "train":
        for i, w in enumerate(wnids):
            images = sorted((base / "train" / w / "images").glob("*.JPEG"))
            if not images:
                raise fail(f"no images in {base / 'train' / w / 'images'}")
            files += images
            labels += [i] * len(images)
    else:
        annotations = base / "val" / "val_annotations.txt"
        if not annotations.is_file():
            raise fail(f"no {annotations}")
        for line in _text(annotations, root).splitlines():
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) < 2:
                raise _corrupt("tiny_imagenet", root, annotations, f"line {line[:60]!r} has no tab-separated class")
            name, wnid = parts[:2]
            if wnid not in label_of:
                raise fail(f"{annotations} names {wnid}, which is not in wnids.txt")
            files.append(base / "val" / "images" / name)
            labels.append(label_of[wnid])
        if not files:
            raise fail(f"{annotations} lists no images")
        absent = [f for f in files if not f.is_file()]
        if absent:
            raise fail(f"{len(absent)} annotated images missing, e.g. {absent[0]}")
    return wnids, files, labels


def _decode_jpegs(files: list[Path], root: Path) -> np.ndarray:
    from PIL import Image
    first: tuple[int, ...] = ()
    out: np.ndarray | None = None
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                a = np.asarray(im.convert("RGB"))  # a few official JPEGs are greyscale
        except OSError as e:  # PIL's "cannot identify image file", "image file is truncated"
            raise _corrupt("tiny_imagenet", root, path, f"cannot be decoded: {e}") from None
        if out is None:
            first = a.shape
            out = np.empty((len(files), *a.shape), dtype=np.uint8)
        elif a.shape != first:
            raise _corrupt("tiny_imagenet", root, path, f"{a.shape[1]}x{a.shape[0]} px, not "
                           f"{first[1]}x{first[0]} like the other Tiny-ImageNet images")
        out[i] = a
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _read_tiny_imagenet(root: Path, split: str, download: bool) -> _Raw:
    base = root / _FOLDERS["tiny_imagenet"]
    if download and not (base / "wnids.txt").is_file():
        from torchvision.datasets.utils import download_and_extract_archive
        download_and_extract_archive(TINY_IMAGENET_URL, str(root), md5=TINY_IMAGENET_MD5)
    wnids, files, labels = _tiny_index(base, root, split)
    # The cache is named by what it holds, so a changed or completed extraction is re-decoded.
    key = hashlib.sha1("\n".join([*wnids, *(f"{f.relative_to(base)}\t{y}" for f, y in
                                            zip(files, labels))]).encode()).hexdigest()[:16]
    cache_dir = base / ".dvn_cache"
    cache = cache_dir / f"{split}-{key}.npz"
    x = y = None
    if cache.is_file():
        try:
            with np.load(cache) as z:
                x, y = z["x"], z["y"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            # Only a cache of the JPEGs: decoded again and rewritten.
            warnings.warn(f"unreadable Tiny-ImageNet cache {cache} ({e}): decoding the images again")
            x = y = None
    if x is None or y is None or len(x) != len(files):
        x, y = _decode_jpegs(files, root), np.asarray(labels, dtype=np.int64)
        _write_cache(cache, split, x, y)
    yt = torch.from_numpy(y)
    return _Raw(torch.from_numpy(x), yt, yt, len(wnids))


def _write_cache(cache: Path, split: str, x: np.ndarray, y: np.ndarray) -> None:
    """Write atomically (a reader never sees half a file), drop this split's stale caches, and
    carry on uncached where the data folder is read-only."""
    try:
        atomic_write(cache, lambda f: np.savez(f, x=x, y=y))
        for stale in cache.parent.glob(f"{split}-*.npz"):
            if stale != cache:
                stale.unlink()
    except OSError as e:
        warnings.warn(f"could not cache decoded Tiny-ImageNet in {cache.parent}: {e}")


def _read(dataset: str, split: str, root: Path, download: bool, coarse: bool = False) -> _Raw:
    if dataset == "fashion_mnist":
        return _read_fashion_mnist(root, split, download)
    if dataset in ("cifar10", "cifar100"):
        return _read_cifar(dataset, root, split, download, coarse)
    if dataset == "stl10":
        return _read_stl10(root, split, download)
    return _read_tiny_imagenet(root, split, download)


# ---------------------------------------------------------------------------------------------
# From a dataset to a task


def _seed(stream: int, *parts: int) -> int:
    """A 64-bit seed for one random stream, mixed from non-negative integers (numpy's
    SeedSequence, so that nearby seeds and steps give unrelated streams)."""
    if any(p < 0 for p in parts):
        raise ValueError(f"seeds, task indices and steps must be non-negative, got {parts}")
    return int(np.random.SeedSequence((stream, *parts)).generate_state(1, np.uint64)[0])


def _generator(stream: int, *parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(stream, *parts))


def _relabel(task: TaskDef, labels: torch.Tensor, num_labels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the images the task keeps, and their task labels."""
    if task.classes is not None:
        groups = tuple((c,) for c in task.classes)
    elif task.groups is not None:
        groups = task.groups
    else:
        if task.num_classes != num_labels:
            raise ValueError(f"task {task.name!r} has num_classes={task.num_classes} but "
                             f"{task.dataset} has {num_labels} labels; list classes or groups")
        return torch.arange(len(labels)), labels.clone()
    listed = [c for g in groups for c in g]
    if len(set(listed)) != len(listed) or not all(0 <= c < num_labels for c in listed):
        raise ValueError(f"task {task.name!r}: classes/groups {groups} must be distinct labels "
                         f"in 0..{num_labels - 1}")
    table = torch.full((num_labels,), -1, dtype=torch.int64)
    for g, members in enumerate(groups):
        table[list(members)] = g
    new = table[labels]
    keep = torch.nonzero(new >= 0).flatten()
    return keep, new[keep]


def _stratified(strata: torch.Tensor, limit: int, seed: int) -> torch.Tensor:
    """Sorted positions of a fixed subset of ``limit`` images whose classes (``strata``) are as
    balanced as the data allows: images are taken in rounds, one per class per round, in a seeded
    random order within each class (and a seeded order of classes within a round). A class that
    runs out simply stops contributing, and a smaller limit gives a subset of a larger one."""
    n = len(strata)
    if limit >= n:
        return torch.arange(n)
    g = _generator(_LIMIT, seed)
    order = torch.randperm(n, generator=g)
    classes, by_class = torch.sort(strata[order], stable=True)
    counts = torch.bincount(classes)
    rank = torch.arange(n) - (torch.cumsum(counts, 0) - counts)[classes]
    class_order = torch.randperm(len(counts), generator=g)
    key = rank * len(counts) + class_order[classes]
    return order[by_class[torch.argsort(key)[:limit]]].sort().values


def _convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    if channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {channels}")
    if x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    from torchvision.transforms.v2.functional import rgb_to_grayscale
    return rgb_to_grayscale(x)


def _resize(x: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear, antialiased, uint8 in and out (torch's uint8 kernel, which matches PIL), in
    chunks so that the output is the only large allocation."""
    if tuple(x.shape[-2:]) == (size, size):
        return x
    out = torch.empty((len(x), x.shape[1], size, size), dtype=torch.uint8)
    for i in range(0, len(x), chunk):
        out[i:i + chunk] = F.interpolate(x[i:i + chunk], size=(size, size), mode="bilinear",
                                         antialias=True, align_corners=False)
    return out


def statistics(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Exact per-channel mean and (population) std in [0, 1] units, from 256-bin histograms
    rather than a float copy of the whole split."""
    values = torch.arange(256, dtype=torch.float64)
    mean, std = [], []
    for c in range(x.shape[1]):
        h = torch.bincount(x[:, c].reshape(-1), minlength=256).double()
        m = float(h @ values / h.sum())
        var = float(h @ (values * values) / h.sum()) - m * m
        mean.append(m / 255)
        std.append(max(var, 0.0) ** 0.5 / 255)
    return tuple(mean), tuple(std)


def load_task(task: TaskDef, split: str, root: str | os.PathLike | None = None,
              limit: int | None = None, seed: int = 0, download: bool = False, native: bool = False) -> TaskData:
    """One split (``'train'`` or ``'test'``) of a task, in memory, at its input size.

    Keeps ``task.classes`` (remapped to 0..n-1 in the order listed) or relabels by
    ``task.groups`` (coarse label g for every original label in ``groups[g]``); for cifar100 with
    ``task.label == 'coarse'`` the 20 CIFAR-100 superclasses are the labels (classes/groups then
    refer to them). Channels are converted to ``task.in_channels`` and images resized once to
    ``task.input_size`` (bilinear, antialiased, still uint8).

    ``limit`` keeps a fixed subset of that many images, balanced over the dataset's finest
    labels (so FH1's coarse and fine tasks, or H1's, keep the same images), chosen by ``seed``
    alone: pass the default 0 rather than a run's training seed, so that every seed of a study
    trains and tests on the same images.

    ``native=True`` returns the same images and labels at the dataset's native size (``NATIVE``),
    not resized: what a deployed model receives (``deploy.export``).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: valid splits are {', '.join(SPLITS)}")
    if task.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {task.dataset!r}: valid datasets are {', '.join(DATASETS)}")
    if task.label not in ("fine", "coarse") or (task.label == "coarse" and task.dataset != "cifar100"):
        raise ValueError(f"task {task.name!r}: label {task.label!r}: valid labels are 'fine', and "
                         "'coarse' for cifar100")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images or None, got {limit}")
    root = data_root(root)
    raw = _read(task.dataset, split, root, download, coarse=task.label == "coarse")
    train = raw if split == "train" else _read(task.dataset, "train", root, download)
    if len(train.x) == 0:
        raise DatasetCorrupt(f"the train split of {task.dataset} in {root / _FOLDERS[task.dataset]} has no "
                             f"images. Replace the files with a good copy: {_how(task.dataset, root)}")
    mean, std = statistics(_convert_channels(train.x, task.in_channels))
    if min(std) == 0:  # every pixel alike: normalising would divide by zero and train on NaN
        raise DatasetCorrupt(f"the train split of {task.dataset} in {root / _FOLDERS[task.dataset]} has "
                             f"per-channel std {std}: every image is blank. Replace the files with a good copy: "
                             f"{_how(task.dataset, root)}")
    keep, y = _relabel(task, raw.labels, raw.num_labels)
    _check_classes(task, split, root, y)
    if limit is not None:
        chosen = _stratified(raw.fine[keep], limit, seed)
        keep, y = keep[chosen], y[chosen]
        absent = _absent(y, task.num_classes)
        if absent:
            raise ValueError(f"a limit of {limit} images keeps no {split} images of task {task.name!r}'s "
                             f"class{'es' * (len(absent) > 1)} {_names(task, absent)}: keep at least "
                             f"{task.num_classes} (train_per_task / test_per_task)")
    x = _convert_channels(raw.x[keep], task.in_channels)
    return TaskData((x if native else _resize(x, task.input_size)).contiguous(), y, mean, std)


def _absent(y: torch.Tensor, num_classes: int) -> list[int]:
    return torch.nonzero(torch.bincount(y, minlength=num_classes)[:num_classes] == 0).flatten().tolist()


def _names(task: TaskDef, classes: list[int]) -> str:
    """Task classes with the dataset labels they stand for, e.g. ``3 (label 8)``."""
    members = (tuple((c,) for c in task.classes) if task.classes is not None else task.groups)
    return ", ".join(f"{c} (label{'s' * (len(members[c]) > 1)} {','.join(map(str, members[c]))})"
                     if members is not None else str(c) for c in classes)


def _check_classes(task: TaskDef, split: str, root: Path, y: torch.Tensor) -> None:
    """Every class of ``task`` present in this split, and no label outside them: a split that lacks
    a class trains and then cannot score it, and well-formed files can still lack one."""
    folder = root / _FOLDERS[task.dataset]
    how = f"Replace the files with a good copy: {_how(task.dataset, root)}"
    if len(y) == 0:
        raise DatasetCorrupt(f"the {split} split of {task.dataset} in {folder} has no images of task "
                             f"{task.name!r}. {how}")
    if int(y.min()) < 0 or int(y.max()) >= task.num_classes:
        raise DatasetCorrupt(f"the {split} split of {task.dataset} in {folder} gives task {task.name!r} labels "
                             f"{int(y.min())}..{int(y.max())}, outside its {task.num_classes} classes. {how}")
    absent = _absent(y, task.num_classes)
    if absent:
        raise DatasetCorrupt(f"the {split} split of {task.dataset} in {folder} has no images of task "
                             f"{task.name!r}'s class{'es' * (len(absent) > 1)} {_names(task, absent)}. {how}")


def subset(data: TaskData, limit: int, seed: int = 0) -> TaskData:
    """A fixed subset of ``limit`` images of ``data``, balanced over its labels (``_stratified``),
    the same for every run: what a network's training accuracy is measured on."""
    if limit >= len(data.y):
        return data
    keep = _stratified(data.y, limit, seed)
    return TaskData(data.x[keep], data.y[keep], data.mean, data.std)


# ---------------------------------------------------------------------------------------------
# Batches


def _affine(data: TaskData, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(x / 255 - mean) / std as x * scale + shift, per channel."""
    mean = torch.tensor(data.mean, dtype=torch.float32)
    std = torch.tensor(data.std, dtype=torch.float32)
    scale, shift = 1 / (255 * std), -mean / std
    return scale.view(-1, 1, 1).to(device), shift.view(-1, 1, 1).to(device)


def _normalise(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    return x.float().mul_(scale).add_(shift)


def _crop_flip(x: torch.Tensor, pad: int, g: torch.Generator) -> torch.Tensor:
    """Random crop of the zero-padded images and random horizontal flip, for the whole uint8 batch
    at once. Zero is a black pixel, as torchvision's RandomCrop(padding=pad) pads."""
    b, _, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (2, b), generator=g)
    flips = torch.randint(0, 2, (1, b), generator=g)
    oy, ox, flip = torch.cat([offsets, flips]).to(x.device)  # one small transfer
    if pad:
        # Every window of the padded batch is a view; one gather picks each image's window.
        windows = F.pad(x, (pad, pad, pad, pad)).unfold(2, h, 1).unfold(3, w, 1)
        x = windows[torch.arange(b, device=x.device), :, oy, ox]
    return torch.where(flip.bool().view(-1, 1, 1, 1), x.flip(-1), x)


class TrainStream:
    """Stateless, resumable training batches for one task.

    ``batch(step)`` depends only on ``(seed, task_index, step)``: pass ``p = step //
    steps_per_pass`` visits the images in a permutation seeded by ``(seed, task_index, p)``, and
    the crops and flips of a step are seeded by ``(seed, task_index, step)``. A run resumed at
    step s therefore sees exactly the batches an uninterrupted run saw, whatever was drawn
    before. A task smaller than others simply starts a new pass (callers define an epoch by the
    largest task).

    Each pass drops its last partial batch, so that every step has the same batch size;
    a task with fewer images than ``batch_size`` gives batches of all its images
    (``batch_size`` is then N). The uint8 images move to ``device`` once, here.
    """

    def __init__(self, data: TaskData, batch_size: int, device: str | torch.device = "cpu",
                 seed: int = 0, task_index: int = 0, augment: bool = True,
                 pad: int | None = None):
        n = len(data.y)
        if n == 0:
            raise ValueError("a TrainStream needs at least one image")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        self.device = torch.device(device)
        self.x = data.x.to(self.device)
        self.y = data.y.to(self.device)
        self.batch_size = min(batch_size, n)
        self.steps_per_pass = n // self.batch_size
        self.seed = seed
        self.task_index = task_index
        self.augment = augment
        self.pad = data.x.shape[-1] // 8 if pad is None else pad
        if self.pad < 0:
            raise ValueError(f"pad must be non-negative, got {pad}")
        _seed(_ORDER, seed, task_index)  # reject a negative seed or task index now, not mid-run
        self._scale, self._shift = _affine(data, self.device)
        self._pass = -1
        self._order = torch.empty(0, dtype=torch.int64)

    def _permutation(self, p: int) -> torch.Tensor:
        # Kept for the current pass only: a cache, not state, since it is recomputed on demand.
        if p != self._pass:
            g = _generator(_ORDER, self.seed, self.task_index, p)
            self._order = torch.randperm(len(self.y), generator=g).to(self.device)
            self._pass = p
        return self._order

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """float32 ``[B, C, H, W]`` normalised images and int64 ``[B]`` labels, on the device."""
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        p, i = divmod(step, self.steps_per_pass)
        idx = self._permutation(p)[i * self.batch_size:(i + 1) * self.batch_size]
        x = self.x.index_select(0, idx)
        if self.augment:
            x = _crop_flip(x, self.pad, _generator(_AUGMENT, self.seed, self.task_index, step))
        return _normalise(x, self._scale, self._shift), self.y.index_select(0, idx)


def test_batches(data: TaskData, batch_size: int,
                 device: str | torch.device = "cpu") -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The whole split in order, normalised, not augmented; the last batch may be smaller."""
    device = torch.device(device)
    scale, shift = _affine(data, device)
    for i in range(0, len(data.y), batch_size):
        x = data.x[i:i + batch_size].to(device)
        yield _normalise(x, scale, shift), data.y[i:i + batch_size].to(device)


# Its name starts with "test": without this, pytest would try to collect it as a test in any test
# module that imports it by name.
test_batches.__test__ = False  # type: ignore[attr-defined]
