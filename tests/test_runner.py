"""The runner: results files, skip-if-finished, exact resume, reproducibility, bad input."""
import json

import pandas as pd
import pytest
import torch

from dvnlib import results as R
from dvnlib import train
from dvnlib.data import DatasetMissing, data_root
from helpers import refuse_training, small_run

pytestmark = pytest.mark.skipif(not (data_root() / "FashionMNIST" / "raw").exists(),
                                reason="Fashion-MNIST is not installed: bash scripts/get_fashion_mnist.sh")

TINY = {"epochs": 2, "train_per_task": 128, "test_per_task": 128, "batch_size": 32}


def _run(tmp_path, **kw):
    return small_run(tmp_path, **{"overrides": TINY, **kw})


def test_writes_metrics_and_run_json(tmp_path):
    df = _run(tmp_path)
    out = tmp_path / "FJ1" / "smoke"
    m = pd.read_csv(out / "metrics.csv")
    assert list(m.columns) == list(R.COLUMNS)
    assert len(m) == 4 and set(m["level"]) == {1, 2}
    assert m["accuracy"].between(0, 100).all() and (m["n_test"] == 128).all()
    meta = json.loads((out / "run.json").read_text())
    for k in ("configuration", "versions", "hardware", "git", "device", "runs"):
        assert k in meta
    assert meta["configuration"]["settings"]["epochs"] == 2
    assert meta["runs"]["dvn"][0]["seed"] == 0
    record = json.loads((out / "runs" / "dvn" / meta["configuration_key"] / "seed0.json").read_text())
    assert record["git"]["commit"] == meta["runs"]["dvn"][0]["commit"]  # the training commit, kept per run
    assert record["versions"]["torch"] and record["hardware"]["cpu"]
    pd.testing.assert_frame_equal(df.reset_index(drop=True), m, check_dtype=False)


def test_finished_run_is_not_redone(tmp_path, monkeypatch):
    _run(tmp_path)
    refuse_training(monkeypatch)
    _run(tmp_path)  # same configuration: read back
    with pytest.raises(AssertionError, match="trained again"):
        _run(tmp_path, overrides={**TINY, "lr": 0.01})  # another configuration: retrained


def test_a_run_is_resolved_once_and_carried_to_its_method(tmp_path, monkeypatch):
    """The request is resolved once (settings, backbone, configuration, each method's code
    hashed once); training a run neither resolves the profile nor hashes code again, and the
    method's context holds the plan's own values."""
    import dataclasses

    from dvnlib import provenance as P, request as Q, runs, scenarios as S
    hashed, real_hash = [], P.code_version
    monkeypatch.setattr(P, "code_version", lambda *a, **kw: hashed.append(a) or real_hash(*a, **kw))
    plan = runs.resolve(Q.check("FJ1", "smoke", ["dvn", "baseline"], [0, 1], TINY, "cpu", tmp_path))
    assert len(hashed) == 3  # dvn's code, baseline's, and the stages they share
    assert [(r.method, r.seed) for r in plan.runs] == [("dvn", 0), ("dvn", 1), ("baseline", 0), ("baseline", 1)]
    assert len({r.key for r in plan.runs}) == 4 and plan.settings.epochs == TINY["epochs"]
    resolved, real_profile = [], S.Scenario.profile
    monkeypatch.setattr(S.Scenario, "profile", lambda self, name: resolved.append(name) or real_profile(self, name))
    seen = {}

    class Stop(Exception):
        pass

    def method(ctx):
        seen.update(ctx=ctx, resolved=len(resolved), hashed=len(hashed), spec=ctx.layout().spec)
        raise Stop
    run = dataclasses.replace(plan.run("dvn", 1), fn=method)
    with pytest.raises(Stop):
        runs.train_one(plan, run, progress=False)
    ctx = seen["ctx"]
    assert ctx.profile is plan.settings and seen["spec"] is plan.backbone
    assert (ctx.key, ctx.seed) == (run.key, 1)
    assert seen["resolved"] == 0 and seen["hashed"] == 3


def test_interrupted_run_resumes_to_the_same_numbers(tmp_path, monkeypatch):
    ref = _run(tmp_path / "ref")
    saves = []
    real_save = R.save_checkpoint

    def save_then_stop(path, state):
        real_save(path, state)
        saves.append(path)
        raise KeyboardInterrupt("simulated interruption after the first epoch")
    monkeypatch.setattr(R, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut")
    monkeypatch.setattr(R, "save_checkpoint", real_save)
    assert len(saves) == 1 and torch.load(saves[0], weights_only=True)["epoch"] == 1
    resumed = _run(tmp_path / "cut")
    pd.testing.assert_series_equal(ref["accuracy"], resumed["accuracy"])


def test_same_seed_reproduces(tmp_path):
    a = _run(tmp_path / "a")
    b = _run(tmp_path / "b")
    pd.testing.assert_series_equal(a["accuracy"], b["accuracy"])


def test_checkpoints_load_weights_only(tmp_path):
    _run(tmp_path)
    ckpt = next((tmp_path / "FJ1" / "smoke" / "checkpoints").rglob("*.pt"))
    state = R.load_checkpoint(ckpt)
    assert set(state) == {"key", "epoch", "model", "optimizer", "schedule", "loss_reference"}


@pytest.mark.parametrize("kw, match", [
    (dict(scenario="FJ9"), "valid scenarios are"),
    (dict(profile="huge"), "valid profiles are smoke, quick, study, paper"),
    (dict(methods=["magic"]), "valid methods are dvn"),
    (dict(seeds=[]), "one or more non-negative integers"),
    (dict(scenario="FH1", family="joint"), "notebooks/hierarchical.ipynb"),
])
def test_bad_input_lists_valid_values(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _run(tmp_path, **kw)


def test_missing_dataset_names_path_and_fix(tmp_path):
    with pytest.raises(DatasetMissing) as e:
        _run(tmp_path, data_root=tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(e.value)
    assert "get_fashion_mnist" in str(e.value)


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "x.csv"
    R.atomic_write_text(target, "old\n")

    def fail(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(R.os, "replace", fail)
    with pytest.raises(OSError):
        R.atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv"]


def test_atomic_write_makes_an_ordinary_file(tmp_path):
    import os
    import stat
    R.atomic_write_text(tmp_path / "y.csv", "a\n")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "y.csv").stat().st_mode) == 0o666 & ~mask
