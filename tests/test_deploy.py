"""Deployment: loading a kept model, choosing a level by budget, ONNX export with its own
preprocessing, ONNX Runtime against torch, the ``export`` and ``zoo`` commands. One smoke model
of FJ1 is trained (a few seconds) into a temporary results folder and everything is checked
against it. What makes a kept model trustworthy is ``test_trained.py``'s."""
import json

import numpy as np
import pytest
import torch

import dvnlib
from dvnlib import accounting, cli, deploy, trained
from dvnlib import kept as K
from dvnlib import data as D
from dvnlib import scenarios as S
from dvnlib.data import data_root

pytest.importorskip("onnxruntime")
needs_data = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                reason="Fashion-MNIST is not installed (scripts/get_fashion_mnist.sh)")
SMALL = {"train_per_task": 128}  # smoke is 256 images per task and one epoch; half of it is enough
SET = ["--set", "train_per_task=128"]  # SMALL, as the command line gives it


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """(results root, the network load() returns) of a smoke FJ1 dvn run, seed 0."""
    if not (data_root() / "FashionMNIST" / "raw").exists():
        pytest.skip("Fashion-MNIST is not installed")
    root = tmp_path_factory.mktemp("results")
    dvnlib.run("FJ1", "smoke", methods=["dvn"], seeds=[0], out_dir=root, progress=False, overrides=SMALL,
               device="cpu")
    return root, dvnlib.load("FJ1", "smoke", 0, root=root, overrides=SMALL)  # the package-level entry point


def _ort_logits(path, x):
    return torch.from_numpy(deploy.predict(deploy.session(path), x))


@needs_data
def test_the_run_keeps_its_model_and_load_gives_it_back(kept):
    root, net = kept
    (d,) = (root / "FJ1" / "smoke" / "models" / "dvn").iterdir()  # one configuration
    assert sorted(p.name for p in d.iterdir()) == ["seed0.json", "seed0.pt"]
    info = json.loads((d / "seed0.json").read_text())
    assert info["scenario"] == "FJ1" and info["profile"] == "smoke" and info["seed"] == 0
    assert info["overrides"] == SMALL and info["config"] == d.name
    record = json.loads((root / "FJ1" / "smoke" / "runs" / "dvn" / d.name / "seed0.json").read_text())
    assert record["key"] == info["key"]  # the run that trained it
    assert info["tasks"][1]["class_names"] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    # the model is the one that was evaluated: its test accuracy is the run's, for every output
    s = S.with_profile("FJ1", "smoke", **SMALL)
    tests = {t: D.test_batches(D.load_task(s.tasks[t - 1], "test", None, s.profile("smoke").test_per_task), 256)
             for t in (1, 2)}
    for (t, l), (correct, n) in dvnlib.train.evaluate(net, tests).items():
        assert 100 * correct / n == pytest.approx(K.recorded_accuracy(net, t, l), abs=1e-9)


def test_a_missing_model_names_the_path_and_the_command(tmp_path):
    with pytest.raises(trained.ModelMissing) as e:
        dvnlib.load("FJ2", "quick", 1, root=tmp_path, overrides={"epochs": 2})
    msg = str(e.value)
    assert len(msg.splitlines()) == 1
    assert str(tmp_path / "FJ2" / "quick" / "models" / "dvn") in msg and "seed1.pt" in msg
    assert f"python -m dvnlib run FJ2 --profile quick --methods dvn --seeds 1 --set epochs=2 --out {tmp_path}" in msg


def test_level_for_picks_the_largest_level_within_the_budget():
    net = dvnlib.build("FJ2", "smoke")
    summary = {o["level"]: o["params"] for o in dvnlib.summary("FJ2", "smoke")["outputs"] if o["task"] == 2}
    assert len(summary) == 4
    for level, p in summary.items():
        assert net.level_for(2, p) == level  # exactly the budget fits
        if level > 1:
            assert net.level_for(2, p - 1) == level - 1
    assert net.level_for(2, 10 ** 12) == 4
    with pytest.raises(ValueError) as e:
        net.level_for(2, summary[1] - 1)
    for level, p in summary.items():
        assert f"level {level}: {p:,}" in str(e.value)
    with pytest.raises(ValueError, match="unknown task"):
        net.level_for(5, 10 ** 9)


@needs_data
def test_onnx_runtime_gives_the_extracted_modules_logits(kept, tmp_path):
    """Raw uint8 images through the exported file (resize, scaling, normalisation inside, BN
    folded) against the extracted torch module on the images as training prepares them."""
    _, net = kept
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (7, 1, 28, 28), generator=g, dtype=torch.uint8)
    for t, l in net.outputs:
        info = net.info["tasks"][t - 1]
        data = D.TaskData(D._resize(x, info["input_size"]), torch.zeros(7, dtype=torch.long),
                          tuple(info["mean"]), tuple(info["std"]))
        with torch.no_grad():
            ref = net.extract(t, l)(next(D.test_batches(data, 7))[0])
        got = _ort_logits(dvnlib.export(net, t, l, tmp_path / f"t{t}l{l}.onnx"), x)
        assert got.shape == (7, 5)
        assert (got - ref).abs().max() <= 1e-4 * ref.abs().max()


@needs_data
def test_the_batch_axis_is_dynamic_and_the_metadata_names_the_classes(kept, tmp_path):
    import onnx
    _, net = kept
    path = deploy.export(net, 2, 1, tmp_path / "m.onnx")
    sess = deploy.session(path)
    for n in (1, 3, 64):
        x = np.zeros((n, 1, 28, 28), np.uint8)
        assert sess.run(None, {deploy.INPUT: x})[0].shape == (n, 5)
    m = onnx.load(str(path))
    props = {p.key: p.value for p in m.metadata_props}
    assert json.loads(props["classes"]) == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert props["scenario"] == "FJ1" and props["level"] == "1" and props["units"] == "2"
    assert m.opset_import[0].version == deploy.OPSET
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert not any(n.op_type == "BatchNormalization" for n in m.graph.node)


@needs_data
@pytest.mark.parametrize("stage", ["export", "write"])
def test_a_full_disk_during_export_leaves_the_previous_file_intact(kept, tmp_path, monkeypatch, stage):
    import errno
    import os
    _, net = kept
    path = deploy.export(net, 1, 1, tmp_path / "m.onnx")
    before = path.read_bytes()
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    if stage == "export":  # the exporter writes half of its output, then the disk is full
        real = torch.onnx.export

        def half(model, args, f, *a, **kw):
            real(model, args, f, *a, **kw)
            if isinstance(f, (str, os.PathLike)):
                os.truncate(f, os.path.getsize(f) // 2)
            else:
                f.truncate(len(f.getvalue()) // 2)
            raise full
        monkeypatch.setattr(torch.onnx, "export", half)
    else:  # the file is written, but the disk cannot take it

        def no_space(fd):
            raise full
        monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError) as e:
        deploy.export(net, 2, 1, path)
    assert e.value.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary file left beside it


@needs_data
def test_a_low_levels_file_holds_its_level_not_the_whole_network(kept, tmp_path):
    _, net = kept
    costs = {(c.task, c.level): c.params for c in accounting.costs(trained.layout_from_json(net.info["layout"]))}
    sizes = {o: deploy.export(net, *o, tmp_path / f"{o}.onnx").stat().st_size for o in net.outputs}
    total = accounting.total_params(trained.layout_from_json(net.info["layout"]))
    for o, size in sizes.items():
        # float32 weights of that output, plus folded-BN biases and the graph: a few kB
        assert 4 * costs[o] <= size <= 4 * costs[o] * 1.05 + 16_000, (o, size, costs[o])
    assert sizes[(1, 1)] < 0.5 * 4 * total  # level 1 holds about a quarter of the network


@needs_data
def test_the_exported_models_accuracy_on_the_real_test_split_is_the_runs(kept, tmp_path):
    import pandas as pd
    root, net = kept
    s = S.with_profile("FJ1", "smoke", **SMALL)
    metrics = pd.read_csv(root / "FJ1" / "smoke" / "metrics.csv").set_index(["method", "seed", "task", "level"])
    for t, l in net.outputs:
        # the run's record, which the export command reports, is the metrics row
        assert metrics.loc[("dvn", 0, t, l), "accuracy"] == K.recorded_accuracy(net, t, l)
        raw = D.load_task(s.tasks[t - 1], "test", None, s.profile("smoke").test_per_task, native=True)
        x, y = raw.x, raw.y
        acc = 100 * float((_ort_logits(deploy.export(net, t, l, tmp_path / "m.onnx"), x).argmax(1) == y)
                          .float().mean())
        assert acc == pytest.approx(K.recorded_accuracy(net, t, l),
                                    abs=0.1)


@needs_data
@pytest.mark.parametrize("size, differing, largest", [(32, 0, 0), (64, 0, 0), (96, 0.01, 2)])
def test_the_exported_resize_is_the_training_resize(size, differing, largest, tmp_path):
    """The agreement of the file's resize (ONNX Resize, two rounded passes) with ``data.load_task``'s
    (torch's antialiased uint8 kernel), on 500 real test images: exact at 32 and 64 px; at 96 px,
    whose weights torch quantises, a few pixels differ by one or two grey levels."""
    task = S.TaskDef("all", "fashion_mnist", 10, size, in_channels=1)
    x = D.load_task(task, "test", None, 500, native=True).x
    m = deploy.deployable(dvnlib.build("FJ1", "smoke"), 1, 1, deploy.Preprocess(28, size, (0.0,), (1 / 255,)))
    m.core = torch.nn.Identity()  # the preprocessing alone, scaled back to grey levels
    path = tmp_path / "resize.onnx"
    torch.onnx.export(m, (x[:2],), str(path), input_names=[deploy.INPUT], output_names=[deploy.OUTPUT],
                      opset_version=deploy.OPSET, dynamic_axes={deploy.INPUT: {0: "batch"}}, dynamo=False)
    diff = (_ort_logits(path, x) - D._resize(x, size).float()).abs()
    assert float((diff > 0).float().mean()) <= differing and float(diff.max()) <= largest


@needs_data
def test_cli_export_by_budget_prints_one_json_line(kept, tmp_path, capsys):
    root, net = kept
    params = {o["level"]: o["params"] for o in dvnlib.summary("FJ1", "smoke")["outputs"] if o["task"] == 2}
    out = tmp_path / "fj1_t2.onnx"
    assert cli.main(["export", "FJ1", "--profile", "smoke", "--seed", "0", "--task", "2",
                     "--max-params", str(params[2] - 1), "--out", str(out), "--results", str(root), *SET]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    r = json.loads(lines[0])
    assert {k: r[k] for k in ("scenario", "task", "level", "units", "params", "file", "bytes")} == {
        "scenario": "FJ1", "task": 2, "level": 1, "units": [2], "params": params[1], "file": str(out),
        "bytes": out.stat().st_size}
    assert r["accuracy"] == K.recorded_accuracy(net, 2, 1)


@needs_data
@pytest.mark.parametrize("args, says", [
    (["--seed", "7", "--level", "1"], "python -m dvnlib run FJ1 --profile smoke --methods dvn --seeds 7"),
    (["--max-params", "1000"], "level 1: "),
    (["--task", "3", "--level", "1"], "unknown task 3"),
    (["--level", "3"], "valid levels are 1..2"),
])
def test_cli_export_bad_input_is_one_line_and_status_2(kept, tmp_path, capsys, args, says):
    root, _ = kept
    argv = ["export", "FJ1", "--profile", "smoke", "--out", str(tmp_path / "x.onnx"), "--results", str(root), *SET]
    if "--task" not in args:
        argv += ["--task", "1"]
    assert cli.main(argv + args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err
    assert not (tmp_path / "x.onnx").exists()


@needs_data
def test_the_books_plain_onnxruntime_lines_run_an_exported_file(kept, tmp_path, monkeypatch, capsys):
    """The deployment page's snippet, as printed there, on a file the export command wrote."""
    import re
    from pathlib import Path
    root, _ = kept
    page = (Path(__file__).resolve().parents[1] / "book" / "deploy.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", page, re.S).group(1)
    assert cli.main(["export", "FJ1", "--profile", "smoke", "--task", "2", "--level", "1",
                     "--out", str(tmp_path / "fj2_task1.onnx"), "--results", str(root), *SET]) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    exec(snippet, {})
    printed = eval(capsys.readouterr().out)
    assert len(printed) == 8 and set(printed) <= {"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}


@needs_data
def test_the_zoo_command_writes_every_level_and_the_book_summarises_it(kept, tmp_path, capsys):
    import pandas as pd

    from dvnlib import budget, report, zoo
    root, net = kept
    out = tmp_path / "zoo.csv"
    assert cli.main(["zoo", "--scenarios", "FJ1", "--profile", "smoke", "--results", str(root),
                     "--rounds", "2", "--out", str(out), *SET]) == 0
    df = pd.read_csv(out)
    assert tuple(df.columns) == budget.COLUMNS
    assert sorted(zip(df["task"], df["level"], df["precision"])) == sorted(
        (t, l, p) for t, l in net.outputs for p in deploy.PRECISIONS)
    for r in df.itertuples():  # the exported files reproduce the run's recorded accuracies
        assert r.accuracy == K.recorded_accuracy(net, r.task, r.level)
        assert r.onnx_accuracy == pytest.approx(r.accuracy, abs=0.1 if r.precision == "float32" else 3)
        assert (r.config, r.key) == (net.info["config"], net.info["key"])
    summary = report.zoo_summary(df)
    assert len(report.zoo_table(summary)) == 2 * len(net.outputs) and set(summary["seeds"]) == {1}


@needs_data
def test_an_int8_file_is_smaller_and_predicts_as_float32_on_real_images(kept, tmp_path):
    """Static int8 (QDQ, per-channel weights, calibrated on the task's training images) of the
    top level, against its float32 file, on the real test images."""
    import onnx
    _, net = kept
    s = S.with_profile("FJ1", "smoke", **SMALL)
    x = D.load_task(s.tasks[0], "test", None, 256, native=True).x
    top = max(l for t, l in net.outputs if t == 1)
    f32 = deploy.export(net, 1, top, tmp_path / "f32.onnx")
    i8 = deploy.export(net, 1, top, tmp_path / "i8.onnx", precision="int8")
    assert i8.stat().st_size < 0.45 * f32.stat().st_size
    a, b = _ort_logits(f32, x), _ort_logits(i8, x)
    assert float((a.argmax(1) == b.argmax(1)).float().mean()) >= 0.97
    assert (a - b).abs().max() <= 0.2 * a.abs().max()
    m = onnx.load(str(i8))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ, not integer-only operators
    weights = {i.name: i for i in m.graph.initializer}
    conv_w = [weights[n.input[0]] for n in m.graph.node if n.op_type == "DequantizeLinear"
              and n.input[0] in weights and len(weights[n.input[0]].dims) == 4]
    assert conv_w and all(w.data_type == onnx.TensorProto.INT8 for w in conv_w)
    scales = [weights[n.input[1]] for n in m.graph.node if n.op_type == "DequantizeLinear"
              and n.input[0] in weights and len(weights[n.input[0]].dims) == 4]
    assert all(len(sc.dims) == 1 and sc.dims[0] > 1 for sc in scales)  # one scale per output channel
    assert {p.key: p.value for p in m.metadata_props}["precision"] == "int8"
    # calibration is a fixed subset of the task's training images: the same file twice
    assert deploy.export(net, 1, top, tmp_path / "again.onnx", precision="int8").read_bytes() == i8.read_bytes()
    with pytest.raises(ValueError, match="valid precisions are float32, int8"):
        deploy.export(net, 1, top, tmp_path / "x.onnx", precision="fp16")
    # the exact int8 path: without VNNI the fast x86 kernel saturates 16-bit sums of products
    assert deploy.session(i8).get_session_options().get_session_config_entry("session.x64quantprecision") == "1"


@needs_data
@pytest.mark.parametrize("precision", deploy.PRECISIONS)
def test_short_names_make_the_file_smaller_and_change_no_number(kept, tmp_path, monkeypatch, precision):
    """Only the input and the output keep their names; the long paths torch and the quantiser
    write cost bytes a device pays for, and the logits stay bit for bit the same without them."""
    import onnx
    _, net = kept
    x = D.load_task(S.with_profile("FJ1", "smoke", **SMALL).tasks[0], "test", None, 64, native=True).x
    short = deploy.export(net, 1, 2, tmp_path / "short.onnx", precision=precision)
    monkeypatch.setattr(deploy, "compact_names", lambda model: model)
    long = deploy.export(net, 1, 2, tmp_path / "long.onnx", precision=precision)
    assert short.stat().st_size < long.stat().st_size
    assert torch.equal(_ort_logits(short, x), _ort_logits(long, x))
    g = onnx.load(str(short)).graph
    names = {*(t.name for t in g.initializer), *(o for n in g.node for o in (*n.input, *n.output))}
    assert {deploy.INPUT, deploy.OUTPUT} <= names and all(len(n) <= 3 for n in names - {deploy.INPUT, deploy.OUTPUT})
    assert not any(n.name for n in g.node)


ZOO = [  # one model's recorded files, task 1 (and one row of task 2)
    {"task": 1, "level": 1, "precision": "float32", "onnx_bytes": 90_000, "onnx_accuracy": 90.0},
    {"task": 1, "level": 1, "precision": "int8", "onnx_bytes": 60_000, "onnx_accuracy": 89.0},
    {"task": 1, "level": 2, "precision": "float32", "onnx_bytes": 320_000, "onnx_accuracy": 92.0},
    {"task": 1, "level": 2, "precision": "int8", "onnx_bytes": 120_000, "onnx_accuracy": 92.0},
    {"task": 1, "level": 3, "precision": "int8", "onnx_bytes": 220_000, "onnx_accuracy": 91.5},
    {"task": 2, "level": 1, "precision": "int8", "onnx_bytes": 10, "onnx_accuracy": 99.0},
]


@pytest.mark.parametrize("max_bytes, choice", [
    (60_000, (1, "int8")), (89_999, (1, "int8")), (90_000, (1, "float32")),
    (120_000, (2, "int8")),  # level 2 int8 beats level 1 float32
    (10 ** 9, (2, "int8")),  # a tie in accuracy goes to the smaller file; level 3 is less accurate
])
def test_a_byte_budget_picks_the_best_recorded_accuracy_that_fits(max_bytes, choice):
    from dvnlib import budget
    got = budget.choose(ZOO, 1, max_bytes)
    assert got == choice and (got.level, got.precision) == choice


def test_a_byte_budget_below_every_file_is_one_line_listing_the_sizes():
    from dvnlib import budget
    with pytest.raises(ValueError) as e:
        budget.choose(ZOO, 1, 59_999)
    msg = str(e.value)
    assert len(msg.splitlines()) == 1 and "59,999" in msg
    for r in ZOO[:5]:
        assert f"level {r['level']} {r['precision']}: {r['onnx_bytes']:,}" in msg
    with pytest.raises(ValueError, match="unknown task 3"):
        budget.choose(ZOO, 3, 10 ** 9)


@needs_data
def test_level_for_by_bytes_reads_the_zoo_rows_of_that_model(kept, tmp_path):
    root, net = kept
    ident = {k: net.info[k] for k in ("scenario", "profile", "method", "seed", "config", "key")}
    rows = [{**ident, **r} for r in ZOO] + [{**ident, "key": "another run", **ZOO[2], "onnx_accuracy": 99.9}]
    assert net.level_for(1, max_bytes=500_000, zoo=rows) == (2, "int8")  # the other run's row is not read
    assert net.level_for(1, 50_000) == 1  # a parameter budget still gives a level
    with pytest.raises(ValueError, match="kept model: load it with dvnlib.load"):
        dvnlib.build("FJ1", "smoke").level_for(1, max_bytes=500_000)  # a network no run kept
    with pytest.raises(ValueError, match="exactly one budget"):
        net.level_for(1, 50_000, max_bytes=1)
    with pytest.raises(FileNotFoundError) as e:
        net.level_for(1, max_bytes=10 ** 6)  # no zoo beside the model's results
    assert str(root / "deploy" / "zoo.csv") in str(e.value) and "python -m dvnlib zoo --scenarios FJ1" in str(e.value)


@needs_data
def test_cli_export_by_bytes_takes_the_zoos_choice_and_its_precision(kept, tmp_path, capsys):
    root, net = kept
    assert cli.main(["zoo", "--scenarios", "FJ1", "--profile", "smoke", "--results", str(root), "--rounds", "1",
                     "--out", str(root / "deploy" / "zoo.csv"), *SET]) == 0
    from dvnlib import budget
    rows = budget.read(root / "deploy" / "zoo.csv")
    smallest = min(int(r["onnx_bytes"]) for r in rows if r["task"] == "2")
    want = budget.choose(rows, 2, smallest)
    assert want.precision == "int8"  # the smallest file of a task is its level 1 in int8
    capsys.readouterr()
    out = tmp_path / "b.onnx"
    assert cli.main(["export", "FJ1", "--profile", "smoke", "--task", "2", "--max-bytes", str(smallest),
                     "--out", str(out), "--results", str(root), *SET]) == 0
    r = json.loads(capsys.readouterr().out)
    assert (r["level"], r["precision"], r["bytes"]) == (want.level, "int8", smallest)
    assert cli.main(["export", "FJ1", "--profile", "smoke", "--task", "2", "--max-bytes", str(smallest - 1),
                     "--out", str(out), "--results", str(root), *SET]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"level 1 int8: {smallest:,}" in err


@needs_data
def test_the_demo_command_ships_every_file_and_the_images_it_was_measured_with(kept, tmp_path, capsys):
    import onnx

    from dvnlib import demo
    root, net = kept
    out = tmp_path / "demo"
    out.mkdir()
    (out / "demo.js").write_text("// the page's script\n")
    (out / "stale.onnx").write_bytes(b"x")
    assert cli.main(["demo", "FJ1", "--profile", "smoke", "--results", str(root), "--images-per-task", "20",
                     "--out", str(out), *SET]) == 0
    assert (out / "demo.js").read_text() == "// the page's script\n" and not (out / "stale.onnx").exists()
    meta = demo.read(out)
    assert (meta["scenario"], meta["profile"], meta["key"]) == ("FJ1", "smoke", net.info["key"])
    assert sorted((f["task"], f["level"], f["precision"]) for f in meta["files"]) == sorted(
        (t, l, p) for t, l in net.outputs for p in deploy.PRECISIONS)
    s = S.with_profile("FJ1", "smoke", **SMALL)
    for t in meta["tasks"]:
        want = D.load_task(s.tasks[t["task"] - 1], "test", None, 20, seed=0, native=True)
        assert np.array_equal(t["x"], want.x.numpy()) and t["labels"] == want.y.tolist()
        assert t["classes"] == net.info["tasks"][t["task"] - 1]["class_names"]
    for f in meta["files"]:
        assert (out / f["file"]).stat().st_size == f["onnx_bytes"]
        props = {p.key: p.value for p in onnx.load(str(out / f["file"])).metadata_props}
        assert (props["task"], props["level"], props["precision"]) == (str(f["task"]), str(f["level"]), f["precision"])


def test_deployment_and_kept_models_never_import_the_books_report_package():
    """The book's code only reads what runs wrote: nothing that trains or deploys stands on it."""
    import ast
    from pathlib import Path
    pkg = Path(dvnlib.__file__).parent
    # every module but the book's own and the command line, which prints the book's tables
    modules = [p for p in pkg.rglob("*.py") if "report" not in p.relative_to(pkg).parts and p.name != "cli.py"]
    assert len(modules) > 20
    for path in modules:
        name = path.relative_to(pkg).as_posix()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names] if node.level else [node.module or ""]
                assert not any(n == "report" or n.startswith(("report.", "dvnlib.report")) for n in names), name
