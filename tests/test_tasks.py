"""A DVN over your own tasks through the public names alone: ``dvnlib.Task``, ``dvnlib.build``,
``dvnlib.fit``, ``dvnlib.evaluate``, ``net.level_for``, ``net.extract`` and ``dvnlib.export``.

The tasks here are small tensors made by the test (two image formats: 1 x 16 x 16 uint8 and
3 x 8 x 8 float), so that every check runs in seconds and offline; the book's page
(``notebooks/own_tasks.ipynb``) does the same on real images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dvnlib

FAST = dict(epochs=2, batch_size=32)


def images(n: int, classes: int, channels: int, size: int, seed: int, floating: bool = False):
    """(images, labels): noise with a bright band whose row says the class; each class equally often."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randint(0, 100, (n, channels, size, size), generator=g)
    band = size // classes
    for c in range(classes):
        x[y == c, :, c * band:(c + 1) * band] += 150
    x = x.clamp(0, 255).to(torch.uint8)
    return (x.float() / 255 if floating else x), y


def two_tasks(seed: int = 0):
    a = dvnlib.Task("bands", images(96, 3, 1, 16, seed), images(48, 3, 1, 16, seed + 100),
                    classes=["top", "middle", "bottom"])
    b = dvnlib.Task("colour bands", images(64, 2, 3, 8, seed + 1, floating=True),
                    images(32, 2, 3, 8, seed + 101, floating=True))
    return [a, b]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: a second thread only waits
    yield
    torch.set_num_threads(threads)


def test_own_tasks_end_to_end(tmp_path):
    """Task -> build -> fit -> evaluate -> level_for -> extract -> export, and the exported file
    run by ONNX Runtime on the task's raw uint8 test images predicts what the extracted module
    predicts, with the task's own size, channels and normalisation."""
    import onnxruntime as ort

    tasks = two_tasks()
    net = dvnlib.build(tasks)
    assert [(io.in_channels, io.input_size, io.stride, io.num_classes) for io in net.tasks] == [
        (1, 16, 2, 3), (3, 8, 1, 2)]  # both input layers meet at the smaller task's 8 px
    assert net.k == 2 and net.outputs == [(1, 1), (1, 2), (2, 1), (2, 2)]
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert dvnlib.fit(net, tasks, seed=0, progress=False, **FAST) is net
    assert not net.training
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())

    table = dvnlib.evaluate(net, tasks)
    assert list(table.columns) == ["task", "level", "params", "accuracy"]
    assert list(zip(table["task"], table["level"])) == [("bands", 1), ("bands", 2), ("colour bands", 1),
                                                        ("colour bands", 2)]
    summary = dict(zip(zip(table["task"], table["level"]), table["params"]))
    assert summary[("bands", 1)] < summary[("bands", 2)]

    for i, task in enumerate(tasks, 1):
        x = task.test.x.float() / 255
        mean = torch.tensor(task.train.mean).view(1, -1, 1, 1)
        std = torch.tensor(task.train.std).view(1, -1, 1, 1)
        for level in (1, 2):
            sub = net.extract(i, level)
            assert sum(p.numel() for p in sub.parameters()) == summary[(task.name, level)]
            with torch.no_grad():
                pred = sub((x - mean) / std).argmax(1)
            acc = 100 * float((pred == task.test.y).float().mean())
            row = table[(table["task"] == task.name) & (table["level"] == level)]
            assert float(row["accuracy"].iloc[0]) == pytest.approx(acc)

    budget = summary[("colour bands", 1)]
    assert net.level_for(2, budget) == 1 and net.level_for(2, summary[("colour bands", 2)]) == 2
    path = dvnlib.export(net, 2, 1, tmp_path / "colour.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    raw = tasks[1].test.x  # uint8, 3 x 8 x 8: the task's own format
    onnx_logits = sess.run(None, {sess.get_inputs()[0].name: raw.numpy()})[0]
    t = tasks[1]
    with torch.no_grad():
        ref = net.extract(2, 1)((raw.float() / 255 - torch.tensor(t.train.mean).view(1, -1, 1, 1))
                                / torch.tensor(t.train.std).view(1, -1, 1, 1)).numpy()
    np.testing.assert_allclose(onnx_logits, ref, rtol=1e-4, atol=1e-4)
    assert (onnx_logits.argmax(1) == ref.argmax(1)).all()


def test_float_images_are_8_bit_grey_levels():
    x, y = images(8, 2, 1, 8, 0)
    as_uint8 = dvnlib.Task("t", (x, y), (x, y))
    as_float = dvnlib.Task("t", (x.float() / 255, y), (x.float() / 255, y))
    assert as_float.train.x.dtype == torch.uint8 and torch.equal(as_float.train.x, as_uint8.train.x)
    assert as_float.digest == as_uint8.digest and as_float.train.mean == as_uint8.train.mean


def test_a_dataset_of_pairs_is_a_split():
    x, y = images(12, 3, 1, 8, 0)
    pairs = [(x[i], int(y[i])) for i in range(len(y))]

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return len(pairs)

        def __getitem__(self, i):
            return pairs[i]

    assert dvnlib.Task("t", Pairs(), Pairs()).digest == dvnlib.Task("t", (x, y), (x, y)).digest


def test_checkpoints_are_keyed_by_the_data(tmp_path):
    """Two runs of different data under one checkpoint folder: the second neither resumes from
    nor returns the first's network; the same data again reads its finished checkpoint back."""
    folder = tmp_path / "ckpt"
    a, b = two_tasks(seed=0), two_tasks(seed=7)  # same formats and settings, other images

    net_a = dvnlib.fit(dvnlib.build(a), a, checkpoints=folder, progress=False, **FAST)
    [ckpt_a] = folder.rglob("*.pt")
    stamp = (ckpt_a.stat().st_ino, ckpt_a.stat().st_mtime_ns)

    net_b = dvnlib.fit(dvnlib.build(b), b, checkpoints=folder, progress=False, **FAST)
    fresh_b = dvnlib.fit(dvnlib.build(b), b, checkpoints=tmp_path / "elsewhere", progress=False, **FAST)
    assert len(list(folder.rglob("*.pt"))) == 2
    assert (ckpt_a.stat().st_ino, ckpt_a.stat().st_mtime_ns) == stamp
    weights = lambda net: torch.cat([v.flatten().float() for v in net.state_dict().values()])  # noqa: E731
    assert torch.equal(weights(net_b), weights(fresh_b))
    assert not torch.equal(weights(net_b), weights(net_a))

    again = dvnlib.fit(dvnlib.build(a), a, checkpoints=folder, progress=False, **FAST)
    assert (ckpt_a.stat().st_ino, ckpt_a.stat().st_mtime_ns) == stamp  # read back, not retrained
    assert torch.equal(weights(again), weights(net_a))


@pytest.mark.parametrize("train, test, classes, message", [
    ((torch.zeros(4, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1])), None, None, "4 dimensions"),
    ((torch.zeros(4, 1, 8, 6, dtype=torch.uint8), torch.tensor([0, 1, 0, 1])), None, None, "square"),
    ((torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0])), None, None, "4 train images but 3 labels"),
    ((torch.zeros(4, 1, 8, 8), torch.tensor([0.0, 1, 0, 1])), None, None, "integer class indices"),
    ((torch.full((4, 1, 8, 8), 2.0), torch.tensor([0, 1, 0, 1])), None, None, r"\[0, 1\]"),
    (None, None, ["a", "b"], "train label 2 is out of range: labels are class indices 0..1, one per name"),
    (None, (torch.zeros(3, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 0, 1])), None, "class 2 has no test images"),
    (None, (torch.zeros(3, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 2])), None, "one image format"),
    ("images", None, None, "must be \\(images, labels\\)"),
])
def test_bad_inputs_are_one_line_errors(train, test, classes, message):
    x, y = images(6, 3, 1, 8, 0)
    with pytest.raises(ValueError, match=message) as e:
        dvnlib.Task("t", (x, y) if train is None else train, (x, y) if test is None else test, classes=classes)
    assert "\n" not in str(e.value) and "'t'" in str(e.value)


def test_impossible_networks_say_the_fix():
    big = dvnlib.Task("28px", images(6, 2, 1, 28, 0), images(4, 2, 1, 28, 1))
    small = dvnlib.Task("8px", images(6, 2, 1, 8, 0), images(4, 2, 1, 8, 1))
    with pytest.raises(ValueError, match=r"28 px images.*feature size of 8 px.*multiple of 8 px \(e.g. 32\).*feature_size=4"):
        dvnlib.build([big, small])
    assert dvnlib.build([big, small], feature_size=4).tasks[0].stride == 7
    with pytest.raises(ValueError, match="one unit per task: 2 tasks .*units must be 2 \\(got 3\\)"):
        dvnlib.build([small, small.__class__("again", images(6, 2, 1, 8, 2), images(4, 2, 1, 8, 3))], units=3)
    with pytest.raises(ValueError, match="unknown backbone 'vgg'"):
        dvnlib.build([small], backbone="vgg")
    with pytest.raises(ValueError, match="WRN depth must be 6n\\+2"):
        dvnlib.build([small], backbone="wrn-10")
    with pytest.raises(ValueError, match="task names must be distinct"):
        dvnlib.build([small, small])
    assert dvnlib.build([small], backbone="resnet", width=8).spec.name == "ResNet-10 (width 8)"
    assert type(dvnlib.build("FJ1", "smoke")).__name__ == "DVNNet"  # a scenario builds as before


def test_fit_checks_what_it_is_given():
    tasks = two_tasks()
    net = dvnlib.build(tasks)
    with pytest.raises(ValueError, match="unknown override 'learning_rate'"):
        dvnlib.fit(net, tasks, learning_rate=0.1)
    with pytest.raises(ValueError, match="expected an integer of 1 or more"):
        dvnlib.fit(net, tasks, epochs=0)
    with pytest.raises(ValueError, match="network has 2 tasks but 1 were given"):
        dvnlib.fit(net, tasks[:1])
    with pytest.raises(ValueError, match="build the network from these tasks"):
        dvnlib.evaluate(net, tasks[::-1])
