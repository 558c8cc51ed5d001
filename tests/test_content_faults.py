"""Faults a file's format does not show (issue 20): run files and book inputs checked by their
content, datasets whose splits lack a class, memory and disk running out, a run that blows up with
a finite loss, and the smaller cases (0 where 0 makes no sense, an unknown notebook parameter, a
seed out of range). Each gets one line that names what was wrong and how to fix it."""
import ast
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import dvnlib
import dvnlib.data as D
from dvnlib import cli
from dvnlib import request as Q

ROOT = Path(__file__).resolve().parents[1]
HAVE_FM = (D.data_root() / "FashionMNIST" / "raw").exists()
needs_data = pytest.mark.skipif(not HAVE_FM, reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")


# ---------------------------------------------------------------------------------------------
# The smaller cases


@pytest.mark.parametrize("option", ["width", "depth"])
def test_zero_width_or_depth_is_an_error_not_the_default(option, capsys):
    with pytest.raises(ValueError, match=f"{option} must be a whole number of at least 1"):
        dvnlib.summary("FJ1", **{option: 0})
    with pytest.raises(SystemExit) as e:
        cli.main(["summary", "FJ1", f"--{option}", "0"])
    assert e.value.code == 2 and "at least 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("seeds", [2 ** 63, [0, 2 ** 64], "18446744073709551616"])
def test_seed_beyond_64_bits_rejected_before_any_data(tmp_path, monkeypatch, seeds):
    monkeypatch.setattr(D, "load_task", lambda *a, **k: pytest.fail("data read before the seeds were checked"))
    with pytest.raises(ValueError, match=r"below 2\*\*63"):
        dvnlib.run("FJ1", "smoke", ["dvn"], seeds, out_dir=tmp_path, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"seeds="):
        Q.check("FJ1", "smoke", overrides={"seeds": seeds}, out_dir=tmp_path)
    assert Q.parse_seeds(2 ** 63 - 1) == (2 ** 63 - 1,)


def _parameters_cell(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return {t.id for node in ast.parse(cell.source).body for t in getattr(node, "targets", [])}


def test_every_notebook_declares_exactly_the_parameters_the_package_checks():
    checked = [nb for nb in sorted((ROOT / "notebooks").glob("*.ipynb"))
               if "dvnlib.check_notebook_parameters(globals())" in nb.read_text()]
    assert {nb.stem for nb in checked} >= {"joint", "hierarchical", "sequential"}
    for nb in checked:
        assert _parameters_cell(nb) == set(Q.NOTEBOOK_PARAMETERS), nb


def test_unknown_notebook_parameter_is_an_error():
    import types
    known = {name: None for name in Q.NOTEBOOK_PARAMETERS}
    kernel = {"In": [], "Out": {}, "get_ipython": print, "exit": None, "quit": None, "_i1": "", "__name__": "__main__",
              "dvnlib": dvnlib, "np": types.ModuleType("numpy")}
    dvnlib.check_notebook_parameters({**known, **kernel})  # the kernel's own names are not parameters
    with pytest.raises(ValueError, match=r"unknown notebook parameter 'seed': valid parameters are scenario, .*seeds"):
        dvnlib.check_notebook_parameters({**known, **kernel, "seed": 1})


def test_papermill_with_a_misspelt_parameter_fails_before_training(tmp_path):
    """``-p seed 1`` (for ``seeds``): papermill only warns and injects it; the notebook stops."""
    out = tmp_path / "out.ipynb"
    proc = subprocess.run([sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "joint.ipynb"), str(out),
                           "-k", "python3", "-p", "seed", "1", "-p", "out_dir", str(tmp_path / "results"),
                           "-p", "data_root", str(tmp_path / "no-data")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode != 0
    assert "unknown notebook parameter 'seed'" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------------------------
# Data: well-formed files that cannot train or score a task


def _no_training(monkeypatch):
    import dvnlib.train as T
    monkeypatch.setattr(T, "fit", lambda *a, **k: pytest.fail("trained on data that should have been refused"))


@pytest.mark.parametrize("split, prefix", [("test", "t10k"), ("train", "train")])
def test_split_missing_a_class_is_refused_before_training(tmp_path, monkeypatch, split, prefix):
    from test_data import _write_fashion_mnist, _write_idx
    files = _write_fashion_mnist(tmp_path)
    x, y = files[prefix]
    y = y.copy()
    y[y == 3] = 2  # the format stays valid: only class 3 is gone
    _write_idx(tmp_path / "FashionMNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", y)
    _no_training(monkeypatch)
    with pytest.raises(D.DatasetCorrupt, match=rf"the {split} split of fashion_mnist in .*FashionMNIST/raw has no "
                                               r"images of task .*'s class 3 \(label 3\)"):
        dvnlib.run("FJ1", "smoke", ["dvn"], [0], data_root=tmp_path, out_dir=tmp_path / "out", device="cpu",
                   progress=False)
    assert not list((tmp_path / "out").rglob("seed0.*"))


def test_blank_images_and_a_limit_below_the_classes_are_refused(tmp_path, monkeypatch):
    from test_data import _write_fashion_mnist, _write_idx
    files = _write_fashion_mnist(tmp_path)
    task = dvnlib.scenario("FJ1").tasks[0]
    with pytest.raises(ValueError, match=r"a limit of 3 images keeps no train images of task .* keep at least 5"):
        D.load_task(task, "train", tmp_path, limit=3)
    x, _ = files["train"]
    _write_idx(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte", x * 0)
    with pytest.raises(D.DatasetCorrupt, match="every image is blank"):
        D.load_task(task, "test", tmp_path)


# ---------------------------------------------------------------------------------------------
# Memory and disk running out, anywhere in a run


_CPU_OOM = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                        "you tried to allocate 1099511627776 bytes. Error code 12 (Cannot allocate memory)")


def _full_disk(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("error, says", [
    (MemoryError(), r"the machine ran out of memory \(RAM\): use a smaller batch .* \(--workers 1\)"),
    (_CPU_OOM, r"the machine ran out of memory \(RAM\)"),
    (None, r"the disk ran out of space writing .*rows\.csv: free disk space at .*FJ1/smoke \(df -h"),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), r"the disk quota was exceeded writing under .*FJ1/smoke"),
], ids=["MemoryError", "cpu-allocator", "disk-full", "quota"])
def test_running_out_of_memory_or_disk_is_one_line(tmp_path, monkeypatch, capsys, error, says):
    """Where training would start, the run meets ``error``; None: it writes its rows (a real
    atomic write) on a full disk, which fails at the sync that flushes them."""
    import dvnlib.results as R
    import dvnlib.runs as RUNS
    from dvnlib.resources import ResourceExhausted

    def train_one(plan, *a, **k):
        if error is None:
            real = os.fsync
            os.fsync = _full_disk  # for this write only: the run lock's release syncs too
            try:
                R.write_rows(plan.out / "rows.csv", [])
            finally:
                os.fsync = real
        raise error
    monkeypatch.setattr(RUNS, "train_one", train_one)
    with pytest.raises(ResourceExhausted, match=says):
        dvnlib.run("FJ1", "smoke", ["dvn"], [0], out_dir=tmp_path, device="cpu", progress=False)
    monkeypatch.undo()
    monkeypatch.setattr(RUNS, "train_one", train_one)
    assert cli.main(["run", "FJ1", "--methods", "dvn", "--seeds", "0", "--out", str(tmp_path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err


# ---------------------------------------------------------------------------------------------
# Divergence judged by what the run does, not only by NaN


@needs_data
def test_a_run_that_blows_up_with_a_finite_loss_stops_and_writes_nothing(tmp_path):
    """FJ1 smoke at lr 1000: the loss stays finite (7 at the first step, 7e5 at the second) and
    the run used to end at chance on every output, written as a result."""
    import dvnlib.train as T
    with pytest.raises(T.Diverged, match=r"FJ1 dvn seed 0 diverged: stage 'dvn', step \d+ of 4, loss .* over 100x "
                                         r"the stage's first.*learning rate 1000\b"):
        dvnlib.run("FJ1", "smoke", ["dvn"], [0], out_dir=tmp_path, device="cpu", progress=False,
                   overrides={"lr": 1000})
    assert not list(tmp_path.rglob("seed0.json")) and not list(tmp_path.rglob("metrics.csv"))
    df = dvnlib.run("FJ1", "smoke", ["dvn"], [0], out_dir=tmp_path, device="cpu", progress=False)
    assert len(df) == 4 and (df["train_accuracy"] > 20).all()  # the normal smoke run: kept


def test_loss_watch_rule():
    from dvnlib.train import EXPLODED, LOSS_WINDOW, LossWatch
    w = LossWatch()
    assert not any(w.exploded(x) for x in [7.0, 6.0, 60.0, 5.0])  # a noisy step is averaged away
    assert w.reference == 7.0 and not w.exploded(7.0 * EXPLODED)
    assert LossWatch(2.0).exploded(2.0 * EXPLODED + 1)  # a resumed stage keeps its first loss
    # a near-zero start is judged against 1 nat
    assert not LossWatch(1e-4).exploded(50.0) and LossWatch(1e-4).exploded(150.0)
    long = LossWatch(1.0)
    for _ in range(LOSS_WINDOW):
        long.exploded(0.5)
    assert len(long.recent) == LOSS_WINDOW and not long.exploded(400.0)  # within the window's mean


def test_a_long_run_at_chance_did_not_learn():
    import types

    import dvnlib.train as T
    from dvnlib.results import Row
    s = dvnlib.scenario("FJ1")  # 5 classes per task: chance 20%
    data = types.SimpleNamespace(y=list(range(2000)))

    def ctx(steps):
        return types.SimpleNamespace(scenario=s, label="FJ1 dvn seed 3", profile=types.SimpleNamespace(lr=2.0),
                                     train_data=[data, data],
                                     steps_per_task=lambda: {1: {"dvn": steps}, 2: {"dvn": steps}})

    def rows(acc):
        return [Row("dvn", 3, t, "t", l, "1", 10, 20, 0.5, acc, acc, 100) for t in (1, 2) for l in (1, 2)]
    with pytest.raises(T.Diverged, match=r"FJ1 dvn seed 3 did not learn: output \(task 1, level 1\) ends at 21\.0% .* "
                                         r"chance 20\.0% .* after 400 steps \(stage 'dvn', step 400\), learning rate 2\b"):
        T.check_learned(ctx(400), rows(21.0))
    T.check_learned(ctx(400), rows(30.0))  # learned
    T.check_learned(ctx(T.LEARN_STEPS - 1), rows(20.0))  # too short to judge: smoke, quick


# ---------------------------------------------------------------------------------------------
# Run files read back: checked by content against their record


def _run_files(out: Path) -> tuple[Path, Path]:
    (record,) = (out / "FJ1" / "smoke" / "runs" / "dvn").rglob("seed0.json")
    return record, record.with_suffix(".csv")


def _edit_csv(path: Path, edit) -> None:
    import csv
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    rows = edit(rows)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["scenario"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def _set(col, value, row=0):
    def edit(rows):
        rows[row][col] = value
        return rows
    return edit


_BAD_RUN_FILES = {
    "a row removed": (lambda rows: rows[:-1], r"3 rows where its record expects 4.*missing \[\(2, 2\)\]"),
    "a row twice": (lambda rows: rows + rows[:1], r"5 rows where its record expects 4"),
    "accuracy 150": (_set("accuracy", "150"), r"accuracy '150' is not a percentage in \[0, 100\]"),
    "accuracy nan": (_set("accuracy", "nan"), r"accuracy 'nan' is not a percentage"),
    "train_accuracy text": (_set("train_accuracy", "high"), r"train_accuracy 'high' is not a percentage"),
    "params 0": (_set("params", "0"), r"params '0' is not a positive integer"),
    "params_total 1.5": (_set("params_total", "1.5"), r"params_total '1.5' is not a positive integer"),
    "density -1": (_set("density", "-1"), r"density '-1' is not a finite number above 0"),
    "n_test 0": (_set("n_test", "0"), r"n_test '0' is not a positive integer"),
    "another seed": (_set("seed", "1"), r"seed '1', but its record seed0.json says 0"),
    "another method": (_set("method", "baseline"), r"method 'baseline', but its record"),
    "another scenario": (_set("scenario", "FJ2"), r"scenario 'FJ2', but its record"),
    "another profile": (_set("profile", "quick"), r"profile 'quick', but its record"),
}


@needs_data
def test_bad_run_files_are_set_aside_and_retrained(tmp_path, caplog):
    """Each bad CSV is moved aside (never deleted), its run trains again to the same numbers, and
    metrics.csv holds every output once, in range."""
    import logging

    from helpers import small_run
    ref = small_run(tmp_path)
    record, rows = _run_files(tmp_path)
    good = rows.read_text()
    for name, (edit, says) in _BAD_RUN_FILES.items():
        _edit_csv(rows, edit)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="dvnlib"):
            again = small_run(tmp_path)
        assert __import__("re").search(says, caplog.text), (name, caplog.text)
        assert rows.read_text() == good, name  # trained again, the same numbers
        assert again.equals(ref), name
    assert len(list(rows.parent.glob("seed0.csv.corrupt-*"))) == len(_BAD_RUN_FILES)


@needs_data
def test_a_record_without_its_rows_summary_is_not_finished(tmp_path):
    from helpers import small_run
    import dvnlib.runs as RUNS
    small_run(tmp_path)
    record, _ = _run_files(tmp_path)
    meta = json.loads(record.read_text())
    assert meta["rows"] == {"count": 4, "outputs": [[1, 1], [1, 2], [2, 1], [2, 2]]}
    assert (meta["scenario"], meta["profile"], meta["method"], meta["seed"]) == ("FJ1", "smoke", "dvn", 0)
    del meta["rows"]
    record.write_text(json.dumps(meta))
    assert not RUNS.finished(record, meta["key"])


def test_check_rows_pins_each_rule(tmp_path):
    import csv

    from dvnlib import results as R
    row = {"scenario": "FJ1", "profile": "smoke", "method": "dvn", "seed": 0, "task": 1, "task_name": "t",
           "level": 1, "units": "1", "params": 10, "params_total": 20, "density": 0.5, "accuracy": 50.0,
           "train_accuracy": 60.0, "n_test": 100}
    rows = [row, {**row, "level": 2}]
    path = tmp_path / "seed0.csv"
    R.write_rows(path, rows)
    record = {"scenario": "FJ1", "profile": "smoke", "method": "dvn", "seed": 0, "rows": R.rows_summary(rows)}
    assert len(R.check_rows(path, record)) == 2
    with pytest.raises(R.CorruptFile, match=r"seed0.csv.*2 rows where its record expects 3.*missing \[\(2, 1\)\]"):
        R.check_rows(path, {**record, "rows": R.rows_summary([*rows, {**row, "task": 2}])})
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, fieldnames=list(row), lineterminator="\n").writerow({**row, "accuracy": "inf"})
    with pytest.raises(R.CorruptFile, match=r"line 4: accuracy 'inf' is not a percentage"):
        R.check_rows(path, record)


# ---------------------------------------------------------------------------------------------
# The book's inputs: one line naming the file, what is wrong and the fix


def _book_root(tmp_path: Path) -> Path:
    """A results folder with FJ1's quick metrics (5 seeds of one output) and its run.json."""
    import pandas as pd

    from dvnlib import results as R
    d = tmp_path / "FJ1" / "quick"
    d.mkdir(parents=True)
    rows = [{"scenario": "FJ1", "profile": "quick", "method": "dvn", "seed": s, "task": 1, "task_name": "t",
             "level": 1, "units": "1", "params": 10, "params_total": 20, "density": 0.5, "accuracy": 80.0 + s,
             "train_accuracy": 90.0, "n_test": 100} for s in range(5)]
    pd.DataFrame(rows, columns=R.COLUMNS).to_csv(d / "metrics.csv", index=False)
    (d / "run.json").write_text(json.dumps({"scenario": "FJ1", "profile": "quick", "runs": {}}))
    return tmp_path


@pytest.mark.parametrize("cell, says", [
    ("abc", r"line 4, column accuracy: 'abc' is not a percentage in \[0, 100\]"),
    ("", r"line 4, column accuracy: an empty cell is not a percentage"),
    ("150", r"line 4, column accuracy: 150 is not a percentage"),
])
def test_a_bad_metrics_cell_names_the_file_and_the_fix(tmp_path, cell, says):
    from dvnlib.report import sources as SRC
    root = _book_root(tmp_path)
    path = root / "FJ1" / "quick" / "metrics.csv"
    lines = path.read_text().splitlines()
    cells = lines[3].split(",")
    cells[11] = cell  # accuracy
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SRC.BadInput, match=rf"{path}, {says}.*; rerun `python -m dvnlib run FJ1 --profile quick` "
                                           r"to rewrite it"):
        SRC.load_metrics("FJ1", "quick", root)


def test_a_truncated_json_names_the_file(tmp_path):
    from dvnlib.report import records, sources as SRC
    root = _book_root(tmp_path)
    run_json = root / "FJ1" / "quick" / "run.json"
    run_json.write_text(run_json.read_text()[:20])
    with pytest.raises(SRC.BadInput, match=rf"{run_json} is not valid JSON .*rerun `python -m dvnlib run FJ1"):
        records.run_records(root)
    bench = root / "bench"
    bench.mkdir()
    (bench / "bench.json").write_text('{"device": "cpu", ')
    with pytest.raises(SRC.BadInput, match=r"bench\.json is not valid JSON .*python -m dvnlib bench --out results/bench"):
        SRC.load_bench_meta(root)
    (bench / "inference.csv").write_text("scenario,ms_per_image\nJ2,0.5\nJ2,fast\n")
    with pytest.raises(SRC.BadInput, match=r"inference\.csv, line 3, column ms_per_image: 'fast' is not a number above 0"):
        SRC.load_bench(root)


def test_the_seed_count_is_of_the_values_averaged():
    import pandas as pd

    from dvnlib.report import aggregate
    df = pd.DataFrame([{"method": "dvn", "task": 1, "task_name": "t", "level": 1, "units": "1", "params": 1,
                        "density": 1.0, "params_total": 1, "seed": s, "accuracy": [80, 81, None, 83, 84][s]}
                       for s in range(5)])
    a = aggregate(df)
    assert a["seeds"].tolist() == [4] and a["accuracy"].tolist() == [82.0]


def test_an_undecodable_text_file_of_a_dataset_is_named(tmp_path):
    from test_data import _write_tiny_imagenet
    base = _write_tiny_imagenet(tmp_path)
    (base / "wnids.txt").write_bytes(b"\xff\xfe\x00garbage")
    task = dvnlib.scenario("J2").tasks[0]
    with pytest.raises(D.DatasetCorrupt, match=r"wnids\.txt is not a valid tiny_imagenet file \(not text"):
        D.load_task(task, "train", tmp_path)
