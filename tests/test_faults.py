"""Bad input and faults (issue 12): every one gets a clear answer, early, and nothing is lost or
silently wrong. Parameters are checked before any data is read; unreadable results files are moved
aside and trained again; a run's identity includes the code that trains it; configurations keep
their own records; the command line gives one line and exit 2 for what the user can fix."""
import dataclasses
import json
import logging
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dvnlib
import dvnlib.data as D
import dvnlib.methods as M
from dvnlib import cli
from dvnlib import provenance as P
from dvnlib import request as Q
from dvnlib import results as R
from helpers import TINY, count_trainings, refuse_training, small_run

HAVE_FM = (D.data_root() / "FashionMNIST" / "raw").exists()
needs_data = pytest.mark.skipif(not HAVE_FM, reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")

_run = small_run


@pytest.fixture
def no_data(monkeypatch):
    """Reading any data fails the test: what is checked must be checked before."""
    def read(*a, **k):
        raise AssertionError("data was read before the parameters were checked")
    monkeypatch.setattr(D, "load_task", read)


def _config_dir(out: Path, method="dvn") -> Path:
    """The folder of the one configuration's records of ``method`` (found, not assumed)."""
    (record,) = (out / "FJ1" / "smoke" / "runs" / method).rglob("seed0.json")
    return record.parent


# ---------------------------------------------------------------------------------------------
# Parameters, checked before any data is read


@pytest.mark.parametrize("methods, seeds, want_methods, want_seeds", [
    ("dvn", 0, ("dvn",), (0,)),                       # papermill: -p methods dvn -p seeds 0
    ("dvn,baseline", "0,1,2", ("dvn", "baseline"), (0, 1, 2)),  # -p methods dvn,baseline -p seeds 0,1,2
    (["dvn"], [1], ("dvn",), (1,)),
    (["dvn", "dvn,lwf"], ["0", "2"], ("dvn", "lwf"), (0, 2)),
    (None, None, M.defaults("joint"), (0,)),
])
def test_methods_and_seeds_as_a_user_types_them(tmp_path, methods, seeds, want_methods, want_seeds):
    req = Q.check("FJ1", "smoke", methods, seeds, out_dir=tmp_path, device="cpu")
    assert (req.methods, req.seeds) == (want_methods, want_seeds)
    # and through dvnlib.run: accepted, it goes on to read the data (absent here)
    with pytest.raises(D.DatasetMissing):
        _run(tmp_path, methods=methods, seeds=seeds, data_root=tmp_path / "nowhere")


@pytest.mark.parametrize("kw, match", [
    (dict(overrides={"epoch": 1}), r"unknown override 'epoch': valid profile settings are epochs, batch_size, lr"),
    (dict(overrides={"epochs": "three"}), r"epochs='three': expected an integer of 1 or more"),
    (dict(overrides={"epochs": 0}), r"epochs=0: expected an integer of 1 or more"),
    (dict(overrides={"lr": -0.1}), r"lr=-0.1: expected a learning rate above 0"),
    (dict(overrides={"milestones": [0.5, 2]}), r"strictly between 0 and 1"),
    (dict(overrides={"train_per_task": 2.5}), r"train_per_task=2.5"),
    (dict(overrides={"depth": 9}), r"WRN depth must be 6n\+2"),
    (dict(overrides="epochs=1"), r"overrides must be a mapping"),
    (dict(device="tpu"), r"unknown device 'tpu': valid devices are auto, cpu, cuda, cuda:N, mps"),
    (dict(seeds="zero"), r"seeds must be one or more non-negative integers"),
    (dict(seeds=-1), r"non-negative"),
    (dict(methods="dvn,magic"), r"unknown method 'magic': valid methods are dvn"),
])
def test_bad_parameters_rejected_before_any_data(tmp_path, no_data, kw, match):
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, **kw)


def test_overrides_from_strings_are_typed(tmp_path):
    """YAML reads 1e-3 as a string, the command line gives strings: both are typed once, so the
    same settings give the same configuration however they were written."""
    req = Q.check("FJ1", "smoke", overrides={"epochs": "2", "lr": "1e-3", "milestones": "0.5,0.75",
                                              "depth": "none", "seeds": [0, 1]}, out_dir=tmp_path)
    assert req.overrides == {"epochs": 2, "lr": 0.001, "milestones": (0.5, 0.75), "depth": None, "seeds": (0, 1)}
    p = req.scenario.profile("smoke")
    assert (p.epochs, p.lr, p.milestones) == (2, 0.001, (0.5, 0.75))


@pytest.mark.parametrize("value, whole", [
    (2, True), ("2", True), (" 2 ", True), (2.0, True), (np.int64(2), True),
    ("2.5", False), (2.5, False), (True, False), ("two", False), (None, False),
])
def test_whole_numbers_are_read_alike_everywhere(tmp_path, value, whole):
    """Workers, seeds and integer settings take whole numbers by one rule (``request.whole_number``)."""
    from dvnlib import workers as W
    outcomes = []
    for attempt in (lambda: W.check_schedule(workers=value if value is not None else "x"),
                    lambda: Q.parse_seeds([value]),
                    lambda: Q.check("FJ1", "smoke", overrides={"epochs": value}, device="cpu", out_dir=tmp_path)):
        try:
            attempt()
            outcomes.append(True)
        except ValueError:
            outcomes.append(False)
    assert outcomes == [whole] * 3


def test_unwritable_output_found_before_data(tmp_path, no_data):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match=r"cannot write to the results folder .*a-file"):
        _run(blocker)


# ---------------------------------------------------------------------------------------------
# Faults on disk


@needs_data
def test_garbage_run_record_is_moved_aside_and_retrained(tmp_path, caplog):
    ref = _run(tmp_path)
    record = _config_dir(tmp_path) / "seed0.json"
    record.write_text("{ this is not JSON")
    with caplog.at_level(logging.WARNING, logger="dvnlib"):
        again = _run(tmp_path)
    aside = list(record.parent.glob("seed0.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{ this is not JSON"  # kept, not deleted
    assert R.read_record(record)["method"] == "dvn"  # written again by the retrained run
    assert str(record) in caplog.text
    pd.testing.assert_series_equal(ref["accuracy"], again["accuracy"])


@needs_data
def test_truncated_checkpoint_is_moved_aside_and_retrained(tmp_path, caplog):
    ref = _run(tmp_path)
    (ckpt,) = (tmp_path / "FJ1" / "smoke" / "checkpoints").rglob("*.pt")
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # a checkpoint cut short
    (_config_dir(tmp_path) / "seed0.json").unlink()  # so that the run trains (and resumes) again
    with caplog.at_level(logging.WARNING, logger="dvnlib"):
        again = _run(tmp_path)
    assert len(list(ckpt.parent.glob(f"{ckpt.name}.corrupt-*"))) == 1
    assert str(ckpt) in caplog.text and "weights_only" not in caplog.text
    pd.testing.assert_series_equal(ref["accuracy"], again["accuracy"])  # trained from scratch, same numbers


def test_unreadable_checkpoint_names_the_file_and_never_advises_unsafe_loading(tmp_path):
    import pickle
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"garbage, not a zip")
    with pytest.raises(R.CorruptFile, match="x.pt") as e:
        R.load_checkpoint(bad)
    foreign = tmp_path / "code.pt"  # a pickle that would run code: refused the same way
    import torch
    torch.save({"f": pickle.loads}, foreign)
    with pytest.raises(R.CorruptFile, match="code.pt") as e2:
        R.load_checkpoint(foreign)
    assert "weights_only" not in str(e.value) + str(e2.value)
    assert R.resume_checkpoint(bad) is None and not bad.exists()
    assert len(list(tmp_path.glob("x.pt.corrupt-*"))) == 1


@needs_data
def test_record_without_its_csv_is_retrained(tmp_path, monkeypatch):
    _run(tmp_path)
    (_config_dir(tmp_path) / "seed0.csv").unlink()
    calls = count_trainings(monkeypatch)
    df = _run(tmp_path)
    assert calls == [1] and len(df) == 4
    assert (_config_dir(tmp_path) / "seed0.csv").exists()


def _idx(path: Path, a: np.ndarray, magic: int | None = None) -> None:
    magic = (0x800 | a.ndim) if magic is None else magic
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes())


def _fashion(root: Path, n=20, size=28) -> Path:
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        _idx(raw / f"{prefix}-images-idx3-ubyte", np.zeros((n, size, size)))
        _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return raw


@pytest.mark.parametrize("damage, match", [
    (lambda f: _idx(f, np.zeros((20, 28, 28)), magic=0x1234), "magic number 0x00001234, expected 0x00000803"),
    (lambda f: _idx(f, np.zeros((20, 27, 27))), "27x27 px, expected 28x28"),
    (lambda f: f.write_bytes(f.read_bytes()[:-100]), "truncated"),
    (lambda f: f.write_bytes(b"\x1f\x8b" + f.read_bytes()[2:]), "gzip"),
])
def test_malformed_fashion_mnist_names_the_file(tmp_path, damage, match):
    raw = _fashion(tmp_path)
    damage(raw / "train-images-idx3-ubyte")
    task = dvnlib.scenario("FJ1").tasks[0]
    with pytest.raises(D.DatasetCorrupt, match=match) as e:
        D.load_task(task, "train", tmp_path)
    assert isinstance(e.value, D.DatasetMissing)
    assert str(raw / "train-images-idx3-ubyte") in str(e.value) and "get_fashion_mnist.sh" in str(e.value)


def test_fashion_mnist_labels_that_do_not_match_the_images(tmp_path):
    raw = _fashion(tmp_path)
    _idx(raw / "t10k-labels-idx1-ubyte", np.arange(19) % 10)
    with pytest.raises(D.DatasetCorrupt, match="19 labels for 20 images"):
        D.load_task(dvnlib.scenario("FJ1").tasks[0], "test", tmp_path)
    _idx(raw / "t10k-labels-idx1-ubyte", np.full(20, 12))
    with pytest.raises(D.DatasetCorrupt, match="expected 0..9"):
        D.load_task(dvnlib.scenario("FJ1").tasks[0], "test", tmp_path)


# ---------------------------------------------------------------------------------------------
# Results integrity


def test_configuration_holds_everything_a_scenario_decides():
    """scenarios.py is outside the code hash, so the configuration key must change with every
    scenario setting that changes a run: profile settings, the tasks, and the resolved backbone."""
    from dvnlib import runs
    from dvnlib import scenarios as S
    plan = lambda s: runs.resolve(Q.check(s, "study", ["dvn"], device="cpu", probe_out=False))  # noqa: E731
    key = lambda s: plan(s).config_key  # noqa: E731
    fh1 = S.get("FH1")
    base = plan(fh1).configuration
    assert base["backbone"]["widths"] and base["settings"]["epochs"] == fh1.profile("study").epochs
    assert key(S.with_profile(fh1, "study", width=2)) != key(fh1)
    assert key(S.with_profile(fh1, "study", train_per_task=100)) != key(fh1)
    assert key(dataclasses.replace(fh1, tasks=fh1.tasks[::-1])) != key(fh1)
    assert key(S.with_profile(fh1, "quick", epochs=1)) == key(fh1)  # another profile: not this run


@needs_data
def test_changed_code_never_reuses_results_or_checkpoints(tmp_path, monkeypatch):
    two = {**TINY, "epochs": 2}
    saves = []
    real_save = R.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        if "epoch" not in state:  # not a training checkpoint (the kept model, say)
            return
        saves.append(state["epoch"])
        if len(saves) == 1:
            raise KeyboardInterrupt("cut after the first epoch")
    monkeypatch.setattr(R, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, overrides=two)
    monkeypatch.setattr(P, "code_version", lambda *a: "other-code")
    _run(tmp_path, overrides=two)
    assert saves == [1, 1, 2]  # started again from epoch 0: the old code's checkpoint was not resumed
    calls = count_trainings(monkeypatch)
    _run(tmp_path, overrides=two)
    assert calls == []  # the same code again: read back
    monkeypatch.setattr(P, "code_version", lambda *a: "newer-code")
    _run(tmp_path, overrides=two)
    assert calls == [1]  # a finished run of other code is not reused


@needs_data
def test_record_without_a_code_version_is_stale(tmp_path, monkeypatch):
    """Records committed before the code was part of a run's identity are trained again."""
    _run(tmp_path)
    record = _config_dir(tmp_path) / "seed0.json"
    meta = json.loads(record.read_text())
    old_key = R.config_key({**json.loads((tmp_path / "FJ1" / "smoke" / "run.json").read_text())["configuration"],
                            "method": "dvn", "seed": 0})
    meta.pop("code", None)
    meta["key"] = old_key
    record.write_text(json.dumps(meta))
    calls = count_trainings(monkeypatch)
    _run(tmp_path)
    assert calls == [1]


@needs_data
def test_configurations_keep_their_own_records(tmp_path, monkeypatch):
    default = _run(tmp_path)
    other = _run(tmp_path, overrides={**TINY, "lr": 0.2})
    out = tmp_path / "FJ1" / "smoke"
    assert len(list((out / "runs" / "dvn").iterdir())) == 2
    assert json.loads((out / "run.json").read_text())["configuration"]["settings"]["lr"] == 0.2
    refuse_training(monkeypatch)
    back = _run(tmp_path)  # the default configuration again: read back, not retrained
    pd.testing.assert_frame_equal(back, default)
    assert json.loads((out / "run.json").read_text())["configuration"]["settings"]["lr"] == 0.05
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), default, check_dtype=False)
    pd.testing.assert_frame_equal(_run(tmp_path, overrides={**TINY, "lr": "0.2"}), other)  # typed alike


# ---------------------------------------------------------------------------------------------
# The command line


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "dvnlib", *args], capture_output=True, text=True,
                          timeout=120, **kw)


@pytest.mark.parametrize("args, match", [
    (("run", "FJ1", "--device", "tpu"), "valid devices are auto, cpu"),
    (("run", "FJ1", "--set", "epochs=three"), "expected an integer of 1 or more"),
    (("run", "FJ1", "--set", "epoch=1"), "valid profile settings are epochs"),
    (("run", "FJ1", "--seeds", "0,x"), "seeds must be one or more non-negative integers"),
])
def test_cli_bad_input_one_line_exit_2(args, match):
    p = _cli(*args)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert match in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_cli_unwritable_out_and_malformed_dataset(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    p = _cli("run", "FJ1", "--out", str(blocker))
    assert p.returncode == 2 and p.stderr.startswith("error: cannot write to the results folder"), p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    raw = _fashion(tmp_path / "data")
    _idx(raw / "train-images-idx3-ubyte", np.zeros((20, 28, 28)), magic=7)
    p = _cli("run", "FJ1", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    assert "train-images-idx3-ubyte is not a valid fashion_mnist file" in p.stderr


def test_cli_diverged_run_is_one_line_and_a_bug_keeps_its_traceback(monkeypatch, capsys):
    import dvnlib.runner
    from dvnlib.train import Diverged

    def diverge(*a, **k):
        raise Diverged("FJ1 dvn seed 0 diverged: lower the learning rate")
    monkeypatch.setattr(dvnlib.runner, "run", diverge)
    assert cli.main(["run", "FJ1"]) == 2
    assert capsys.readouterr().err == "error: FJ1 dvn seed 0 diverged: lower the learning rate\n"

    def bug(*a, **k):
        raise TypeError("a real bug")
    monkeypatch.setattr(dvnlib.runner, "run", bug)
    with pytest.raises(TypeError, match="a real bug"):
        cli.main(["run", "FJ1"])


def test_cli_quiet_when_the_reader_stops_early():
    """``summary J2 --json | head -c 10``: the reader is gone before we write."""
    p = subprocess.Popen([sys.executable, "-m", "dvnlib", "summary", "J2", "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "BrokenPipeError" not in err and "Traceback" not in err, err


def test_bench_out_checked_before_timing(tmp_path, monkeypatch, capsys):
    from dvnlib import bench

    def timing(**k):
        raise AssertionError("timed although --out cannot be written")
    monkeypatch.setattr(bench, "run", timing)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["bench", "--quick", "--out", str(blocker / "bench")]) == 2
    assert "cannot write to the results folder" in capsys.readouterr().err


def test_bench_table_printed_when_writing_fails(tmp_path, monkeypatch, capsys):
    from dvnlib import bench
    monkeypatch.setattr(bench, "run", lambda **k: {"fake": True})
    monkeypatch.setattr(bench, "table", lambda result: "THE TABLE")

    def fail(result, out):
        raise PermissionError(13, "Permission denied", str(Path(out) / "inference.csv"))
    monkeypatch.setattr(bench, "write", fail)
    assert cli.main(["bench", "--quick", "--out", str(tmp_path / "bench")]) == 2
    got = capsys.readouterr()
    assert "THE TABLE" in got.out
    assert "Permission denied" in got.err and "inference.csv" in got.err
