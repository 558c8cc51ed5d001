"""The report's statistics and tables, on small hand-made numbers (no training, no book).

Each test pins one mechanism the pages rest on: exact t quantiles for any number of seeds,
differences paired by seed, the detectable difference, the paper's margin, the profile the book
renders, and train accuracy in the tables. The preregistered verdict rules are pinned in
``tests/test_verdicts.py``."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from dvnlib import report
from dvnlib.report import stats as R


# ---------------------------------------------------------------------------------------------
# Intervals

@pytest.mark.parametrize("dof", range(1, 41))
def test_t_quantile_is_exact_for_every_dof(dof):
    # the former lookup table rounded dof up (e.g. dof 11 -> 2.131 instead of 2.201)
    assert R.t_quantile(dof) == pytest.approx(st.t.ppf(0.975, dof), rel=1e-12)


def test_t_quantile_without_dof_is_nan():
    assert math.isnan(R.t_quantile(0)) and math.isnan(R.t_quantile(float("nan")))


def test_mean_ci_uses_the_exact_quantile():
    m, h, n = R.mean_ci([1.0, 2.0, 3.0])
    assert (m, n) == (2.0, 3) and h == pytest.approx(st.t.ppf(0.975, 2) / math.sqrt(3), rel=1e-12)
    e = R.mean_ci([5.0])
    assert e.mean == 5.0 and math.isnan(e.half) and e.n == 1  # one seed: no interval
    vals = np.arange(12.0) ** 1.5  # 12 seeds: dof 11, between the old table's rows
    assert R.mean_ci(vals).half == pytest.approx(st.t.ppf(0.975, 11) * vals.std(ddof=1) / math.sqrt(12))


def test_compare_pairs_by_seed():
    # seeds differ a lot from each other, but a beats b by about 1 point at every seed
    base = pd.Series([60.0, 75.0, 90.0, 70.0, 85.0], index=[0, 1, 2, 3, 4])
    a = base + pd.Series([1.1, 0.9, 1.0, 1.05, 0.95], index=base.index)
    e = R.compare(a, base)
    assert e.paired and e.n == 5 and e.mean == pytest.approx(1.0)
    d = a - base
    assert e.half == pytest.approx(st.t.ppf(0.975, 4) * d.std(ddof=1) / math.sqrt(5))
    w = R.welch_ci(a, base)
    assert not w.paired and w.half > 10 * e.half  # unpaired, the seed-to-seed spread swamps the gap
    assert e.mean - e.half > 0 > w.mean - w.half


def test_compare_uses_only_shared_seeds_and_falls_back_to_welch():
    a = pd.Series([10.0, 11.0, 12.0], index=[0, 1, 2])
    b = pd.Series([1.0, 2.0, 3.5, 100.0], index=[0, 1, 2, 3])  # seed 3 has no partner
    e = R.compare(a, b)
    assert e.paired and e.n == 3 and e.mean == pytest.approx(np.mean([9, 9, 8.5]))
    lone = R.compare(pd.Series([10.0, 11.0], index=[0, 1]), pd.Series([1.0, 2.0], index=[5, 6]))
    assert not lone.paired and lone.mean == pytest.approx(9.0)
    # Welch's fractional degrees of freedom, not rounded
    va, vb = 0.5 / 2, 0.5 / 2
    dof = (va + vb) ** 2 / (va ** 2 + vb ** 2)
    assert lone.half == pytest.approx(st.t.ppf(0.975, dof) * math.sqrt(va + vb))


def test_detectable_difference_has_80_percent_power():
    n, sd = 5, 2.0
    se = sd / math.sqrt(n)
    d = R.mdd(se, n - 1)
    assert d > R.t_quantile(n - 1) * se  # larger than the half-width (50% power)
    assert R.mdd(1.0, 10 ** 6) == pytest.approx(st.norm.ppf(0.975) + st.norm.ppf(0.8), rel=1e-3)
    # Monte Carlo: paired t tests on n seeds with a true difference d reject about 80% of the time
    rng = np.random.default_rng(0)
    x = rng.normal(d, sd, size=(20000, n))
    t = x.mean(1) / (x.std(1, ddof=1) / math.sqrt(n))
    assert abs(np.mean(np.abs(t) > st.t.ppf(0.975, n - 1)) - 0.8) < 0.015
    assert R.mdd(0.0, 4) == 0.0 and math.isnan(R.mdd(1.0, 0))


# ---------------------------------------------------------------------------------------------
# The paper's margin and the precision of DVN's outputs

def test_loss_margin_comes_from_the_paper():
    from dvnlib.report.paper import loss_margin
    assert loss_margin() == pytest.approx(77.3 - 75.0)


def _fj1(acc: dict, seeds=(0, 1, 2, 3, 4), train: dict | None = None) -> pd.DataFrame:
    """FJ1-shaped metrics: ``acc[(method, task, level)]`` is a list of per-seed accuracies."""
    rows = []
    for (m, t, lvl), vals in acc.items():
        for s, v in zip(seeds, vals):
            rows.append({"scenario": "FJ1", "profile": "study", "method": m, "seed": s, "task": t,
                         "task_name": f"F-MNIST {'0-4' if t == 1 else '5-9'}", "level": lvl,
                         "units": "" if m == "baseline" else ",".join(map(str, range(1, lvl + 1))),
                         "params": 20000 if lvl == 1 else 77000, "params_total": 200000,
                         "density": 0.26 if lvl == 1 else 1.0, "accuracy": v, "n_test": 5000,
                         **({"train_accuracy": train[(m, t, lvl)][seeds.index(s)]} if train else {})})
    return pd.DataFrame(rows)


def _seeds(center, spread=(0.0, 0.3, -0.3, 0.2, -0.2)):
    return [center + d for d in spread]


def test_precision_is_the_median_half_width_of_dvn():
    acc = {("dvn", 1, 1): _seeds(80.0, (0, 1, -1, 0.5, -0.5)), ("dvn", 1, 2): _seeds(90.0),
           ("dvn", 2, 1): _seeds(80.0), ("dvn", 2, 2): _seeds(90.0, (0, 2, -2, 1, -1))}
    df = _fj1(acc)
    halves = report.aggregate(df[df["method"] == "dvn"])["ci95"]
    assert report.median_half_width({"FJ1": df}) == pytest.approx(halves.median())


# ---------------------------------------------------------------------------------------------
# Tables and the profile the book renders

def test_an_ablation_missing_a_seed_is_paired_over_the_seeds_both_have():
    """A seed the training guard stopped has no row: DVN minus the ablation pairs the other seeds,
    and the table says how many."""
    dvn = _seeds(90.0, (0.0, 0.4, -0.4, 0.2, -0.2))
    df = _fj1({("dvn", 1, 1): dvn})
    ablated = _fj1({("dvn-shared-bn", 1, 1): [60.0, 58.0, 62.0, 61.0]}, seeds=(0, 2, 3, 4))
    t = report.ablation_table(pd.concat([df, ablated], ignore_index=True)).iloc[0]
    assert t["seeds paired"] == 4
    gaps = np.array([dvn[0] - 60.0, dvn[2] - 58.0, dvn[3] - 62.0, dvn[4] - 61.0])
    assert t["DVN − ablation (points, paired by seed)"].startswith(f"+{gaps.mean():.1f}")


def test_train_accuracy_beside_test_where_recorded():
    acc = {("dvn", t, lvl): _seeds(85.0) for t in (1, 2) for lvl in (1, 2)}
    train = {k: _seeds(97.0) for k in acc}
    t = report.table(_fj1(acc, train=train))
    assert "train accuracy %" in t.columns and t["train accuracy %"].iloc[0].startswith("97.0")
    assert "(train 97.0)" in report.ours_table(_fj1(acc, train=train)).iloc[0, -1]
    old = report.table(_fj1(acc))  # a metrics.csv written before train_accuracy existed
    assert "train accuracy %" not in old.columns and "(train" not in report.ours_table(_fj1(acc)).iloc[0, -1]


def test_book_renders_study_else_quick(tmp_path, monkeypatch):
    monkeypatch.setenv("DVN_BOOK_RESULTS", str(tmp_path))
    monkeypatch.delenv("DVN_BOOK_PROFILE", raising=False)
    (tmp_path / "FJ1" / "quick").mkdir(parents=True)
    (tmp_path / "FJ1" / "quick" / "metrics.csv").write_text("x\n")
    assert report.book_profile() == "quick"
    from dvnlib.report import pages
    assert "Not evidence: quick profile" in pages.not_evidence_text("quick")
    (tmp_path / "FH1" / "study").mkdir(parents=True)
    (tmp_path / "FH1" / "study" / "metrics.csv").write_text("x\n")
    assert report.book_profile() == "study"
    monkeypatch.setenv("DVN_BOOK_PROFILE", "smoke")
    assert report.book_profile() == "smoke"


def test_budget_from_the_learning_curve():
    rows = []
    for seed in (0, 1):
        for steps, acc in ((100, 80.0), (200, 86.0), (400, 89.0), (800, 89.6), (1600, 89.9)):
            rows.append({"scenario": "FJ1", "method": "dvn", "seed": seed, "steps": steps, "epochs": steps / 100,
                         "task": 1, "level": 2, "train_accuracy": acc + 5, "accuracy": acc + seed * 0.1})
    b = report.budget_table(pd.DataFrame(rows))
    # 400 -> 800 adds 0.6 points, the first doubling under 1 point
    assert b["budget (steps)"].iloc[0] == 400 and b["train − test (points)"].iloc[0] == "+5.0"


def test_convergence_table_gives_each_methods_train_test_gap():
    rows = [dict(method=m, seed=seed, task=t, level=lvl, accuracy=90.0 + t, train_accuracy=90.0 + t + gap + seed)
            for m, gap in (("dvn", 1.0), ("baseline", 3.0)) for seed in (0, 1) for t in (1, 2) for lvl in (1, 2)]
    t = report.convergence_table({"FJ1": pd.DataFrame(rows), "FH1": pd.DataFrame(rows).drop(columns="train_accuracy")})
    assert list(t["method"]) == ["DVN", "Baseline"] and list(t["scenario"]) == ["FJ1", "FJ1"]  # FH1: no train column
    assert list(t["train − test (mean)"]) == ["+1.5", "+3.5"] and list(t["train − test (largest)"]) == ["+2.0", "+4.0"]
    assert list(t["outputs"]) == [4, 4] and list(t["test %"]) == ["91.5", "91.5"]


def test_fh1_anchor_reads_the_fine_task_top_level_against_90():
    probes = pd.DataFrame([dict(task=t, level=lvl, accuracy=acc + t, train_accuracy=acc + 1, overrides=o, steps=s)
                           for o, s, acc in (("none", 1488, 84.0), ("epochs=4", 3748, 89.5)) for t in (1, 2)
                           for lvl in (1, 2)])
    study = pd.DataFrame([dict(method=m, seed=seed, task=t, level=lvl, accuracy=90.5 + seed * 0.2 - (lvl == 1),
                               train_accuracy=91.0) for m in ("dvn", "baseline") for seed in range(5)
                          for t in (1, 2) for lvl in (1, 2)])
    t = report.fh1_anchor_table(probes, study)
    assert list(t["test %"].iloc[:2]) == ["86.0", "91.5"] and list(t["anchor"]) == ["missed", "met", "met"]
    assert t["test %"].iloc[2].startswith("90.9 ±") and t["run"].iloc[2] == "study, 5 seeds"
    assert t["SGD steps per task"].tolist() == [1488, 3748, "—"]  # the study's steps come from its records
    assert report.fh1_anchor_table(probes, study, 7496)["SGD steps per task"].iloc[2] == 7496
    assert report.fh1_anchor_table(None, study.assign(accuracy=89.0))["anchor"].tolist() == ["missed"]


def test_finetune_sweep_ranks_settings_and_marks_the_chosen_one():
    rows = [dict(finetune_lr_scale=sc, warmup=w, method=m, seed=seed, task=t, accuracy=80 + 10 * sc + 5 * w + t)
            for sc in (0.1, 1.0) for w in (0.0, 0.1) for m in ("lwf", "dvn", "nestednet") for seed in (0, 1)
            for t in (1, 2)]
    t = report.finetune_table(pd.DataFrame(rows), chosen=(0.1, 0.0))
    assert list(t["lr scale"]) == ["1", "1", "0.1", "0.1"] and t["score"].iloc[0] == "92.00"
    assert t["LwF old task %"].iloc[0] == "91.50" and list(t["study profile"]) == ["", "", "", "chosen"]


def test_study_text_sums_the_invocations_and_says_when_runs_are_left():
    from dvnlib.report.pages import study_text
    inv = [dict(started="a", wall_seconds=3600, workers=2, seeds=[0, 1], trained=3),
           dict(started="b", wall_seconds=1800, workers=2, seeds=[0, 1], trained=1)]
    study = dict(profile="study", invocations=inv, wall_seconds_total=5400, runs=4, planned=10, scenarios=["FH1"],
                 run_wall_seconds_total=6000, run_train_seconds_total=5400, hardware=dict(cpu="X", cpu_count=2),
                 versions=dict(torch="2"), git=dict(commit="abcdef1234567"))
    text = study_text(study)
    assert "**1.5 hours** of wall time over 2 invocations" in text and "**100 minutes** of run time" in text
    assert "so far (4 of its 10 method-seed runs" in text
    both = study_text({**study, "profile": "study+narrow", "arms": [["FH1", "study"], ["FJ1", "narrow"]]})
    assert both.startswith("The study (profiles `study` and `narrow`), so far")
    assert "whole study takes about 4 hours: within the target of 9 hours" in text  # 1.5 h for 4 of 10 runs
    assert "about 10 hours: **over** the target" in study_text({**study, "wall_seconds_total": 4 * 3600})
    assert "That **misses** the target of 9 hours" in study_text({**study, "runs": 10, "wall_seconds_total": 9.5 * 3600})
    assert "That meets the target" in study_text({**study, "runs": 10})
    assert "target" not in study_text({**study, "profile": "quick"})
    assert "so far" not in study_text({**study, "runs": 10})
    assert "so far" not in study_text({k: v for k, v in study.items() if k != "planned"})  # an older record
    prereg = {"commit": "1e16d19f06b1683e", "committed": "2026-12-02T08:22:18Z"}
    runs = [{"twin": "FH1", "profile": "study", "method": "dvn", "seed": s, "finished": f"2026-12-02T{h}+00:00"}
            for s, h in enumerate(["11:01:20.09", "09:00:00"])]
    after = study_text({**study, "preregistration": prereg, "finished_runs": runs,
                        "earlier_invocations": [dict(started="2026-11-24T23:40:48Z")]})
    assert "counts from the preregistration's first commit (`1e16d19f06`, 2026-12-02 08:22 UTC)" in after
    assert "1 earlier invocation of the driver trained the first study's design and is not counted" in after and "Every one of the 2 finished runs finished after it" in after
    runs[1]["finished"] = "2026-12-02T08:22:17+00:00"  # a second before the page's commit
    before = study_text({**study, "preregistration": prereg, "finished_runs": runs})
    assert "**1 of the 2 finished runs did not finish after it** (FH1 study dvn seed 1)" in before
    assert "No run of the study has finished" in study_text({**study, "preregistration": prereg, "finished_runs": []})


def test_verdicts_are_called_interim_while_the_study_has_runs_left(tmp_path, monkeypatch):
    """The intro's and the claims page's verdicts say they are interim, with the count, until the
    study's finished and stopped runs reach those planned; not for another profile."""
    import json
    from dvnlib.report.pages import interim_text
    monkeypatch.delenv("DVN_BOOK_PROFILE", raising=False)
    (tmp_path / "FJ1" / "study").mkdir(parents=True)
    (tmp_path / "FJ1" / "study" / "metrics.csv").write_text("scenario\n")
    record = {"profile": "study+narrow", "runs": 90, "planned": 180, "stopped_runs": [{"twin": "FJ1"}]}
    (tmp_path / "study.json").write_text(json.dumps(record))
    text = interim_text(tmp_path)
    assert text.startswith("**Interim verdicts:**") and "91 of its 180 planned method-seed runs" in text
    (tmp_path / "study.json").write_text(json.dumps({**record, "runs": 179}))
    assert interim_text(tmp_path) == ""  # 179 finished and 1 stopped: the study is complete
    (tmp_path / "study.json").write_text(json.dumps(record))
    monkeypatch.setenv("DVN_BOOK_PROFILE", "quick")
    assert interim_text(tmp_path) == ""


def test_the_commands_table_names_every_method_of_every_arm_the_study_runs(tmp_path, monkeypatch):
    """Each (twin, profile) arm of the study, narrow ones included, and each method the study
    driver trains there (``scenarios.study_methods``) is named by a command of the reproducibility
    page, the twin's extra compared methods passed to its notebook."""
    import re
    from dvnlib import scenarios as S
    from dvnlib.report import records
    monkeypatch.setenv("DVN_BOOK_RESULTS", str(tmp_path))
    table = records.commands_table("study")
    named = {}
    for r in table.itertuples():
        m = re.search(r"-p scenario (\S+) -p profile (\S+)(?: -y \"methods: \[(.*)\]\")?$", r[3])
        if m:
            sc, prof, listed = m.groups()
            methods = listed.split(", ") if listed else S.FAMILY_METHODS[S.get(sc).family]
            assert set(methods) == set(r.methods.split(", "))
            named.setdefault((sc, prof), set()).update(methods)
    for prof, twins in S.STUDY_PROFILES.items():
        for sc in twins:
            assert named[(sc, prof)] == set(S.study_methods(sc, prof)), (sc, prof)
    assert "nestednet-me" in named[("FJ2", S.NARROW)]


def test_a_run_the_guard_stopped_is_named_where_its_seed_would_be(tmp_path, monkeypatch):
    """The study's record lists the runs the training guard stopped: the status table, the study's
    sentence and the ablation page name them, per twin and profile, without the advice meant for
    whoever launched the run; an entry that lacks its fields is refused with the file's name."""
    import json
    from dvnlib.report import records
    from dvnlib.report.pages import study_text
    monkeypatch.setenv("DVN_BOOK_RESULTS", str(tmp_path))
    message = ("FJ1 dvn-shared-bn seed 1 did not learn: output (task 2, level 1) ends at 20.5% on 2000 training "
               "images, chance 20.0% (at most 23.6% is chance), after 1488 steps. Nothing of this run was written; "
               "lower the learning rate (overrides: {lr: ...}) and run it again")
    entry = dict(twin="FJ1", profile="study", method="dvn-shared-bn", seed=1, outcome="did not learn",
                 message=message, stopped="2026-12-07T17:52:00Z")
    study = dict(profile="study+narrow", runs=62, planned=180, stopped_runs=[entry])
    (tmp_path / "study.json").write_text(json.dumps(study))
    assert records.stopped_runs("FJ1", "study", tmp_path) == [entry]
    assert records.stopped_runs("FJ1", "narrow", tmp_path) == records.stopped_runs("FJ2", "study", tmp_path) == []
    text = records.stopped_text(records.stopped_runs(None, "study", tmp_path))
    assert "FJ1 dvn-shared-bn seed 1 (did not learn: output (task 2, level 1) ends at 20.5%" in text
    assert "lower the learning rate" not in text and records.stopped_text([]) == ""
    table = records.status("study", tmp_path)  # the study's narrow arms are rows of their own
    assert list(zip(table["scenario"], table["profile"]))[-2:] == [("FJ1", "narrow"), ("FJ2", "narrow")]
    row = table.set_index(["scenario", "profile"]).loc
    assert row[("FJ1", "study"), "stopped by the guard"] == "dvn-shared-bn seed 1"
    assert row[("FJ2", "study"), "stopped by the guard"] == row[("FJ1", "narrow"), "stopped by the guard"] == "—"
    assert "so far (62 finished and 1 stopped by the training guard of its 180" in study_text(study)
    (tmp_path / "study.json").write_text(json.dumps({**study, "stopped_runs": [{"twin": "FJ1"}]}))
    with pytest.raises(report.BadInput, match=r"study.json: an entry of stopped_runs lacks"):
        records.stopped_runs("FJ1", "study", tmp_path)


def test_the_study_ablations_are_defined_once_and_need_no_torch():
    # the study driver runs them and the book reads them back: one list, in the book's order,
    # in the scenario registry (no torch, no methods package)
    import subprocess
    import sys
    from pathlib import Path

    from dvnlib import scenarios
    from dvnlib.report import sources
    repo = Path(__file__).resolve().parent.parent
    assert sources.STUDY_ABLATIONS is scenarios.STUDY_ABLATIONS and sources.ABLATIONS is scenarios.ABLATIONS
    assert scenarios.ablations_for("FJ1") == ("dvn-shared-bn", "dvn-shared-affine", "dvn-prefix")
    assert "ABLATIONS" not in (repo / "scripts" / "run_study.py").read_text().replace("STUDY_ABLATIONS", "")
    code = ("import sys, dvnlib.report; from dvnlib.scenarios import STUDY_ABLATIONS; "
            "print(sorted({'torch', 'dvnlib.methods'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(repo)}).stdout
    assert out.strip() == "[]", out


def test_the_zoo_frontier_is_what_some_byte_budget_picks():
    """A file is on its task's frontier when it is more accurate than every smaller file: the
    (level, precision) that ``budget.choose`` picks for some budget, and no other."""
    import pandas as pd

    from dvnlib import budget
    rows = [(1, "float32", 90_000, 90.0), (1, "int8", 60_000, 89.0), (2, "float32", 320_000, 92.0),
            (2, "int8", 120_000, 92.0), (3, "int8", 220_000, 91.5), (3, "float32", 700_000, 93.0)]
    df = pd.DataFrame([{"scenario": "FJ2", "profile": "quick", "method": "dvn", "seed": 0, "task": 1,
                        "task_name": "t", "level": l, "precision": p, "units": "1", "params": 1, "onnx_bytes": b,
                        "onnx_accuracy": a, "accuracy": a, "latency_ms": 0.1} for l, p, b, a in rows])
    s = report.zoo_summary(df)
    on = {(r.level, r.precision) for r in s.itertuples() if r.on_frontier}
    assert on == {(1, "int8"), (1, "float32"), (2, "int8"), (3, "float32")}
    picked = {tuple(budget.choose(df.to_dict("records"), 1, b)) for b in df["onnx_bytes"]}
    assert picked == on
    assert {"precision", "on the frontier"} <= set(report.zoo_table(s).columns)


def test_the_deployment_page_says_when_its_zoo_is_not_the_result_pages_runs(tmp_path):
    """A zoo's model counts as the study's own only when its rows name the twin's current
    configuration and a seed its current runs list; a zoo written before rows named one counts as
    none, and the text names the models that are not current and the command that rebuilds it."""
    import json

    import pandas as pd
    d = tmp_path / "FJ2" / "study"
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({"configuration_key": "k", "runs": {"dvn": [{"seed": 0}, {"seed": 1}]}}))
    rows = [{"scenario": "FJ2", "profile": "study", "seed": seed, "config": config, "commit": "abcdef0123", "level": l}
            for seed, config in ((0, "k"), (1, "k"), (3, "k"), (2, "old")) for l in (1, 2)]
    zoo = pd.DataFrame(rows)
    source = report.zoo_source(zoo, root=tmp_path)
    assert source["current"] == [("FJ2", "study", 0), ("FJ2", "study", 1)]
    assert source["other"] == [("FJ2", "study", 3), ("FJ2", "study", 2)] and source["commits"] == ["abcdef0"]
    text = report.zoo_source_text(source)
    assert "2 of the 4 models" in text and "FJ2 (study) seeds 2–3" in text and "`abcdef0`" in text
    assert "bash scripts/deploy_zoo.sh" in text
    assert not report.zoo_source(zoo.drop(columns="config"), root=tmp_path)["current"]  # written before rows named it
    current = report.zoo_source(zoo[zoo["seed"] < 2], root=tmp_path)
    assert not current["other"] and "current runs" in report.zoo_source_text(current)
    assert report.is_current_run("FJ2", "study", 1, "k", root=tmp_path)
    assert not report.is_current_run("FJ2", "study", 1, None, root=tmp_path)  # a demo that names no configuration
    assert not report.is_current_run("FJ1", "study", 0, "k", root=tmp_path)  # no run.json


# ---------------------------------------------------------------------------------------------
# The book's one number format, and configuration read from the records

def test_number_format_never_shows_minus_zero_none_or_unrounded_floats():
    from dvnlib.report import numbers as N
    assert N.num(-0.001) == "0.00" and N.num(-0.004, signed=True) == "+0.00"
    assert N.ci(-0.25, 0.18, signed=True) == "-0.25 ± 0.18"  # where a verdict turns stays visible
    assert N.paper_num(96.95) == "96.95" and N.paper_num(94.6) == "94.6"  # the paper's digits, as transcribed
    assert N.plain(None) == N.plain(float("nan")) == "—" and N.plain(0.335803) == "0.336"
    assert N.plain(3.0) == "3" and N.plain("x") == "x" and N.interval(-0.001, 0.5, signed=True) == "[+0.00, +0.50]"
    from dvnlib.report.paper import fmt_paper
    assert fmt_paper(96.95, 94.6) == "96.95 vs 94.6"  # the claims tables' paper column, same digits


def _record(root, scenario="FH1", threads=1, epochs=8, train_per_task=None):
    import json
    d = root / scenario / "study"
    (d / "runs" / "dvn" / "k").mkdir(parents=True)
    (d / "run.json").write_text(json.dumps({
        "configuration": {"backbone": {"name": "WRN-8-1"}, "settings": {"epochs": 99, "train_per_task": train_per_task}},
        "hardware": {"torch_threads": 2},  # the collecting process, not the runs
        "runs": {"dvn": [{"seed": 0, "finished": "2026-11-25T01:00:00", "machine": "AMD EPYC, AVX-512 + VNNI"},
                         {"seed": 1, "finished": "2026-11-26T01:00:00", "machine": "AMD EPYC, AVX2"}]}}))
    for seed in (0, 1):
        (d / "runs" / "dvn" / "k" / f"seed{seed}.json").write_text(json.dumps({
            "seed": seed, "hardware": {"torch_threads": threads}, "epochs_per_task": {"1": {"dvn": epochs}}}))


def test_configuration_is_read_from_the_run_records(tmp_path):
    """Epochs from each run's epochs_per_task, images from the resolved settings, threads per run
    from each run's own record (not run.json's collecting process), dates from the runs."""
    _record(tmp_path)
    f = report.run_facts("FH1", "study", tmp_path)
    assert f["epochs"] == [8] and f["threads"] == [1] and f["seeds"] == [0, 1]
    assert f["finished"] == ("2026-11-25", "2026-11-26")
    assert f["machines"] == ["AMD EPYC, AVX-512 + VNNI", "AMD EPYC, AVX2"]  # each run's own machine
    assert report.run_records(tmp_path)["trained on"].iloc[0] == "AMD EPYC, AVX-512 + VNNI; AMD EPYC, AVX2"
    from dvnlib.report import records
    assert records.images_text(f) == "every training image" and records.threads_text(f) == "1 torch thread per run"
    row = report.configuration_table("study", tmp_path).iloc[0]
    assert row["epochs"] == "8 epochs" and row["threads"] == "1 torch thread per run"
    assert "2 torch" not in " ".join(report.run_records(tmp_path)["torch threads per run"])
    from dvnlib.report.comparisons import scale
    assert scale("FH1", None, "study", tmp_path) == "FH1 (WRN-8-1, 8 epochs, every training image, 0 seeds, study profile)"


def test_export_agreement_separates_rounding_from_differences():
    z = pd.DataFrame({"accuracy": [92.166667, 91.5, 90.0], "onnx_accuracy": [92.1667, 91.5, 90.0]})
    text = report.export_agreement(z)
    assert "0 files differ by more than that" in text and "4 decimals" in text
    z.loc[2, "onnx_accuracy"] = 89.9
    assert "1 file differs by more than that" in report.export_agreement(z)


def test_paper_map_and_untested_scenarios():
    assert {item for item, *_ in report.PAPER_MAP} >= {"Table 1", "Table 2", "Table 3", "Table 4", "Table 5",
                                                        "Figure 5", "Figure 6"}
    nc = report.not_compared()
    assert nc["S2"] == "no twin here" and "not transcribed" in nc["J2"] and "not transcribed" in nc["J3"]


def test_executed_notebooks_keep_no_widget_state():
    """The committed executed notebooks carry no frozen progress widgets, and the script that
    strips them keeps each bar's text."""
    import importlib.util
    import json
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("strip_widgets", root / "scripts" / "strip_widgets.py")
    sw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sw)
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [{"outputs": [{"data": {
        sw.WIDGET: {"model_id": "x"}, "text/plain": ["FJ1 dvn seed 0: 100%"]}}]}]}
    assert sw.strip(nb) == 1 and nb["metadata"] == {}
    assert nb["cells"][0]["outputs"][0]["data"] == {"text/plain": ["FJ1 dvn seed 0: 100%"]}
    for p in sorted(root.glob("results/*/*/*.ipynb")):
        text = p.read_text()
        assert sw.WIDGET not in text and '"widgets"' not in json.dumps(json.loads(text)["metadata"]), p


def test_int8_check_is_taken_at_each_top_level_paired_by_seed():
    """The deployment targets: at each task's top level, the int8 file's bytes at most 35% of the
    float32 file's (the worst seed decides) and its accuracy within 0.5 points (mean over seeds of
    the paired difference); lower levels do not count."""
    import pandas as pd
    rows = []
    for seed, (b8, a8) in enumerate([(340, 91.0), (350, 91.2), (352, 90.6)]):  # seed 2: 35.2% of the bytes
        for level, precision, b, a in [(1, "float32", 100, 80.0), (1, "int8", 90, 60.0),  # level 1 ignored
                                       (2, "float32", 1000, 91.2 - 0.1 * seed), (2, "int8", b8, a8)]:
            rows.append({"scenario": "FJ2", "profile": "study", "seed": seed, "task": 3, "task_name": "t3",
                         "level": level, "precision": precision, "onnx_bytes": b, "onnx_accuracy": a})
    check = report.int8_check(pd.DataFrame(rows))
    (r,) = check.itertuples()
    assert r.level == 2 and r.seeds == 3 and r.bytes_share == pytest.approx(0.352) and not r.bytes_met
    assert r.difference == pytest.approx((-0.2 + 0.1 - 0.4) / 3) and r.accuracy_met
    table = report.int8_table(check)
    assert "35.2% (missed)" in table.iloc[0, 6] and "(met)" in table.iloc[0, 7]
    assert report.int8_check(pd.DataFrame(rows).query("precision == 'float32'")).empty


def test_a_run_retrained_elsewhere_is_set_against_the_study_run(tmp_path):
    """results/reproducibility/<name>/: per output, both accuracies, their difference and the test
    images predicted differently; a retrained run of other code is listed, not compared."""
    import json

    def run(base, accuracy, pred, code="c1", hardware=None):
        d = base / "FJ1" / "study" / "runs" / "nestednet" / "k"
        d.mkdir(parents=True)
        (d / "seed0.json").write_text(json.dumps({"seed": 0, "code": code, "hardware": hardware or {}}))
        pd.DataFrame([{"task": 1, "level": 1, "accuracy": accuracy, "n_test": 4}]).to_csv(d / "seed0.csv", index=False)
        np.savez(d / "seed0.predictions.npz", labels_t1=np.arange(4), pred_t1_l1=np.array(pred))

    run(tmp_path, 75.0, [0, 1, 2, 0], hardware={"cpu": "EPYC", "simd": "AVX-512"})
    run(tmp_path / "reproducibility" / "other-cpu", 50.0, [0, 1, 0, 0], hardware={"cpu": "EPYC", "simd": "AVX2"})
    (r,) = report.records.retrain_check(tmp_path).to_dict("records")
    assert r["difference"] == -25.0 and r["test images predicted differently"] == 1 and r["test images"] == 4
    assert r["trained on"] == "EPYC, AVX-512" and r["retrained on"] == "EPYC, AVX2"
    from dvnlib.report.pages import retrain_text
    assert "changed its accuracies by 25.00 to 25.00 points and its prediction on 25.0% to 25.0%" in retrain_text(
        report.records.retrain_check(tmp_path))
    assert "retrained on EPYC, AVX2, the study's run on EPYC, AVX-512, changed" in retrain_text(
        report.records.retrain_check(tmp_path))
    run(tmp_path / "reproducibility" / "new-code", 50.0, [0, 1, 0, 0], code="c2")
    notes = report.records.retrain_check(tmp_path)["note"].tolist()
    assert notes == ["the study's run was trained by other code", ""]
    assert "FJ1 nestednet seed 0 (`results/reproducibility/new-code/`) is not compared: the study's run was trained by " \
           "other code" in retrain_text(report.records.retrain_check(tmp_path))
    # the same kind of CPU, the same predictions: said to be bit-reproduced, not "changed by 0.00"
    run(tmp_path / "reproducibility" / "same-cpu", 75.0, [0, 1, 2, 0], hardware={"cpu": "EPYC", "simd": "AVX-512"})
    text = retrain_text(report.records.retrain_check(tmp_path))
    assert ("(`results/reproducibility/same-cpu/`), retrained on the same kind of CPU as the study's run (EPYC, AVX-512), "
            "gave every accuracy and every test image's prediction of its 1 output unchanged: bit-reproduced") in text
