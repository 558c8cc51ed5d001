"""The recomputed study's design: a WRN narrower than widening factor 1, per-task training sizes
(FJ3 with J3's ratios), per-image predictions kept beside every run, and LwF's head-only first
stage."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

import dvnlib
from dvnlib import backbones as B
from dvnlib import scenarios as S
from dvnlib.methods import sequential as SQ

SMALL = {"epochs": 2, "train_per_task": 96, "test_per_task": 64, "batch_size": 32}


def test_wrn_base_width_scales_the_stages_and_keeps_the_layout():
    wide, narrow = B.wrn(8, 1), B.wrn(8, 1, base=4)
    assert wide.widths == (16, 32, 64) and narrow.widths == (4, 8, 16)
    assert narrow.stem_channels == wide.stem_channels == 16  # the input layer stays the WRN's
    assert (narrow.blocks, narrow.strides) == (wide.blocks, wide.strides)
    assert "base 4" in narrow.name and wide.name == "WRN-8-1"
    with pytest.raises(ValueError, match="WRN setting"):
        B.backbone("resnet", 10, 8, base=4)
    with pytest.raises(ValueError, match="base width"):
        B.wrn(8, 1, base=0)
    # the override reaches the network the study builds
    assert dvnlib.summary("FJ1", "study", base_width=4)["total_params"] < dvnlib.summary("FJ1", "study")["total_params"]


def test_fj3_study_has_j3s_size_ratios():
    p = S.get("FJ3").profile("study")
    sizes = [p.train_limit(t) for t in (1, 2, 3)]
    assert sizes == [6000, 3000, 300] and sizes[0] / sizes[2] == 20  # Tiny-ImageNet : STL-10
    assert S.get("FJ1").profile("study").train_limit(2) == 6000  # elsewhere one count for all
    with pytest.raises(ValueError, match="one count per task"):
        S.with_profile("FJ3", "study", train_sizes=(10, 20))


@pytest.fixture(scope="module")
def fs1(tmp_path_factory):
    out = tmp_path_factory.mktemp("fs1")
    df = dvnlib.run("FS1", "smoke", methods=["lwf", "feature_extraction"], seeds=[0], out_dir=out,
                    progress=False, overrides=SMALL, threads=1)
    return out / "FS1" / "smoke", df


def test_every_run_keeps_its_per_image_predictions(fs1):
    folder, df = fs1
    labels = {}
    for record in sorted(folder.glob("runs/*/*/seed0.json")):
        meta = json.loads(record.read_text())
        z = np.load(record.with_name(meta["predictions"]["file"]))
        rows = pd.read_csv(record.with_suffix(".csv"))
        for _, r in rows.iterrows():
            pred, y = z[f"pred_t{r.task}_l{r.level}"], z[f"labels_t{r.task}"]
            assert len(pred) == len(y) == r.n_test
            assert 100 * (pred == y).mean() == pytest.approx(r.accuracy)  # the row is these images
            labels.setdefault(r.task, y)
            assert np.array_equal(labels[r.task], y)  # every method sees the same images in one order


def test_lwf_trains_the_head_alone_first_then_everything_for_the_same_epochs(fs1):
    folder, _ = fs1
    meta = json.loads(next(folder.glob("runs/lwf/*/seed0.json")).read_text())
    head, tune = SQ.lwf_epochs(SMALL["epochs"])
    assert (head, tune) == (1, 1)
    assert meta["epochs_per_task"]["2"] == {"lwf-head": head, "lwf": tune}
    assert SQ.lwf_epochs(16) == (4, 12) and SQ.lwf_epochs(1) == (0, 1)


def test_lwf_head_stage_leaves_the_old_network_untouched():
    net = dvnlib.build("FS1", "smoke")
    model = SQ.OldNetWithNewHead(net, torch.nn.Linear(net.heads["t1l1"].in_features, 5), freeze_old=True)
    before = {k: v.clone() for k, v in model.old.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    model.train()
    x = torch.randn(8, 1, 32, 32).contiguous(memory_format=net.memory_format)
    torch.nn.functional.cross_entropy(model(x, 2, 1), torch.randint(0, 5, (8,))).backward()
    opt.step()
    assert not model.old.training  # BN statistics of the old network stay as they were
    assert all(torch.equal(before[k], v) for k, v in model.old.state_dict().items())
    model.freeze(False)
    assert model.old.training and all(p.requires_grad for p in model.old.parameters())


def test_the_study_plan_is_the_preregistered_one():
    assert S.STUDY_PROFILES == {"study": ("FH1", "FJ1", "FS1", "FJ2", "FJ3"), S.NARROW: ("FJ1", "FJ2")}
    assert S.get("FJ1").backbone(S.NARROW).widths == (4, 8, 16)  # the probe's narrowest candidate
    assert S.get("FJ2").backbone(S.NARROW).widths == (8, 16, 32, 64)
    narrow, study = S.get("FJ2").profile(S.NARROW), S.get("FJ2").profile("study")
    assert {f: getattr(narrow, f) for f in ("epochs", "lr", "train_per_task", "seeds")} == \
        {f: getattr(study, f) for f in ("epochs", "lr", "train_per_task", "seeds")}  # width only
    assert S.study_methods("FJ2") == ("dvn", "baseline", "nestednet", "packnet", "nestednet-me", "dvn-prefix")
    assert S.study_methods("FJ2", S.NARROW) == ("dvn", "baseline", "nestednet", "packnet", "nestednet-me")
    assert "lwf-no-head-stage" in S.study_methods("FS1") and S.study_methods("FJ3") == S.FAMILY_METHODS["joint"]
    with pytest.raises(ValueError, match="valid profiles are smoke, quick, study, paper$"):
        S.get("FH1").profile(S.NARROW)


def test_a_run_whose_predictions_are_lost_or_changed_trains_again(tmp_path):
    from dvnlib import results as R
    from dvnlib.runs import finished
    kw = dict(methods=["feature_extraction"], seeds=[0], out_dir=tmp_path, progress=False, overrides=SMALL, threads=1)
    dvnlib.run("FS1", "smoke", **kw)
    record = next(tmp_path.glob("FS1/smoke/runs/feature_extraction/*/seed0.json"))
    key = json.loads(record.read_text())["key"]
    assert finished(record, key)
    pred = R.predictions_path(record)
    good = pred.read_bytes()
    pred.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert not finished(record, key)  # changed
    pred.unlink()
    assert not finished(record, key)  # missing
    dvnlib.run("FS1", "smoke", **kw)
    assert finished(record, key) and pred.read_bytes() == good  # retrained, the same images predicted alike
