"""Tables for the notebooks and the book: our results (test accuracy beside train accuracy where
the run recorded it), the ablations, the twins' design, the learning curves, and what the method
page tabulates from the registry and the accounting (no training)."""
from __future__ import annotations

import pandas as pd

from .. import scenarios as S
from .. import units as U
from .sources import ABLATIONS, is_ablation, label, load_reported, load_reported_cost, order_methods
from .numbers import num
from .stats import aggregate, compare, fmt_ci, fmt_mdd, mean_ci, per_seed


def _has_train(a: pd.DataFrame) -> bool:
    return "train_accuracy" in a.columns and a["train_accuracy"].notna().any()


def table(df: pd.DataFrame) -> pd.DataFrame:
    """A readable table: test accuracy as 'mean ± ci95' per method, task and level, and train
    accuracy beside it when ``metrics.csv`` has it."""
    a = aggregate(df)
    out = pd.DataFrame({"method": a["method"], "task": a["task_name"], "level": a["level"], "units": a["units"],
                        "params": a["params"], "density %": (100 * a["density"]).round(1),
                        "accuracy %": [fmt_ci(m, c) for m, c in zip(a["accuracy"], a["ci95"])]})
    if _has_train(a):
        out["train accuracy %"] = [fmt_ci(m, c) for m, c in zip(a["train_accuracy"], a["train_ci95"])]
    out["seeds"] = a["seeds"]
    return out


def ours_table(df: pd.DataFrame, methods=()) -> pd.DataFrame:
    """Ours laid out like the paper's tables: a column per task holding the test accuracy (mean ±
    95% interval over seeds), the train accuracy in brackets where recorded, and, after @, the
    density. DVN and any method with several outputs per task get a row per level; a method with
    one output per task (NestedNet, PackNet+, the sequential peers) gets one row, as in the paper."""
    a = aggregate(df)
    train = _has_train(a)
    rows = []
    for m in order_methods(a["method"], methods):
        d = a[a["method"] == m]
        one_per_task = d.groupby("task").size().max() == 1
        groups = [(None, d)] if one_per_task else [(lvl, d[d["level"] == lvl]) for lvl in sorted(d["level"].unique())]
        for lvl, e in groups:
            per_task = ", ".join(str(int(x)) for x in e.sort_values("task")["level"])
            row = {"method": label(m),
                   "level": str(int(lvl)) if lvl is not None else (per_task if e["level"].nunique() > 1 else "—"),
                   "N_T": f"{e['params_total'].max() / 1e6:.3g}M", "seeds": int(e["seeds"].max())}
            for _, r in e.sort_values("task").iterrows():
                tr = f" (train {r['train_accuracy']:.1f})" if train and r["train_accuracy"] == r["train_accuracy"] else ""
                row[f"task {int(r['task'])}: {r['task_name']}"] = (
                    f"{fmt_ci(r['accuracy'], r['ci95'])}{tr} @ {100 * r['density']:.1f}%")
            rows.append(row)
    out = pd.DataFrame(rows)
    tasks = sorted([c for c in out.columns if c.startswith("task ")], key=lambda c: int(c.split(":")[0][5:]))
    return out[["method", "level", "N_T", "seeds", *tasks]].fillna("—")


def ablation_table(df: pd.DataFrame) -> pd.DataFrame:
    """DVN against each ablation, output by output: the difference paired by seed."""
    a = aggregate(df)
    rows = []
    for m in [m for m in order_methods(a["method"], ABLATIONS) if is_ablation(m)]:  # registered ones first
        for _, r in a[a["method"] == m].sort_values(["task", "level"]).iterrows():
            t, lvl = int(r["task"]), int(r["level"])
            base = a[(a["method"] == "dvn") & (a["task"] == t) & (a["level"] == lvl)]
            if base.empty:
                continue
            ours, theirs = per_seed(df, "dvn", t, lvl), per_seed(df, m, t, lvl)
            e = compare(ours, theirs)
            b = base.iloc[0]
            rows.append({"ablation": label(m), "task": f"{t}: {r['task_name']}", "level": lvl,
                         "units (DVN / ablation)": f"{b['units']} / {r['units']}",
                         "DVN %": fmt_ci(b["accuracy"], b["ci95"]), "ablation %": fmt_ci(r["accuracy"], r["ci95"]),
                         "DVN − ablation (points, paired by seed)": fmt_ci(e.mean, e.half, sign=True),
                         "detectable (80% power)": fmt_mdd(e),
                         # a seed the training guard stopped has no row: the pairs say how many are left
                         "seeds paired": len(ours.index.intersection(theirs.index)),
                         "DVN better?": "yes" if e.mean - e.half > 0 else "no, worse" if e.mean + e.half < 0
                         else "within the interval"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Power: how finely the study resolves DVN's outputs

PRECISION_TARGET = 1.0  # points: the target for the median 95% half-width of DVN's outputs


def precision(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per scenario, the 95% half-widths of DVN's outputs (test accuracy over seeds)."""
    rows = []
    for sc, df in data.items():
        a = aggregate(df[df["method"] == "dvn"])
        if a.empty:
            continue
        h = a["ci95"]
        rows.append({"scenario": sc, "DVN outputs": len(a), "seeds": int(a["seeds"].min()),
                     "median 95% half-width (points)": float(h.median()),
                     "largest (points)": float(h.max()), "values": list(h)})
    return pd.DataFrame(rows)


def median_half_width(data: dict[str, pd.DataFrame]) -> float:
    """The median 95% half-width over every DVN output of every scenario in ``data``."""
    p = precision(data)
    return float(pd.Series([v for vs in p["values"] for v in vs], dtype=float).median()) if len(p) else float("nan")


# --------------------------------------------------------------------------------------------
# The study's design and its learning curves

def _classes(task: S.TaskDef) -> str:
    names = S.FASHION_CLASSES if task.dataset == "fashion_mnist" else None
    if task.groups is not None:
        return "; ".join("{" + ", ".join(names[c] if names else str(c) for c in g) + "}" for g in task.groups)
    if task.classes is not None:
        return ", ".join(names[c] if names else str(c) for c in task.classes)
    return "all 10 classes" if names else "all"


def twins_table(scenarios=None, profile: str | None = None) -> pd.DataFrame:
    """Each twin's design as the registry (``dvnlib.scenarios``) defines it: a row per task."""
    rows = []
    for sc in scenarios or [s for s, x in S.SCENARIOS.items() if x.twin_of]:
        s = S.get(sc)
        try:
            bb = s.backbone(profile).name if profile else s.backbone().name
        except ValueError:
            bb = s.backbone().name
        for i, t in enumerate(s.tasks, 1):
            rows.append({"twin": f"{s.id} (of {s.twin_of})", "family": s.family, "task": f"{i}: {t.name}",
                         "classes": ("coarse groups " if t.groups is not None else "") + _classes(t),
                         "classes n": t.num_classes, "input px": t.input_size, "input stride": s.stride(i),
                         "k units (sizes)": f"{s.k} ({':'.join(map(str, s.units))})",
                         f"backbone ({profile or 'paper'})": bb})
    return pd.DataFrame(rows).fillna("")


def curve_means(curves: pd.DataFrame) -> pd.DataFrame:
    """Learning curves averaged over seeds: per (scenario, method, task, level, steps), mean test
    and train accuracy, the test accuracy's 95% half-width, epochs and seeds."""
    keys = ["scenario", "method", "task", "level", "steps"]
    rows = []
    for key, g in curves.groupby(keys, sort=True):
        test = mean_ci(g["accuracy"])
        rows.append({**dict(zip(keys, key)), "epochs": float(g["epochs"].mean()), "accuracy": test.mean,
                     "ci95": test.half, "train_accuracy": float(g["train_accuracy"].mean()),
                     "seeds": g["seed"].nunique()})
    return pd.DataFrame(rows)


DOUBLING_GAIN = 1.0  # points: the budget is where doubling it adds less than this


def budget_table(curves: pd.DataFrame, gain: float = DOUBLING_GAIN) -> pd.DataFrame:
    """Per curve (scenario, method, task, level): the smallest budget whose doubling (the next
    point at twice the steps or more) adds less than ``gain`` points of mean test accuracy, and the
    train-test gap at the largest budget (convergence: a small gap at low train accuracy is
    under-fitting, not generalisation)."""
    m = curve_means(curves)
    rows = []
    for (sc, meth, t, lvl), g in m.groupby(["scenario", "method", "task", "level"], sort=True):
        g = g.sort_values("steps").reset_index(drop=True)
        chosen = None
        for i, r in g.iterrows():
            later = g[g["steps"] >= 2 * r["steps"]]
            if len(later) and later["accuracy"].iloc[0] - r["accuracy"] < gain:
                chosen = (r, later.iloc[0])
                break
        last = g.iloc[-1]
        rows.append({"scenario": sc, "method": label(meth), "task": int(t), "level": int(lvl),
                     "budget (steps)": int(chosen[0]["steps"]) if chosen else "not reached",
                     "epochs at budget": f"{chosen[0]['epochs']:.1f}" if chosen else "—",
                     "gain from doubling (points)": num(chosen[1]['accuracy'] - chosen[0]['accuracy'], signed=True)
                     if chosen else "—",
                     "largest budget (steps)": int(last["steps"]),
                     "test % at largest": fmt_ci(last["accuracy"], last["ci95"]),
                     "train % at largest": f"{last['train_accuracy']:.1f}",
                     "train − test (points)": num(last['train_accuracy'] - last['accuracy'], 1, signed=True),
                     "seeds": int(last["seeds"])})
    return pd.DataFrame(rows)


def convergence_table(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per scenario and method, over every output and seed: mean test and train accuracy and their
    gap (train − test, mean and largest). A trained network fits its training images at least as
    well as the test images; a gap near zero at a low train accuracy says it is still learning."""
    rows = []
    for sc, df in data.items():
        if not _has_train(df):
            continue
        for m in order_methods(df["method"]):
            d = df[df["method"] == m]
            gap = d["train_accuracy"] - d["accuracy"]
            rows.append({"scenario": sc, "method": label(m), "outputs": len(d.groupby(["task", "level"])),
                         "seeds": d["seed"].nunique(), "test %": f"{d['accuracy'].mean():.1f}",
                         "train %": f"{d['train_accuracy'].mean():.1f}", "train − test (mean)": num(gap.mean(), 1, signed=True),
                         "train − test (largest)": num(gap.max(), 1, signed=True)})
    return pd.DataFrame(rows)


FH1_ANCHOR = 90.0  # DVN's top level on FH1's 10-way fine task, at least this test accuracy


def fh1_anchor_table(probes: pd.DataFrame | None, study: pd.DataFrame | None, study_steps=None,
                     study_settings: str = "—") -> pd.DataFrame:
    """FH1's accuracy anchor: DVN's top level on the fine task (task 2) in each probe (one seed,
    the settings it overrode, the SGD steps per task) and in the study (mean ± 95% interval over
    its seeds; ``study_steps`` the steps its runs took on that task and ``study_settings`` their
    images and epochs, both from their records)."""
    rows = []
    if probes is not None:
        p = probes[(probes["task"] == 2) & (probes["level"] == probes["level"].max())]
        for _, r in p.sort_values("steps").iterrows():
            rows.append({"run": "probe, seed 0", "settings changed from the 6000-image, 16-epoch profile": r["overrides"],
                         "SGD steps per task": int(r["steps"]) if r["steps"] == r["steps"] else "—",
                         "test %": f"{r['accuracy']:.1f}", "train %": f"{r['train_accuracy']:.1f}",
                         "anchor": "met" if r["accuracy"] >= FH1_ANCHOR else "missed"})
    if study is not None:
        d = study[(study["method"] == "dvn") & (study["task"] == 2)]
        if len(d):
            d = d[d["level"] == d["level"].max()]
            est, tr = mean_ci(d["accuracy"]), mean_ci(d["train_accuracy"])
            n = d["seed"].nunique()
            rows.append({"run": f"study, {n} seed{'s' * (n != 1)}",
                         "settings changed from the 6000-image, 16-epoch profile":
                             study_settings,
                         "SGD steps per task": int(study_steps) if pd.notna(study_steps) else "—",
                         "test %": fmt_ci(est.mean, est.half),
                         "train %": fmt_ci(tr.mean, tr.half), "anchor": "met" if est.mean >= FH1_ANCHOR else "missed"})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The fine-tuning sweep behind the sequential methods' starting rate (results/FS1/sweep/)

def finetune_choice(df: pd.DataFrame) -> pd.DataFrame:
    """Per (finetune_lr_scale, warmup): each method's mean output accuracy (over its outputs and
    seeds) and the score, their mean; best first. The choice is the top row: one setting for all
    the methods that start from a trained network, favouring none."""
    per = df.groupby(["finetune_lr_scale", "warmup", "method"])["accuracy"].mean().unstack("method")
    per["score"] = per.mean(axis=1)
    per["seeds"] = df.groupby(["finetune_lr_scale", "warmup"])["seed"].nunique()
    return per.sort_values("score", ascending=False)


def finetune_table(df: pd.DataFrame, chosen: tuple[float, float] | None = None) -> pd.DataFrame:
    """``finetune_choice`` as the method page shows it, with each method's old-task (task 1) mean
    accuracy beside (forgetting is what the sweep is about) and the study profile's row marked."""
    c = finetune_choice(df)
    methods = [m for m in c.columns if m not in ("score", "seeds")]
    old = df[df["task"] == 1].groupby(["finetune_lr_scale", "warmup", "method"])["accuracy"].mean().unstack("method")
    rows = []
    for (scale, warm), r in c.iterrows():
        row = {"lr scale": f"{scale:g}", "warm-up": f"{warm:g}"}
        row.update({f"{label(m)} %": f"{r[m]:.2f}" for m in methods})
        row.update({f"{label(m)} old task %": f"{old.loc[(scale, warm), m]:.2f}"
                    if (scale, warm) in old.index and m in old.columns else "—" for m in methods})
        row.update({"score": f"{r['score']:.2f}", "seeds": int(r["seeds"]),
                    "study profile": "chosen" if chosen is not None and (scale, warm) == tuple(chosen) else ""})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# What the method page tabulates (no training: accounting and the registry only)

def unit_orders_table(k: int) -> pd.DataFrame:
    config = U.dvn_configuration(k)
    return pd.DataFrame([{"task": j, **{f"level {l}": ", ".join(map(str, U.level_units(config, j, l)))
                                        for l in range(1, k + 1)}} for j in range(1, k + 1)])


def anchors_table() -> pd.DataFrame:
    """Our parameter counts at paper size against the figures the paper quotes."""
    from ..accounting import summary
    rep, cost = load_reported(), load_reported_cost()
    rows = []
    j1 = {(o["task"], o["level"]): o for o in summary("J1")["outputs"]}
    for lvl, what in ((1, "a stand-alone unit"), (2, "all units")):
        r = rep[(rep["scenario"] == "J1") & (rep["method"] == "DVN") & (rep["task"] == 1) & (rep["level"] == lvl)]
        o = j1[(1, lvl)]
        rows.append({"scenario": "J1", "network": "WRN-32-4, task 1 (10 classes)", "output": f"level {lvl}: {what}",
                     "reported (paper) params": f"{r['params_M'].iloc[0]:g}M", "ours params": f"{o['params']:,}",
                     "reported (paper) density %": "25" if lvl == 1 else "100",
                     "ours density %": f"{100 * o['density']:.1f}"})
    j2 = {(o["task"], o["level"]): o for o in summary("J2")["outputs"]}
    for _, r in cost[(cost["scenario"] == "J2")].iterrows():
        o = j2[(1, int(r["level"]))]
        rows.append({"scenario": "J2", "network": "ResNet-42 (3, 4, 9, 4), task 1 (50 classes)",
                     "output": f"level {int(r['level'])}", "reported (paper) params": f"{r['params_M']:g}M",
                     "ours params": f"{o['params']:,}", "reported (paper) density %": f"{r['density_pct']:g}",
                     "ours density %": f"{100 * o['density']:.1f}"})
    return pd.DataFrame(rows)


def resnet42_table(n: int = 5) -> pd.DataFrame:
    from ..accounting import search_resnet42
    return pd.DataFrame([{"blocks per stage": str(b), "J2 top level params": f"{p:,}",
                          "vs 29.8M": num(100 * (p / 29.8e6 - 1), 1, signed=True, unit="%")} for b, p in search_resnet42()[:n]])


def j3_units_table() -> pd.DataFrame:
    """J3 with units 2:1:1: every task's level densities (only task 1 gets 4/16 : 9/16 : 1)."""
    from ..accounting import summary
    out = summary("J3")["outputs"]
    names = [t.name for t in S.get("J3").tasks]
    rows = []
    for t in (1, 2, 3):
        row = {"task": f"{t}: {names[t - 1]}"}
        for o in out:
            if o["task"] == t:
                row[f"level {o['level']}"] = f"{100 * o['density']:.1f}% (units {','.join(map(str, o['units']))})"
        rows.append(row)
    return pd.DataFrame(rows)


def profiles_table() -> pd.DataFrame:
    rows = []
    for fam, example in (("wrn", "FJ1"), ("resnet", "FJ2")):
        s = S.get(example)
        for name in S.PROFILES:
            p = s.profile(name)
            rows.append({"scenarios": "FJ1, FH1, FS1, J1, H1, S1, S2" if fam == "wrn"
                         else "FJ2, FJ3, J2, J3", "profile": name,
                         "backbone": s.backbone(name).name if name != "paper" else
                         ("WRN-32-4 (S2: WRN-32-8)" if fam == "wrn" else "ResNet-42"),
                         "epochs": p.epochs, "batch": p.batch_size, "lr": f"{p.lr:g}",
                         "lr x gamma at": ", ".join(f"{m:.0%}" for m in p.milestones) or "—", "gamma": f"{p.gamma:g}",
                         "weight decay": f"{p.weight_decay:g}",
                         "images per task (train/test)": f"{p.train_per_task or 'all'} / {p.test_per_task or 'all'}",
                         "seeds": ", ".join(map(str, p.seeds))})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------


