"""The preregistered decision rules (``book/preregistration.md``), each pinned on a small synthetic
table: density matching, Holm, the wider of two intervals, the bootstrap's pairing by image, claim
2's difference of differences, a claim's verdict over its comparisons, claim 4's deciding engine,
and the verdict words on differences far from and at the boundary. The synthetic twins are written
as the runs write them (``metrics.csv``, ``run.json``, per-image ``.predictions.npz``) and read back
by the book's own reader."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from dvnlib.report import comparisons as K
from dvnlib.report import stats as R
from dvnlib.report import verdicts as V
from dvnlib.report.sources import load_predictions

SEEDS = (0, 1, 2, 3, 4)
N = 1000  # test images per task
KEY = "abc123"


def _correct(acc: float, seed: int, salt: int = 0) -> np.ndarray:
    """A boolean vector of N images, about ``acc`` percent of them correct."""
    return np.random.default_rng(1000 * seed + salt).random(N) < acc / 100


def write_twin(root, outputs: dict, twin: str = "FJ1", profile: str = "study", predictions: bool = True):
    """``outputs[(method, task, level)] = (params, {seed: correct vector})`` written as a run
    writes it: metrics.csv, run.json with its configuration key, and per run (method, seed) a
    ``seed<N>.predictions.npz`` with ``labels_t{t}`` and ``pred_t{t}_l{l}`` (int16)."""
    base = root / twin / profile
    base.mkdir(parents=True)
    labels = {t: (np.arange(N) % 5).astype(np.int16) for t in {t for _, t, _ in outputs}}
    rows, runs = [], {}
    for (m, t, lvl), (params, per_seed) in outputs.items():
        for seed, ok in per_seed.items():
            rows.append({"scenario": twin, "profile": profile, "method": m, "seed": seed, "task": t,
                         "task_name": f"task {t}", "level": lvl, "units": "", "params": params,
                         "params_total": 4 * params, "density": params / 1000, "accuracy": 100 * ok.mean(),
                         "train_accuracy": 100.0, "n_test": N})
            y = labels[t]
            runs.setdefault((m, seed), {})[f"labels_t{t}"] = y
            runs[(m, seed)][f"pred_t{t}_l{lvl}"] = np.where(ok, y, (y + 1) % 5).astype(np.int16)
    pd.DataFrame(rows).to_csv(base / "metrics.csv", index=False)
    (base / "run.json").write_text(json.dumps({"configuration_key": KEY}))
    if predictions:
        for (m, seed), arrays in runs.items():
            d = base / "runs" / m / KEY
            d.mkdir(parents=True, exist_ok=True)
            np.savez(d / f"seed{seed}.predictions.npz", **arrays)
    return root


def _seeds(acc: float, salt: int = 0) -> dict:
    return {s: _correct(acc, s, salt) for s in SEEDS}


# ---------------------------------------------------------------------------------------------
# Density matching

def test_density_matching_allows_rounding_of_two_percent_and_no_more():
    def levels(*params):
        return pd.DataFrame({"level": range(1, len(params) + 1), "params": params})
    assert int(V.matched_level(levels(500, 1015), 1000)["level"]) == 2  # 1.5% over: rounding, fits
    assert int(V.matched_level(levels(500, 1025), 1000)["level"]) == 1  # 2.5% over: DVN gets less
    assert V.matched_level(levels(1100, 2000), 1000) is None


def test_no_dvn_level_fits_is_listed_and_in_no_count(tmp_path):
    root = write_twin(tmp_path, {("dvn", 1, 1): (1100, _seeds(90)), ("dvn", 1, 2): (2000, _seeds(92)),
                                 ("nestednet", 1, 1): (1000, _seeds(80))})
    res = K.Results("standard", "study", root)
    (c,) = V.decide(K.matched(res, "3b", "FJ1", "nestednet", lambda t: 0.0))
    assert not c.made and c.verdict == V.NO_FIT and V.counted([c]) == []
    assert "density-matching" in V.rule_of(c)
    assert V.combine(x.verdict for x in V.counted([c])) == V.NOT_TESTED


# ---------------------------------------------------------------------------------------------
# Holm, the wider interval, the larger p

def test_holm_step_down_on_hand_checkable_p_values():
    adjusted, levels = R.holm([0.01, 0.04, 0.03, 0.005, math.nan])
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, kept monotone at 0.06
    assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and math.isnan(adjusted[4])
    assert levels[:4] == pytest.approx([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    comps = [V.Comparison("3a", "standard", "3/standard", "FJ2", str(p), R.Difference(1.0, 5, 0.0, t_p=p))
             for p in (0.01, 0.04, 0.03, 0.005)]
    assert [c.verdict for c in V.decide(comps)] == [V.SUPPORTED, V.NOT_DISTINGUISHABLE, V.NOT_DISTINGUISHABLE,
                                                   V.SUPPORTED]
    # the same p-values in two families are corrected separately
    alone = V.decide([V.Comparison("3a", "standard", f"f{i}", "FJ2", "", R.Difference(1.0, 5, 0.0, t_p=0.04))
                      for i in range(2)])
    assert [c.verdict for c in alone] == [V.SUPPORTED, V.SUPPORTED]


def test_verdict_uses_the_wider_interval_and_the_larger_p():
    d = R.Difference(0.5, 5, 0.0, t_low=-0.5, t_high=1.5, t_p=0.3, boot_low=-1.0, boot_high=2.0, boot_p=0.4)
    assert d.wider == (-1.0, 2.0, "bootstrap") and d.p == 0.4
    d = R.Difference(0.5, 5, 0.0, t_low=-2.0, t_high=3.0, t_p=0.5, boot_low=-1.0, boot_high=2.0, boot_p=0.01)
    assert d.wider == (-2.0, 3.0, "t") and d.p == 0.5
    assert d.se == pytest.approx(2.5 / st.t.ppf(0.975, 4))
    only_t = R.Difference(0.5, 5, 0.0, t_low=0.1, t_high=0.9, t_p=0.02)
    assert only_t.wider[2] == "t" and only_t.p == 0.02 and not only_t.has_bootstrap
    # the detectable difference at a Holm-adjusted level is larger than at 5%
    assert only_t.detectable(1 - 0.05 / 6) > only_t.detectable(0.95) > 0.4


def test_t_test_p_is_the_paired_t_test_at_the_boundary():
    v = [0.4, 0.9, 1.2, 0.7, 1.1]
    assert R.t_test_p(v, -1.0) == pytest.approx(st.ttest_1samp(v, -1.0).pvalue)
    assert R.bootstrap_p(np.array([1.0, 2.0, 3.0, -1.0]), 0.0) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------
# The bootstrap over seeds and test images

def test_bootstrap_pairs_by_image():
    a = np.stack([_correct(90, s) for s in SEEDS]).astype(float)
    same = R.paired_bootstrap([a - a.copy()])
    assert np.all(same == 0)  # identical predictions: a zero-width difference
    shuffled = a[:, np.random.default_rng(7).permutation(N)]  # the same accuracy on other images
    s = R.paired_bootstrap([100 * (a - shuffled)])
    assert np.mean(s) == pytest.approx(0.0, abs=0.3) and np.percentile(s, 97.5) - np.percentile(s, 2.5) > 1.0


def test_bootstrap_resamples_seeds_then_images_as_a_direct_resample_does():
    rng = np.random.default_rng(3)
    # the seeds share the test images, so an image hard for one output is hard at every seed: the
    # image draw must be common to the seeds, or the test set's sampling error shrinks 5-fold
    common = 100.0 * ((rng.random(400) < 0.9).astype(float) - (rng.random(400) < 0.85))
    d = np.where(rng.random((5, 400)) < 0.1, 0.0, common)
    d[2] += 100 * (rng.random(400) < 0.1)  # one seed differs from the others: the seeds' spread counts
    fast = R.paired_bootstrap([d], resamples=4000)
    direct = []
    for _ in range(4000):  # seeds with replacement, then one draw of images shared by every seed
        seeds, images = rng.integers(0, 5, 5), rng.integers(0, 400, 400)
        direct.append(d[np.ix_(seeds, images)].mean())
    assert np.std(fast) == pytest.approx(np.std(direct), rel=0.08)
    assert np.mean(fast) == pytest.approx(d.mean(), abs=0.1)
    assert np.array_equal(R.paired_bootstrap([d], resamples=500), R.paired_bootstrap([d], resamples=500))  # seeded


# ---------------------------------------------------------------------------------------------
# Verdict words on whole comparisons, read back from files

def test_far_better_supported_far_worse_contradicted_equal_not_distinguishable(tmp_path):
    dvn = _seeds(92)
    root = write_twin(tmp_path, {("dvn", 2, 1): (250, _seeds(90, 1)), ("dvn", 2, 2): (1000, dvn),
                                 ("far-worse", 2, 2): (1000, _seeds(80, 2)),
                                 ("far-better", 2, 2): (1000, _seeds(99.5, 3)),
                                 ("equal", 2, 2): (1000, {s: v[np.random.default_rng(s).permutation(N)]
                                                          for s, v in dvn.items()})})
    res = K.Results("standard", "study", root)
    assert res.predictions["FJ1"] is not None
    comps = V.decide([c for m in ("far-worse", "far-better", "equal")
                      for c in K.matched(res, "3c", "FJ1", m, lambda t: 0.0)])
    assert [c.verdict for c in comps] == [V.SUPPORTED, V.CONTRADICTED, V.NOT_DISTINGUISHABLE]
    eq = comps[2]
    assert eq.diff.mean == pytest.approx(0.0) and eq.diff.has_bootstrap and 0 < eq.detectable < 5
    assert eq.note == ""  # both intervals, so nothing to say
    assert V.combine(c.verdict for c in comps) == V.CONTRADICTED
    assert V.combine([comps[0].verdict, comps[2].verdict]) == V.PARTLY


def test_one_seed_is_never_decided_by_the_image_bootstrap_alone(tmp_path):
    # 99.5% against 80% on 1000 images: the bootstrap alone would call it at any level, but one
    # seed says nothing of the seed-to-seed spread, and the wider interval is the unbounded t one
    d = R.difference([5.0], [np.full((1, N), 5.0) + np.random.default_rng(0).normal(0, 1, (1, N))])
    assert d.has_bootstrap and d.boot_p < 1e-3 and d.wider == (-math.inf, math.inf, "t") and d.p == 1.0
    root = write_twin(tmp_path, {("dvn", 2, 2): (1000, {0: _correct(99.5, 0)}),
                                 ("worse", 2, 2): (1000, {0: _correct(80, 0, 2)})})
    (c,) = V.decide(K.matched(K.Results("standard", "study", root), "3c", "FJ1", "worse", lambda t: 0.0))
    assert c.diff.mean > 15 and c.verdict == V.NOT_DISTINGUISHABLE
    assert V.comparisons_table([c])["95% t, seeds"].iloc[0] == "unbounded"


def test_without_predictions_the_t_interval_stands_alone_and_says_so(tmp_path):
    root = write_twin(tmp_path, {("dvn", 1, 1): (1000, _seeds(92)), ("nestednet", 1, 1): (1000, _seeds(80, 2))},
                      predictions=False)
    res = K.Results("standard", "study", root)
    (c,) = V.decide(K.matched(res, "3c", "FJ1", "nestednet", lambda t: 0.0))
    assert c.verdict == V.SUPPORTED and not c.diff.has_bootstrap and c.note == K.NO_PREDICTIONS
    table = V.comparisons_table([c])
    assert table["95% bootstrap"].iloc[0] == f"— ({K.NO_PREDICTIONS})"


def test_could_not_have_failed_or_passed_where_detectable_exceeds_the_margin():
    wide = V.Comparison("3e", "standard", "3", "FJ1", "", R.Difference(0.0, 5, -1.0, t_low=-3.0, t_high=3.0, t_p=0.5,
                                                                      dof=4), margin=1.0)
    narrow = V.Comparison("3e", "standard", "4", "FJ1", "", R.Difference(-0.9, 5, -1.0, t_low=-1.2, t_high=-0.6,
                                                                        t_p=0.5, dof=4), margin=1.0)
    V.decide([wide, narrow])
    assert wide.verdict == narrow.verdict == V.NOT_DISTINGUISHABLE
    assert wide.could_not and not narrow.could_not and V.COULD_NOT in V.verdict_text(wide)


def test_claim1_needs_the_output_above_chance_and_within_the_margin(tmp_path):
    outs = {("dvn", 1, 1): (250, _seeds(90)), ("baseline", 1, 1): (250, _seeds(88, 1)),
            ("dvn", 1, 2): (1000, _seeds(85)), ("baseline", 1, 2): (1000, _seeds(95, 1)),
            ("dvn", 2, 1): (250, _seeds(20)), ("baseline", 2, 1): (250, _seeds(20.5, 1))}  # 5 classes: chance 20%
    res = K.Results("standard", "study", write_twin(tmp_path, outs))
    comps = V.decide(K.working(res, "FJ1"))
    assert [c.verdict for c in comps] == [V.SUPPORTED, V.CONTRADICTED, V.NOT_DISTINGUISHABLE]
    assert comps[2].condition == "inside"  # as good as the baseline, but not above chance


def test_claim2_is_a_difference_of_differences_against_the_baseline(tmp_path):
    outs = {("dvn", 1, 1): (250, _seeds(90)), ("dvn", 1, 2): (1000, _seeds(93, 1)),
            ("baseline", 1, 1): (250, _seeds(89, 2)), ("baseline", 1, 2): (1000, _seeds(91.5, 3))}
    res = K.Results("standard", "study", write_twin(tmp_path, outs))
    comps = V.decide(K.claim2(res))
    (main,) = [c for c in comps if c.counted]
    acc = {k: pd.Series({s: 100 * v.mean() for s, v in per.items()}) for k, (_, per) in outs.items()}
    dod = (acc[("dvn", 1, 1)] - acc[("dvn", 1, 2)]) - (acc[("baseline", 1, 1)] - acc[("baseline", 1, 2)])
    assert main.diff.mean == pytest.approx(dod.mean()) and main.diff.boundary == -1.0
    assert main.diff.has_bootstrap  # all four outputs paired by seed and image
    (own,) = [c for c in comps if not c.counted]  # DVN's own loss, shown beside against 2.3 points
    assert own.diff.mean == pytest.approx((acc[("dvn", 1, 1)] - acc[("dvn", 1, 2)]).mean())


def test_claim_verdict_over_its_comparisons():
    S_, C_, N_ = V.SUPPORTED, V.CONTRADICTED, V.NOT_DISTINGUISHABLE
    assert V.combine([S_, S_]) == V.SUPPORTED
    assert V.combine([S_, N_]) == V.PARTLY
    assert V.combine([S_, C_, N_]) == V.CONTRADICTED
    assert V.combine([N_, N_]) == V.NOT_DISTINGUISHABLE
    assert V.combine([S_, V.NO_FIT]) == V.SUPPORTED  # a comparison not made is in no count
    assert V.combine([]) == V.NOT_TESTED


# ---------------------------------------------------------------------------------------------
# Claim 4: the deciding engine

def _bench(engine: str, threads: int, full_ms: float, level_ms: dict, rounds: int = 8) -> list[dict]:
    rng = np.random.default_rng(threads)
    return [{"scenario": "J2", "network": "ResNet-42", "task": 1, "batch_size": 1, "engine": engine,
             "threads": threads, "level": lvl, "units": "1", "params": 1, "macs": 1, "repeat": r,
             "ms_per_image": ms * (1 + 0.01 * rng.standard_normal())}
            for r in range(rounds) for lvl, ms in {**level_ms, 4: full_ms}.items()]


def test_claim4_is_decided_by_onnx_runtime_at_one_thread_even_when_another_engine_is_faster():
    rows = (_bench("onnxruntime", 1, 10.0, {1: 10.0 / 3, 2: 10.0 / 2.5, 3: 10.0 / 1.55})  # slower than the paper
            + _bench("fuse_bn+channels_last@2threads", 2, 5.0, {1: 5.0 / 8, 2: 5.0 / 4, 3: 5.0 / 2})
            + _bench("onnxruntime", 2, 6.0, {1: 6.0 / 8, 2: 6.0 / 4, 3: 6.0 / 2}))
    comps = V.decide(K.claim4(pd.DataFrame(rows)))
    deciding = V.counted(comps)
    assert len(deciding) == 3 and all(c.columns["engine"].startswith("ONNX Runtime (1 thread), deciding")
                                      for c in deciding)
    assert [c.verdict for c in deciding] == [V.CONTRADICTED] * 3  # 3x, 2.5x, 1.55x < 5.8x, 2.8x, 1.6x
    others = [c for c in comps if not c.counted]
    assert len(others) == 6 and all("not deciding" in V.verdict_text(c) for c in others)
    assert V.combine(c.verdict for c in deciding) == V.CONTRADICTED
    # the statistic is the benchmark's: the ratio of medians over rounds
    d = pd.DataFrame(rows)
    d = d[(d["engine"] == "onnxruntime") & (d["threads"] == 1)]
    assert deciding[0].diff.mean == pytest.approx(d[d["level"] == 4]["ms_per_image"].median()
                                                  / d[d["level"] == 1]["ms_per_image"].median())


def test_a_bootstrap_p_of_zero_is_shown_as_the_bound_it_stands_for():
    # every resample far above the paper's value: the two-sided bootstrap p is 0, which means
    # "under 2 / resamples", and Holm's correction over three comparisons triples that bound
    rows = _bench("onnxruntime", 1, 10.0, {1: 10.0 / 9, 2: 10.0 / 5, 3: 10.0 / 3})
    comps = V.decide(K.claim4(pd.DataFrame(rows)))
    assert all(c.diff.p == 0 and c.verdict == V.SUPPORTED for c in comps)
    floor = 2 / comps[0].diff.boot_resamples
    table = V.comparisons_table(comps, unit="x")
    assert list(table["p, larger → Holm"]) == [f"under {floor:.1g} → under {3 * floor:.1g}"] * 3
    assert "speed-up" in table and "difference" not in table and "comparison" not in table
    assert list(table["level"]) == [1, 2, 3]


# ---------------------------------------------------------------------------------------------
# Reading the predictions

def test_predictions_reader_gives_correct_vectors_and_refuses_other_test_images(tmp_path):
    outs = {("dvn", 1, 1): (250, _seeds(90)), ("dvn", 1, 2): (1000, _seeds(93, 1))}
    root = write_twin(tmp_path, outs)
    correct, labels = load_predictions("FJ1", "study", root)
    assert set(correct) == {("dvn", s, 1, lvl) for s in SEEDS for lvl in (1, 2)}
    assert np.array_equal(correct[("dvn", 3, 1, 2)], outs[("dvn", 1, 2)][1][3]) and len(labels[1]) == N
    f = root / "FJ1" / "study" / "runs" / "dvn" / KEY / "seed4.predictions.npz"
    with np.load(f) as z:
        arrays = dict(z)
    arrays["labels_t1"] = arrays["labels_t1"][::-1].copy()
    np.savez(f, **arrays)
    with pytest.raises(ValueError, match="seed4.predictions.npz: task 1's test labels differ"):
        load_predictions("FJ1", "study", root)
    assert load_predictions("FJ2", "study", root) is None


def test_fj3_is_named_by_the_training_sizes_its_runs_used(tmp_path):
    from dvnlib.report.sources import twin_name
    for sizes, name in (([6000, 3000, 300], "FJ3 (J3's data sizes)"), ([6000] * 3, "FJ3 (equal sizes, first study)")):
        d = tmp_path / name / "FJ3" / "study"
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({"configuration": {"settings": {"train_sizes": sizes}}}))
        assert twin_name("FJ3", "study", tmp_path / name) == name
    assert twin_name("FJ1", "study", tmp_path) == "FJ1"


def test_each_capacity_is_decided_and_counted_on_its_own(tmp_path):
    outs = {("dvn", 1, 1): (250, _seeds(90)), ("baseline", 1, 1): (250, _seeds(90, 1))}
    write_twin(tmp_path, outs)
    write_twin(tmp_path, {("dvn", 1, 1): (250, _seeds(80)), ("baseline", 1, 1): (250, _seeds(90, 1))},
               profile="narrow")
    cl = K.claims("study", tmp_path)
    c1 = cl[0]
    assert set(c1.capacities) == {"standard", "narrow"}
    assert c1.verdict("standard") == V.SUPPORTED and c1.verdict("narrow") == V.CONTRADICTED
    assert {c.family for c in V.counted(c1.comparisons)} == {"1/standard", "1/narrow"}
    summary = K.claims_summary(cl, {"standard": "study", "narrow": "narrow"}).set_index("claim")
    assert summary.loc["1", "standard capacity: S / C / ND"] == "1 / 0 / 0"
    assert summary.loc["1", "narrow capacity: verdict"] == V.CONTRADICTED
    assert summary.loc["5", "narrow capacity: verdict"] == V.NOT_TESTED  # claim 5's twins have no narrow runs
    assert "claim-1-k-x-n-h" in summary.loc["1", "decided by"]


def test_the_forest_plot_has_a_panel_per_capacity_and_an_axis_the_control_does_not_stretch():
    """One wide, uncounted interval (the negative control's) is cut at the axis, which the counted
    comparisons set, and ends in an arrow; each capacity is its own panel."""
    import matplotlib
    matplotlib.use("Agg")
    from dvnlib.report.figures import forest_figure, forest_limits

    def comp(cap, what, low, high, counted=True):
        d = R.Difference((low + high) / 2, 5, -2.3, t_low=low, t_high=high, t_p=0.5)
        return V.Comparison("1", cap, f"1/{cap}", "FJ1 (x)", what, d, margin=2.3, counted=counted,
                            versus="baseline", verdict=V.NOT_DISTINGUISHABLE)
    rows = [comp("standard", "a", -1.0, 2.0), comp("standard", "control", -150.0, 20.0, counted=False),
            comp("narrow", "b", -4.0, 1.0)]
    lo, hi = forest_limits(rows)
    assert -5.0 < lo < -4.0 and 2.0 < hi < 3.0  # the counted intervals and the boundary, padded by a tenth
    assert forest_limits([comp("standard", "c", -300.0, 300.0)]) == (-100.0, 100.0)
    fig = forest_figure(rows)
    axes = fig.get_axes()
    assert [a.get_title(loc="left") for a in axes] == ["standard capacity (2 comparisons)",
                                                       "narrow capacity (1 comparisons)"]
    assert all(a.get_xlim() == (lo, hi) for a in axes)
    arrows = [l for l in axes[0].get_lines() if l.get_marker() == "<"]
    assert len(arrows) == 1 and arrows[0].get_xdata()[0] == lo  # the control's bar, cut at the left edge
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert "FJ1: control (not counted)" in labels and not any(t.startswith("1 ") for t in labels)
    assert [t.get_text() for t in axes[0].texts] == ["-65.0"]  # its estimate is off the axis too: written
    control = comp("standard", "control", -150.0, 20.0, counted=False)
    control.claim = "control"
    labels = [t.get_text() for t in forest_figure([rows[0], control]).get_axes()[0].get_yticklabels()]
    assert labels == ["control FJ1: control (not counted)", "FJ1: a"]  # named by its own claim, bottom up


def test_the_capacity_figure_says_where_a_twin_was_not_run_at_a_capacity():
    """FJ3 runs at the standard capacity only: its narrow slot says so instead of standing empty."""
    import matplotlib
    matplotlib.use("Agg")
    from dvnlib.report.figures import capacity_figure
    diffs = pd.DataFrame([("FJ1", "Baseline", "t1 l1", cap, 0.1, -0.5, 0.7) for cap in ("standard", "narrow")]
                         + [("FJ3", "Baseline", "t1 l1", "standard", 0.2, -0.4, 0.8)],
                         columns=["twin", "versus", "what", "capacity", "difference", "low", "high"])
    fj1, fj3 = capacity_figure(diffs).get_axes()[:2]
    assert [t.get_text() for t in fj1.texts] == []
    assert [t.get_text() for t in fj3.texts] == ["not run at\nthis capacity"]
