"""Readers, task relabelling, stratified limits and training batches (dvnlib/data.py).

Every reader is tested on small files that the tests write themselves in the exact official
formats (CIFAR's Python 2 pickles, STL-10's column-major binaries, Tiny-ImageNet's folders and
JPEGs, Fashion-MNIST's idx files), so nothing here needs a download or the network. One test
reads the real Fashion-MNIST when it is installed.
"""
from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.datasets.cifar
import torchvision.datasets.stl10
from PIL import Image

from dvnlib import data as D
from dvnlib import scenarios as S
from dvnlib.scenarios import TaskDef


# ---------------------------------------------------------------------------------------------
# Writers of the official formats


class _Py2Str(bytes):
    """A Python 2 ``str``. The official CIFAR pickles were written by Python 2, so their keys and
    names are BINSTRING opcodes, which Python 3 returns as ``str`` under torchvision's
    ``encoding='latin1'`` and as ``bytes`` (``b'data'``) under ``encoding='bytes'``."""


class _Py2Pickler(pickle._Pickler):
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: _Py2Str) -> None:
        n = len(obj)
        head = (pickle.SHORT_BINSTRING + bytes([n]) if n < 256
                else pickle.BINSTRING + struct.pack("<i", n))
        self.write(head + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = _save_py2_str


def _py2_pickle(path: Path, entry: dict) -> None:
    def py2(v):
        if isinstance(v, str):
            return _Py2Str(v.encode("latin1"))
        if isinstance(v, list) and v and isinstance(v[0], str):
            return [py2(s) for s in v]
        return v
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump({py2(k): py2(v) for k, v in entry.items()})


def _pattern(n: int, size: int) -> np.ndarray:
    """uint8 [n, 3, size, size]: red = 2 x row, green = 2 x column, blue = image index, so that a
    reader that swaps rows and columns, or channels, or images, is caught."""
    r = np.arange(size, dtype=np.uint8) * 2
    x = np.empty((n, 3, size, size), dtype=np.uint8)
    x[:, 0] = r[:, None]
    x[:, 1] = r[None, :]
    x[:, 2] = np.arange(n, dtype=np.uint8)[:, None, None]
    return x


def _write_cifar10(root: Path) -> dict[str, tuple[np.ndarray, list[int]]]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    splits = {}
    for name, n in [*((f"data_batch_{b}", 10) for b in range(1, 6)), ("test_batch", 20)]:
        x = _pattern(n, 32)
        labels = [(i * 3) % 10 for i in range(n)]
        _py2_pickle(folder / name, {"batch_label": f"{name} of 5", "labels": labels,
                                    "data": x.reshape(n, 3072),
                                    "filenames": [f"img_{i}.png" for i in range(n)]})
        splits[name] = (x, labels)
    _py2_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)],
                                          "num_cases_per_batch": 10, "num_vis": 3072})
    return splits


def _write_cifar100(root: Path) -> None:
    """2 train and 1 test image per fine class; coarse label fine // 5 (the real mapping
    differs, which does not matter to a reader)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, per in (("train", 2), ("test", 1)):
        fine = [c for _ in range(per) for c in range(100)]
        x = _pattern(len(fine), 32)
        _py2_pickle(folder / name, {"filenames": [f"{i}.png" for i in range(len(fine))],
                                    "batch_label": name, "fine_labels": fine,
                                    "coarse_labels": [c // 5 for c in fine],
                                    "data": x.reshape(len(fine), 3072)})
    _py2_pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                                  "coarse_label_names": [f"c{i}" for i in range(20)]})


def _write_stl10(root: Path) -> None:
    """STL-10 stores each image channel by channel, each channel column-major, labels 1..10."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    for split, n in (("train", 20), ("test", 10)):
        x = _pattern(n, 96)
        (folder / f"{split}_X.bin").write_bytes(x.transpose(0, 1, 3, 2).tobytes())
        (folder / f"{split}_y.bin").write_bytes(bytes(1 + i % 10 for i in range(n)))
    # torchvision requires the unlabelled file to exist even for the labelled splits.
    (folder / "unlabeled_X.bin").write_bytes(_pattern(1, 96).tobytes())
    (folder / "class_names.txt").write_text("".join(f"class{i}\n" for i in range(10)))


def _write_idx(path: Path, a: np.ndarray) -> None:
    # idx: two zero bytes, type 0x08 (unsigned byte), number of dimensions, big-endian sizes.
    path.write_bytes(struct.pack(">HBB", 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
                     + a.astype(np.uint8).tobytes())


FM_TRAIN_COUNTS = (6,) * 9 + (2,)  # class 9 is short, for the stratified limit


def _write_fashion_mnist(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Image k of a split is constant 4k (train) or 5k + 3 (test), labels interleaved."""
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    train_y = np.concatenate([np.full(n, c) for c, n in enumerate(FM_TRAIN_COUNTS)])
    train_y = train_y[np.random.default_rng(0).permutation(len(train_y))]
    test_y = np.tile(np.arange(10), 2)
    splits = {}
    for prefix, y, value in (("train", train_y, lambda k: 4 * k), ("t10k", test_y, lambda k: 5 * k + 3)):
        x = np.stack([np.full((28, 28), value(k)) for k in range(len(y))]).astype(np.uint8)
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
        splits[prefix] = (x, y)
    return splits


TINY_WNIDS = ("n01443537", "n01629819", "n01641577")
TINY_COLOURS = ((200, 30, 30), (30, 200, 30), (30, 30, 200))


def _write_tiny_imagenet(root: Path) -> Path:
    """3 classes, 4 train images each (one greyscale JPEG, as in the real data), 2 val each."""
    base = root / "tiny-imagenet-200"
    (base / "val" / "images").mkdir(parents=True)
    (base / "wnids.txt").write_text("".join(f"{w}\n" for w in TINY_WNIDS))
    for c, w in enumerate(TINY_WNIDS):
        images = base / "train" / w / "images"
        images.mkdir(parents=True)
        for i in range(4):
            im = Image.new("RGB", (64, 64), TINY_COLOURS[c])
            if c == 2 and i == 0:
                im = Image.new("L", (64, 64), 90)
            im.save(images / f"{w}_{i}.JPEG", quality=95)
    lines = []
    for k, c in enumerate((2, 0, 1, 1, 0, 2)):
        Image.new("RGB", (64, 64), TINY_COLOURS[c]).save(base / "val" / "images" / f"val_{k}.JPEG")
        lines.append(f"val_{k}.JPEG\t{TINY_WNIDS[c]}\t0\t0\t63\t63\n")
    (base / "val" / "val_annotations.txt").write_text("".join(lines))
    return base


@pytest.fixture
def no_md5(monkeypatch):
    """torchvision checks CIFAR's and STL-10's files against the MD5 sums of the real archives,
    which files written by a test cannot match. Replace the check by the one torchvision itself
    makes when it has no checksum: that the file exists. Missing files are still caught."""
    def exists(fpath, md5=None):
        return os.path.isfile(fpath)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", exists)
    monkeypatch.setattr(torchvision.datasets.stl10, "check_integrity", exists)


def _fm(classes=None, groups=None, size=32, n=None, name="t") -> TaskDef:
    n = n or (len(classes) if classes else len(groups) if groups else 10)
    return TaskDef(name, "fashion_mnist", n, size, in_channels=1, classes=classes, groups=groups)


# ---------------------------------------------------------------------------------------------
# Readers and relabelling


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("DVN_DATA", raising=False)
    assert D.data_root() == Path("data")
    monkeypatch.setenv("DVN_DATA", str(tmp_path))
    assert D.data_root() == tmp_path
    assert D.data_root("elsewhere") == Path("elsewhere")


def test_fashion_mnist_labels_subsets_and_statistics(tmp_path):
    files = _write_fashion_mnist(tmp_path)
    x28, y = files["train"]
    fine = D.load_task(S.get("FH1").tasks[1], "train", root=tmp_path)
    assert fine.x.dtype == torch.uint8 and fine.x.shape == (len(y), 1, 32, 32)
    assert fine.y.dtype == torch.int64 and fine.y.tolist() == y.tolist()
    # Constant images stay constant through the resize, so each image is identifiable.
    assert fine.x[:, 0, 0, 0].tolist() == x28[:, 0, 0].tolist()
    assert (fine.x == fine.x[:, :, :1, :1]).all()
    assert fine.mean[0] == pytest.approx(x28.mean() / 255)
    assert fine.std[0] == pytest.approx(x28.std() / 255)

    second = D.load_task(S.get("FJ1").tasks[1], "train", root=tmp_path)  # classes 5..9
    keep = y >= 5
    assert second.y.tolist() == (y[keep] - 5).tolist()
    assert second.x[:, 0, 0, 0].tolist() == x28[keep, 0, 0].tolist()  # dataset order kept

    reordered = D.load_task(_fm(classes=(7, 2)), "train", root=tmp_path)
    assert sorted(set(reordered.y.tolist())) == [0, 1]
    assert reordered.y.tolist() == [0 if c == 7 else 1 for c in y if c in (7, 2)]

    coarse_task = S.get("FH1").tasks[0]
    coarse = D.load_task(coarse_task, "test", root=tmp_path)
    group_of = {c: g for g, members in enumerate(coarse_task.groups) for c in members}
    assert coarse.y.tolist() == [group_of[c] for c in files["t10k"][1]]
    # A test split is normalised with its training split's statistics.
    assert (coarse.mean, coarse.std) == (fine.mean, fine.std)


@pytest.mark.parametrize("task", S.get("FJ3").tasks, ids=lambda t: f"{t.input_size}px")
def test_fashion_mnist_resized_to_each_input_size(tmp_path, task):
    _write_fashion_mnist(tmp_path)
    d = D.load_task(task, "test", root=tmp_path)
    assert d.x.shape == (2 * len(task.classes), 1, task.input_size, task.input_size)
    assert d.x.dtype == torch.uint8
    assert set(d.y.tolist()) == set(range(len(task.classes)))


def test_stratified_limit_is_balanced_nested_and_deterministic(tmp_path):
    _write_fashion_mnist(tmp_path)
    task = S.get("FH1").tasks[1]
    a = D.load_task(task, "train", root=tmp_path, limit=30)
    counts = torch.bincount(a.y, minlength=10)
    assert counts.sum() == 30
    assert counts[9] == 2  # short class: all it has
    assert counts[:9].max() - counts[:9].min() <= 1
    b = D.load_task(task, "train", root=tmp_path, limit=30)
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    ids = lambda d: set(d.x[:, 0, 0, 0].tolist())  # noqa: E731  (train images are distinct)
    assert ids(D.load_task(task, "train", root=tmp_path, limit=20)) < ids(a)
    assert ids(D.load_task(task, "train", root=tmp_path, limit=30, seed=1)) != ids(a)
    # The coarse task is balanced over the fine labels, so it keeps the same images.
    coarse = D.load_task(S.get("FH1").tasks[0], "train", root=tmp_path, limit=30)
    assert ids(coarse) == ids(a)
    assert len(D.load_task(task, "train", root=tmp_path, limit=10_000).y) == sum(FM_TRAIN_COUNTS)


def test_cifar10(tmp_path, no_md5):
    files = _write_cifar10(tmp_path)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        assert b"data" in pickle.load(f, encoding="bytes")  # the fixture is the official format
    train = D.load_task(S.get("J1").tasks[0], "train", root=tmp_path)
    assert train.x.shape == (50, 3, 32, 32)
    assert train.y.tolist() == [c for b in range(1, 6) for c in files[f"data_batch_{b}"][1]]
    assert torch.equal(train.x[:10], torch.from_numpy(files["data_batch_1"][0]))
    test = D.load_task(S.get("S1").tasks[1], "test", root=tmp_path)  # classes 5..9
    labels = np.array(files["test_batch"][1])
    assert test.y.tolist() == (labels[labels >= 5] - 5).tolist()
    assert test.x[:, 2, 0, 0].tolist() == np.flatnonzero(labels >= 5).tolist()
    assert len(train.mean) == len(train.std) == 3
    blue = np.concatenate([files[f"data_batch_{b}"][0][:, 2] for b in range(1, 6)])
    assert train.mean[2] == pytest.approx(blue.mean() / 255)
    assert train.std[2] == pytest.approx(blue.std() / 255)


def test_cifar100_fine_and_coarse(tmp_path, no_md5):
    _write_cifar100(tmp_path)
    coarse_task, fine_task = S.get("H1").tasks
    fine = D.load_task(fine_task, "train", root=tmp_path)
    coarse = D.load_task(coarse_task, "train", root=tmp_path)
    assert fine.y.tolist() == list(range(100)) * 2
    assert coarse.y.tolist() == [c // 5 for c in range(100)] * 2
    assert torch.equal(fine.x, coarse.x)
    # Stratified over the fine labels: one image of each fine class, so 5 of each coarse one.
    limited = D.load_task(coarse_task, "train", root=tmp_path, limit=100)
    assert len(set((limited.x[:, 2, 0, 0] % 100).tolist())) == 100
    assert torch.bincount(limited.y, minlength=20).tolist() == [5] * 20
    with pytest.raises(ValueError, match="coarse"):
        D.load_task(TaskDef("c", "cifar10", 20, 32, label="coarse"), "train", root=tmp_path)


def test_stl10_layout_and_downscaling(tmp_path, no_md5):
    _write_stl10(tmp_path)
    task = S.get("J3").tasks[2]
    train = D.load_task(task, "train", root=tmp_path)
    assert train.x.shape == (20, 3, 96, 96)
    assert torch.equal(train.x, torch.from_numpy(_pattern(20, 96)))  # rows are rows, not columns
    assert train.y.tolist() == [i % 10 for i in range(20)]  # 1..10 on disk
    small = D.load_task(TaskDef("STL@32", "stl10", 10, 32), "test", root=tmp_path)
    assert small.x.shape == (10, 3, 32, 32)
    # Bilinear with antialiasing: what PIL gives when it shrinks the image.
    pil = Image.fromarray(_pattern(10, 96)[3].transpose(1, 2, 0)).resize((32, 32), Image.BILINEAR)
    assert np.array_equal(small.x[3].permute(1, 2, 0).numpy(), np.asarray(pil))


def test_tiny_imagenet_reader_and_cache(tmp_path, monkeypatch):
    base = _write_tiny_imagenet(tmp_path)
    task = TaskDef("tiny", "tiny_imagenet", 3, 64)
    train = D.load_task(task, "train", root=tmp_path)
    assert train.x.shape == (12, 3, 64, 64) and train.x.dtype == torch.uint8
    assert train.y.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # wnids.txt order
    grey = train.x[8].float()
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    colours = train.x[[0, 4, 9], :, 32, 32].int()
    assert (colours - torch.tensor(TINY_COLOURS)).abs().max() <= 3  # JPEG is lossy
    test = D.load_task(TaskDef("tiny 1-2", "tiny_imagenet", 2, 32, classes=(1, 2)), "test",
                       root=tmp_path)
    assert test.y.tolist() == [1, 0, 0, 1]  # val order 2, 0, 1, 1, 0, 2 without class 0
    assert test.x.shape == (4, 3, 32, 32)
    assert sorted(p.name.split("-")[0] for p in (base / ".dvn_cache").iterdir()) == ["test", "train"]

    # The second load reads the cache; a changed extraction is decoded afresh.
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a JPEG although the cache was valid")
    monkeypatch.setattr(Image, "open", no_decoding)
    again = D.load_task(task, "train", root=tmp_path)
    assert torch.equal(again.x, train.x) and torch.equal(again.y, train.y)
    monkeypatch.undo()
    (base / "train" / TINY_WNIDS[0] / "images" / f"{TINY_WNIDS[0]}_3.JPEG").unlink()
    assert len(D.load_task(task, "train", root=tmp_path).y) == 11
    assert len(list((base / ".dvn_cache").glob("train-*.npz"))) == 1


@pytest.mark.parametrize("dataset, hint", [
    ("fashion_mnist", "scripts/get_fashion_mnist.sh"), ("cifar10", "download=True"),
    ("cifar100", "download=True"), ("stl10", "download=True"),
    ("tiny_imagenet", "tiny-imagenet-200.zip")])
def test_missing_dataset_says_where_and_how(tmp_path, dataset, hint):
    task = TaskDef("t", dataset, 10, 32, in_channels=1 if dataset == "fashion_mnist" else 3,
                   classes=tuple(range(10)))
    with pytest.raises(D.DatasetMissing) as e:
        D.load_task(task, "train", root=tmp_path)
    assert isinstance(e.value, FileNotFoundError)
    message = str(e.value)
    assert str(tmp_path / D._FOLDERS[dataset]) in message and hint in message


def test_incomplete_tiny_imagenet_is_missing(tmp_path):
    base = _write_tiny_imagenet(tmp_path)
    (base / "val" / "images" / "val_4.JPEG").unlink()
    with pytest.raises(D.DatasetMissing, match="val_4.JPEG"):
        D.load_task(TaskDef("tiny", "tiny_imagenet", 3, 64), "test", root=tmp_path)


def test_invalid_arguments_list_valid_values(tmp_path):
    with pytest.raises(ValueError, match="train, test"):
        D.load_task(_fm(), "val", root=tmp_path)
    with pytest.raises(ValueError, match="cifar10"):
        D.load_task(TaskDef("m", "mnist", 10, 32), "train", root=tmp_path)
    _write_fashion_mnist(tmp_path)
    with pytest.raises(ValueError, match="0..9"):
        D.load_task(_fm(classes=(3, 10)), "train", root=tmp_path)
    with pytest.raises(ValueError, match="num_classes"):
        D.load_task(_fm(n=4), "train", root=tmp_path)


def test_real_fashion_mnist():
    root = D.data_root()
    if not (root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip(f"Fashion-MNIST is not installed under {root.resolve()} "
                    "(bash scripts/get_fashion_mnist.sh installs it)")
    d = D.load_task(S.get("FH1").tasks[0], "test", limit=400)
    assert d.x.shape == (400, 1, 32, 32)
    # 40 images of each fine class, so the coarse groups hold 4, 2, 3 and 1 classes' worth.
    assert torch.bincount(d.y).tolist() == [160, 80, 120, 40]
    # Fashion-MNIST's published training-set statistics.
    assert d.mean[0] == pytest.approx(0.2860, abs=1e-4)
    assert d.std[0] == pytest.approx(0.3530, abs=1e-4)


# ---------------------------------------------------------------------------------------------
# Batches


def _synthetic(n: int = 100, channels: int = 3, size: int = 16) -> D.TaskData:
    """Random images whose label is their index, so a batch says which images it holds."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return D.TaskData(x, torch.arange(n), (0.4, 0.5, 0.6)[:channels], (0.2, 0.25, 0.3)[:channels])


def _normalised(data: D.TaskData, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(data.mean).view(-1, 1, 1)
    std = torch.tensor(data.std).view(-1, 1, 1)
    return (x.float() / 255 - mean) / std


def test_stream_is_a_function_of_seed_task_and_step():
    data = _synthetic()
    a = D.TrainStream(data, 32, seed=3, task_index=1)
    for step in range(7):
        a.batch(step)
    fresh = D.TrainStream(data, 32, seed=3, task_index=1)
    for step in (7, 2, 40):  # resumed at step 7, then out of order
        xa, ya = a.batch(step)
        xb, yb = fresh.batch(step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a.batch(7)[0], a.batch(8)[0])
    assert not torch.equal(a.batch(7)[1], D.TrainStream(data, 32, seed=4, task_index=1).batch(7)[1])
    assert not torch.equal(a.batch(7)[1], D.TrainStream(data, 32, seed=3, task_index=2).batch(7)[1])


def test_each_pass_is_a_fresh_permutation_without_the_partial_batch():
    data = _synthetic()
    s = D.TrainStream(data, 32, augment=False)
    assert s.steps_per_pass == 3
    passes = [torch.cat([s.batch(p * 3 + i)[1] for i in range(3)]) for p in range(2)]
    for seen in passes:
        assert len(set(seen.tolist())) == 96
    assert not torch.equal(passes[0], passes[1])
    x, y = s.batch(4)
    assert torch.allclose(x, _normalised(data, data.x[y]), atol=1e-5)


def test_small_task_gives_whole_batches():
    s = D.TrainStream(_synthetic(n=10), 32)
    assert (s.batch_size, s.steps_per_pass) == (10, 1)
    assert sorted(s.batch(0)[1].tolist()) == list(range(10))
    assert not torch.equal(s.batch(0)[1], s.batch(1)[1])


@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_is_a_padded_crop_and_maybe_a_flip(channels):
    data = _synthetic(n=64, channels=channels)
    s = D.TrainStream(data, 64, seed=1)
    assert s.pad == 2  # input_size // 8
    x, y = s.batch(0)
    assert x.shape == (64, channels, 16, 16) and x.dtype == torch.float32 and y.dtype == torch.int64
    padded = _normalised(data, F.pad(data.x, (2, 2, 2, 2)))  # zero (black) padding

    def crop(j: int, oy: int, ox: int, flip: bool) -> torch.Tensor:
        c = padded[j, :, oy:oy + 16, ox:ox + 16]
        return c.flip(-1) if flip else c

    kinds = set()
    for out, j in zip(x, y.tolist()):
        found = [(oy, ox, flip) for oy in range(5) for ox in range(5) for flip in (False, True)
                 if torch.allclose(out, crop(j, oy, ox, flip), atol=1e-5)]
        assert found, f"image {j} is not a crop of its padded source"
        oy, ox, flip = found[0]
        kinds.add(((oy, ox) != (2, 2), flip))
    assert len(kinds) >= 3  # shifted and centred crops, flipped and not


def test_test_batches_cover_the_split_in_order():
    data = _synthetic()
    batches = list(D.test_batches(data, 32))
    assert [len(y) for _, y in batches] == [32, 32, 32, 4]
    x = torch.cat([b[0] for b in batches])
    assert torch.equal(torch.cat([b[1] for b in batches]), data.y)
    assert torch.allclose(x, _normalised(data, data.x), atol=1e-5)


def test_malformed_tiny_imagenet_names_the_file(tmp_path):
    base = _write_tiny_imagenet(tmp_path)
    task = TaskDef("tiny", "tiny_imagenet", 3, 64)
    bad = base / "train" / TINY_WNIDS[1] / "images" / f"{TINY_WNIDS[1]}_2.JPEG"
    good = bad.read_bytes()
    bad.write_bytes(b"not a JPEG")
    with pytest.raises(D.DatasetCorrupt, match=f"{bad}.*cannot be decoded.*tiny-imagenet-200.zip"):
        D.load_task(task, "train", root=tmp_path)
    bad.write_bytes(good)
    (base / "val" / "val_annotations.txt").write_text("val_0.JPEG n01443537\n")  # spaces, not tabs
    with pytest.raises(D.DatasetCorrupt, match="val_annotations.txt"):
        D.load_task(task, "test", root=tmp_path)


def test_unreadable_tiny_imagenet_cache_is_decoded_again(tmp_path):
    base = _write_tiny_imagenet(tmp_path)
    task = TaskDef("tiny", "tiny_imagenet", 3, 64)
    first = D.load_task(task, "train", root=tmp_path)
    (cache,) = (base / ".dvn_cache").glob("train-*.npz")
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable Tiny-ImageNet cache"):
        again = D.load_task(task, "train", root=tmp_path)
    assert torch.equal(again.x, first.x)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D.load_task(task, "train", root=tmp_path)  # rewritten: read without a warning
