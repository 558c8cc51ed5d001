"""Kept models are trusted only when they are what their run kept: one per configuration, the
run's record holding each file's SHA-256, and each file claiming the identity asked for. Two
tiny FJ1 runs (seeds 0 and 1) are trained once; each test damages a copy of their results."""
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch

import dvnlib
from dvnlib import cli, deploy, request, runs, trained
from dvnlib import kept as K
from dvnlib.data import data_root
from helpers import TINY, small_run

pytestmark = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                reason="Fashion-MNIST is not installed (scripts/get_fashion_mnist.sh)")
SET = [f"--set={k}={v}" for k, v in TINY.items()]  # TINY, as the command line gives it


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    small_run(root, seeds=[0, 1])
    return root


@pytest.fixture
def root(kept, tmp_path):
    """A copy of the two runs' results that a test may damage."""
    return shutil.copytree(kept, tmp_path / "results")


def model(root, seed, overrides=TINY):
    """(weights, metadata, record) paths of a kept dvn model of FJ1 smoke."""
    plan = runs.resolve(request.check("FJ1", "smoke", methods=["dvn"], seeds=[seed], overrides=overrides,
                                      device="cpu", out_dir=root, probe_out=False))
    pt, js = trained.paths(plan.out, plan.config_key, "dvn", seed)
    return pt, js, plan.record(plan.run("dvn", seed))


def finished(root, seed, overrides=TINY):
    plan = runs.resolve(request.check("FJ1", "smoke", methods=["dvn"], seeds=[seed], overrides=overrides,
                                      device="cpu", out_dir=root))
    return runs.is_finished(plan, plan.run("dvn", seed))


def one_line_error(root, capsys, *args):
    """The export command's status and its one line on stderr."""
    status = cli.main(["export", "FJ1", "--profile", "smoke", "--task", "1", "--level", "1", "--results", str(root),
                       "--out", str(root / "m.onnx"), *SET, *args])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return status, err


def test_a_run_with_other_settings_never_replaces_another_configurations_model(root):
    pt, js, record = model(root, 0)
    kept_bytes = pt.read_bytes(), js.read_bytes()
    net = dvnlib.load("FJ1", "smoke", 0, root=root, overrides=TINY)
    other = {**TINY, "train_per_task": 32}
    small_run(root, overrides=other)
    assert (pt.read_bytes(), js.read_bytes()) == kept_bytes
    again = dvnlib.load("FJ1", "smoke", 0, root=root, overrides=TINY)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    assert again.info["overrides"]["train_per_task"] == 64 and Path(again.info["record"]) == record
    theirs = dvnlib.load("FJ1", "smoke", 0, root=root, overrides=other)
    assert theirs.info["overrides"]["train_per_task"] == 32 and theirs.info["config"] != again.info["config"]
    # each serves its own run's accuracy
    for n in (again, theirs):
        rows = {(int(r["task"]), int(r["level"])): float(r["accuracy"])
                for r in dvnlib.results.read_rows(Path(n.info["record"]).with_suffix(".csv"))}
        assert K.recorded_accuracy(n, 1, 1) == rows[(1, 1)]


def test_a_deleted_model_makes_its_run_train_again(root, caplog):
    pt, js, record = model(root, 0)
    kept_bytes = pt.read_bytes()
    pt.unlink()
    with caplog.at_level(logging.WARNING, logger="dvnlib"):
        assert not finished(root, 0)
    assert str(pt) in caplog.text and "trained again" in caplog.text
    assert finished(root, 1)  # the other seed's run is untouched
    small_run(root, seeds=[0])
    assert finished(root, 0)
    assert pt.read_bytes() == kept_bytes  # the same network, from the run's own checkpoints
    assert json.loads(record.read_text())["models"][pt.relative_to(root / "FJ1" / "smoke").as_posix()] == \
        trained.sha256(pt)


def test_another_seeds_model_is_refused_with_one_line_naming_the_file(root, capsys):
    pt0, js0, record0 = model(root, 0)
    pt1, js1, _ = model(root, 1)
    shutil.copyfile(pt1, pt0)
    with pytest.raises(trained.ModelMismatch) as e:
        dvnlib.load("FJ1", "smoke", 0, root=root, overrides=TINY)
    assert str(pt0) in str(e.value) and len(str(e.value).splitlines()) == 1
    assert "python -m dvnlib run FJ1 --profile smoke --methods dvn --seeds 0" in str(e.value)
    status, err = one_line_error(root, capsys)
    assert status == 2 and str(pt0) in err
    assert not (root / "m.onnx").exists()
    # Even where the record was made to vouch for the swapped files, they say what they are.
    shutil.copyfile(js1, js0)
    meta = json.loads(record0.read_text())
    meta["models"] = {rel: trained.sha256(root / "FJ1" / "smoke" / rel) for rel in meta["models"]}
    record0.write_text(json.dumps(meta))
    with pytest.raises(trained.ModelMismatch, match=r"seed 1, not 0") as e:
        dvnlib.load("FJ1", "smoke", 0, root=root, overrides=TINY)
    assert str(js0) in str(e.value) and len(str(e.value).splitlines()) == 1


def test_a_truncated_model_file_names_the_file(root, capsys):
    pt, _, _ = model(root, 0)
    pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])
    with pytest.raises(trained.ModelMismatch) as e:
        dvnlib.load("FJ1", "smoke", 0, root=root, overrides=TINY)
    assert str(pt) in str(e.value) and len(str(e.value).splitlines()) == 1
    status, err = one_line_error(root, capsys)
    assert status == 2 and str(pt) in err
    assert not finished(root, 0)  # and the run trains again when asked to


def test_a_model_of_the_older_layout_is_named_and_not_read(tmp_path):
    """Models kept per (method, seed) alone, with no hash in their record, are never trusted."""
    old = tmp_path / "FJ1" / "smoke" / "models" / "dvn" / "seed0.pt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"weights of some configuration")
    with pytest.raises(trained.ModelMissing) as e:
        dvnlib.load("FJ1", "smoke", 0, root=tmp_path)
    assert f"{old} is of an older layout" in str(e.value) and len(str(e.value).splitlines()) == 1
    assert "python -m dvnlib run FJ1 --profile smoke --methods dvn --seeds 0" in str(e.value)
