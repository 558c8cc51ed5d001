"""Tables, figures and verdicts from result files: what the notebooks display and the book renders.

Everything here reads files and nothing trains or imports torch:

* our runs: ``<results>/<scenario>/<profile>/metrics.csv`` (rows as ``results.COLUMNS``) and
  ``run.json`` (configuration, versions, hardware, commit, times), as ``runner.run`` writes them;
* the cost benchmark (``python -m dvnlib bench --out results/bench``, ``bench.write``):
  ``<results>/bench/inference.csv``, one row per timed round of every extracted level under the
  headline engine (``load_bench``); ``bench.json``, the machine, versions, commit, date and plan
  (``load_bench_meta``); ``tables/levels.csv`` (every engine), ``training.csv``, ``data.csv`` and
  ``targets.csv`` (``load_bench_table``);
* the paper's numbers, copied from the study brief: ``results/paper/reported.csv`` (Tables 1,
  3, 4, 5) and ``results/paper/reported_cost.csv`` (Table 2, Section 4.3). These are always the
  project's own copy and are labelled "reported (paper)" wherever they appear.

Where the book looks for our runs: ``$DVN_BOOK_RESULTS`` (default: the project's ``results/``)
at profile ``$DVN_BOOK_PROFILE`` (default ``quick``), so that a test can build the book from a
small fixture without touching the committed results.

The pure functions (``aggregate``, ``table``, ``density_figure``, ``reported_table``,
``ours_table``, ``claims``, ``run_records`` ...) return DataFrames and figures; the ``show_*``
functions display them in a notebook and are what the book's pages call.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import scenarios as S
from . import units as U

KEYS = ["method", "task", "task_name", "level", "units"]

# --------------------------------------------------------------------------------------------
# What the book shows

BOOK_SCENARIOS: dict[str, tuple[str, ...]] = {
    "joint": ("FJ1", "FJ2", "FJ3"),
    "hierarchical": ("FH1",),
    "sequential": ("FS1",),
}
FAMILY_METHODS: dict[str, tuple[str, ...]] = {
    "joint": ("dvn", "baseline", "nestednet", "packnet"),
    "hierarchical": ("dvn", "baseline", "nestednet"),
    "sequential": ("dvn", "feature_extraction", "lwf", "dacnn", "nestednet"),
}
ABLATIONS = ("dvn-shared-bn", "dvn-prefix")
METHOD_LABELS = {
    "dvn": "DVN", "baseline": "Baseline", "nestednet": "NestedNet", "packnet": "PackNet+",
    "feature_extraction": "Feature Extraction", "lwf": "LwF", "dacnn": "DA-CNN",
    "dvn-shared-bn": "DVN, one shared BN (ablation)", "dvn-prefix": "DVN, plain order 1..k (ablation)",
    "nestednet-me": "NestedNet, one network per task", "baseline-full": "Baseline, full width only",
}
PAPER_TABLES = {"J1": 1, "H1": 3, "S1": 4, "S2": 5}
PAPER_FIGURES = {"J1": "Table 1", "J2": "Figure 5", "J3": "Figure 6", "H1": "Table 3", "S1": "Table 4"}
PAPER_HARDWARE = "NVIDIA TITAN Xp (TensorFlow)"

VERDICTS = ("holds", "does not hold", "inconclusive")
MATCH_TOLERANCE = 1.25  # densities within a factor 1.25 of each other count as matched
MATCH_MARGIN = 1.0      # "matches the baseline": DVN at most 1 accuracy point worse (95% interval)


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


# --------------------------------------------------------------------------------------------
# Where things are

def project_root() -> Path:
    """The project checkout: the folder holding ``results/paper/reported.csv`` above this file
    (an editable install) or above the working directory (the book's pages run in ``book/``)."""
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for d in (start, *start.parents):
            if (d / "results" / "paper" / "reported.csv").is_file():
                return d
    return Path(__file__).resolve().parents[1]


def results_dir() -> Path:
    env = os.environ.get("DVN_BOOK_RESULTS")
    return Path(env).resolve() if env else project_root() / "results"


def book_profile() -> str:
    return os.environ.get("DVN_BOOK_PROFILE") or "quick"


def paper_dir() -> Path:
    return project_root() / "results" / "paper"


def rerun_command(scenario: str, profile: str | None = None, ablations: bool = False) -> str:
    """The exact papermill command (from the repository root, with the project's environment) that
    produces ``results/<scenario>/<profile>/``, as ``scripts/quick_study.sh`` runs it. It trains
    only what is missing: a (method, seed) that already finished is read back."""
    s = S.get(scenario)
    profile = profile or book_profile()
    name = "ablations" if ablations else s.family
    cmd = (f"papermill notebooks/{s.family}.ipynb results/{s.id}/{profile}/{name}.ipynb -k python3 "
           f"-p scenario {s.id} -p profile {profile}")
    if ablations:
        cmd += f' -y "methods: [{", ".join(ABLATIONS)}]"'
    return cmd


# --------------------------------------------------------------------------------------------
# Reading

def load_metrics(scenario: str, profile: str | None = None, root=None) -> pd.DataFrame | None:
    path = Path(root or results_dir()) / scenario / (profile or book_profile()) / "metrics.csv"
    if not path.is_file():
        return None
    df = pd.read_csv(path, dtype={"units": str, "task_name": str, "method": str})
    return df if len(df) else None


def load_run(scenario: str, profile: str | None = None, root=None) -> dict | None:
    path = Path(root or results_dir()) / scenario / (profile or book_profile()) / "run.json"
    return json.loads(path.read_text()) if path.is_file() else None


@lru_cache(maxsize=4)
def _read_paper(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"units_used": str, "note": str} if path.name == "reported.csv" else None)


def load_reported() -> pd.DataFrame:
    return _read_paper(paper_dir() / "reported.csv").copy()


def load_reported_cost() -> pd.DataFrame:
    return _read_paper(paper_dir() / "reported_cost.csv").copy()


# The benchmark's files, as ``bench.write`` writes them under ``<results>/bench/``.
BENCH_COMMAND = "python -m dvnlib bench --out results/bench"
BENCH_KEYS = ["scenario", "network", "task", "batch_size", "engine"]  # inference.csv: one timed group


def bench_dir(root=None) -> Path:
    return Path(root or results_dir()) / "bench"


def load_bench(root=None) -> pd.DataFrame | None:
    """``bench/inference.csv`` (``bench.CSV_COLUMNS``), or None: one row per timed round of every
    extracted level under the benchmark's headline engine (scenario, network, task, level, units,
    params, macs, batch_size, engine, threads, repeat, ms_per_image, device, hardware, torch,
    commit, date). Within a group of ``BENCH_KEYS``, rows with the same ``repeat`` were timed in
    the same round."""
    f = bench_dir(root) / "inference.csv"
    return pd.read_csv(f, dtype={"units": str}) if f.is_file() else None


def load_bench_meta(root=None) -> dict | None:
    """``bench/bench.json`` (``bench.public``), or None: device, hardware, versions, git, date,
    the headline ``engine``, ``plan``, ``quick``, ``wall_seconds``, ``switches`` (the threads
    probe among them) ..."""
    f = bench_dir(root) / "bench.json"
    return json.loads(f.read_text()) if f.is_file() else None


def load_bench_table(name: str, root=None) -> pd.DataFrame | None:
    """``bench/tables/<name>.csv``, or None: ``levels`` (every engine: per level, median ms per
    image and the ratios to the full network), ``training`` (one row per training setting, the
    first is the targets'), ``data``, ``targets`` (target, value, threshold, met)."""
    f = bench_dir(root) / "tables" / f"{name}.csv"
    return pd.read_csv(f, dtype={"units": str}) if f.is_file() else None


# --------------------------------------------------------------------------------------------
# Statistics

def t_quantile_975(dof: int) -> float:
    """Two-sided 95% Student-t quantile (no SciPy needed): a table for small samples."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
             9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
    if dof != dof or dof <= 0:
        return math.nan
    for d in sorted(table):
        if dof <= d:
            return table[d]
    return 1.96


def mean_ci(values) -> tuple[float, float, int]:
    """Mean, 95% t-interval half-width (nan for one value) and count."""
    v = pd.Series(values, dtype=float).dropna()
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    half = t_quantile_975(n - 1) * v.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    return float(v.mean()), float(half), n


def diff_ci(a, b) -> tuple[float, float]:
    """Difference of means a - b with a 95% Welch interval half-width (independent samples)."""
    a, b = pd.Series(a, dtype=float).dropna(), pd.Series(b, dtype=float).dropna()
    if len(a) < 2 or len(b) < 2:
        return float(a.mean() - b.mean()) if len(a) and len(b) else math.nan, math.nan
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(a.mean() - b.mean()), 0.0
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(a.mean() - b.mean()), t_quantile_975(math.floor(dof)) * se


def fmt_ci(mean: float, half: float, digits: int = 1, sign: bool = False) -> str:
    if mean != mean:
        return "–"
    m = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return f"{m} ± {half:.{digits}f}" if half == half else m


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy over seeds per (method, task, level) with a 95% t-interval half-width."""
    df = df.copy()
    df["units"] = df["units"].fillna("").astype(str)
    g = df.groupby(KEYS, sort=False, dropna=False)
    out = g.agg(params=("params", "first"), density=("density", "first"), params_total=("params_total", "first"),
                accuracy=("accuracy", "mean"), sd=("accuracy", "std"), seeds=("seed", "nunique")).reset_index()
    out["ci95"] = [t_quantile_975(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
                   for n, sd in zip(out["seeds"], out["sd"])]
    return out


def table(df: pd.DataFrame) -> pd.DataFrame:
    """A readable table: accuracy as 'mean ± ci95' per method, task and level."""
    a = aggregate(df)
    fmt = [fmt_ci(m, c) for m, c in zip(a["accuracy"], a["ci95"])]
    return pd.DataFrame({"method": a["method"], "task": a["task_name"], "level": a["level"], "units": a["units"],
                         "params": a["params"], "density %": (100 * a["density"]).round(1),
                         "accuracy %": fmt, "seeds": a["seeds"]})


def _order_methods(present, wanted=()) -> list[str]:
    present = list(dict.fromkeys(present))
    return [m for m in wanted if m in present] + [m for m in present if m not in wanted]


# --------------------------------------------------------------------------------------------
# Tables: the paper's, as reported, and ours, laid out alike

def reported_table(paper_scenario: str) -> pd.DataFrame | None:
    """The paper's numbers for one scenario, laid out as its table: a row per method (and level
    for DVN), a column per task. Labelled as reported."""
    rep = load_reported()
    rep = rep[rep["scenario"] == paper_scenario]
    if rep.empty:
        return None
    rows = {}
    for _, r in rep.iterrows():
        lvl = "" if pd.isna(r["level"]) else int(r["level"])
        size = "" if pd.isna(r["params_M"]) else f"{r['params_M']:g}M"
        key = (r["method"], lvl, size if r["method"] == "Baseline" else "")
        row = rows.setdefault(key, {"method (reported)": r["method"], "level": lvl,
                                    "N_T": "" if pd.isna(r["params_total_M"]) else f"{r['params_total_M']:g}M"})
        col = f"task {int(r['task'])}: {r['task_name']}"
        row[col] = f"{r['accuracy_pct']:.1f}" + (f" ({size})" if size else "")
    out = pd.DataFrame(list(rows.values())).fillna("—")
    return out[[c for c in out.columns if not out[c].isin(["", "—"]).all()]]


def ours_table(df: pd.DataFrame, methods=()) -> pd.DataFrame:
    """Ours laid out like the paper's tables: a column per task holding the accuracy (mean ± 95%
    interval over seeds) and, after @, the density. DVN and any method with several outputs per
    task get a row per level; a method with one output per task (NestedNet, PackNet+, the
    sequential peers) gets one row, as in the paper."""
    a = aggregate(df)
    rows = []
    for m in _order_methods(a["method"], methods):
        d = a[a["method"] == m]
        one_per_task = d.groupby("task").size().max() == 1
        groups = [(None, d)] if one_per_task else [(lvl, d[d["level"] == lvl]) for lvl in sorted(d["level"].unique())]
        for lvl, e in groups:
            per_task = ", ".join(str(int(x)) for x in e.sort_values("task")["level"])
            row = {"method": label(m),
                   "level": str(int(lvl)) if lvl is not None else (per_task if e["level"].nunique() > 1 else "—"),
                   "N_T": f"{e['params_total'].max() / 1e6:.3g}M", "seeds": int(e["seeds"].max())}
            for _, r in e.sort_values("task").iterrows():
                row[f"task {int(r['task'])}: {r['task_name']}"] = (
                    f"{fmt_ci(r['accuracy'], r['ci95'])} @ {100 * r['density']:.1f}%")
            rows.append(row)
    out = pd.DataFrame(rows)
    tasks = sorted([c for c in out.columns if c.startswith("task ")], key=lambda c: int(c.split(":")[0][5:]))
    return out[["method", "level", "N_T", "seeds", *tasks]].fillna("—")


# --------------------------------------------------------------------------------------------
# Figures

def density_figure(df: pd.DataFrame, title: str | None = None, methods=None, subtitle: str | None = None):
    """Accuracy against parameter density for each task: DVN's levels as a curve, other methods
    as points, 95% intervals as error bars (the manner of the paper's Figures 4-6)."""
    import matplotlib.pyplot as plt
    a = aggregate(df)
    if methods is not None:
        a = a[a["method"].isin(methods)]
    tasks = list(dict.fromkeys(zip(a["task"], a["task_name"])))
    ncol = min(len(tasks), 2)
    nrow = math.ceil(len(tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 3.3 * nrow + 1.0), squeeze=False)
    order = _order_methods(a["method"], methods or ())
    markers = "osD^vP*X"
    points = [m for m in order if not m.startswith("dvn")]
    for ax, (t, name) in zip(axes.flat, tasks):
        for i, m in enumerate(order):
            d = a[(a["task"] == t) & (a["method"] == m)].sort_values("density")
            if d.empty:
                continue
            curve = m.startswith("dvn")
            # methods at one density are drawn side by side (1.2 points apart) so that their
            # intervals stay readable; DVN's curve sits at its true densities
            dx = 0 if curve else 1.2 * (points.index(m) - (len(points) - 1) / 2)
            ci = d["ci95"].fillna(0)  # accuracy is bounded: clip the intervals to [0, 100]
            yerr = [ci.clip(upper=d["accuracy"]), ci.clip(upper=100 - d["accuracy"])]
            ax.errorbar(100 * d["density"] + dx, d["accuracy"], yerr=yerr,
                        marker=markers[i % len(markers)],
                        linestyle=("--" if m != "dvn" else "-") if curve else "none",
                        color=f"C{i}", label=label(m) + (" (levels)" if curve else ""),
                        capsize=3, markersize=5, linewidth=1.6 if m == "dvn" else 1.1)
        ax.set_title(f"task {t}: {name}", fontsize=10)
        ax.set_xlabel("parameter density (% of the task's full network)", fontsize=9)
        ax.set_ylabel("test accuracy (%, task-aware)", fontsize=9)
        ax.set_xlim(0, max(105, 100 * a["density"].max() + 5))
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 0), min(hi, 100.5))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=9, frameon=False)
    head = title or ""
    if subtitle:
        head = f"{head}\n{subtitle}" if head else subtitle
    if len(points) > 1:
        head += "; points at one density are drawn slightly apart"
    if head:
        fig.suptitle(head, fontsize=10)
    legend_rows = math.ceil(len(labels) / 3)
    fig.tight_layout(rect=(0, (0.35 + 0.25 * legend_rows) / fig.get_figheight(), 1, 1))
    return fig


def unit_orders_figure(k: int = 4, unit_sizes=None, title: str | None = None):
    """Each task's levels as bars of units, from ``units.dvn_configuration(k)``: the units a
    (task, level) uses are filled and numbered in the order the level adds them; unit widths are
    proportional to ``unit_sizes``."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    config = U.dvn_configuration(k)
    sizes = tuple(unit_sizes or (1,) * k)
    b = [sum(sizes[:i]) / sum(sizes) for i in range(k + 1)]
    fig, axes = plt.subplots(k, k, figsize=(1.9 * k + 0.6, 0.75 * k + 0.9), squeeze=False)
    for j in range(1, k + 1):
        for lvl in range(1, k + 1):
            ax = axes[j - 1][lvl - 1]
            used = U.level_units(config, j, lvl)
            for u in range(1, k + 1):
                on = u in used
                ax.add_patch(Rectangle((b[u - 1], 0), b[u] - b[u - 1], 1, facecolor=f"C{u - 1}" if on else "white",
                                       edgecolor="0.3", alpha=0.85 if on else 1))
                ax.text((b[u - 1] + b[u]) / 2, 0.5, str(u), ha="center", va="center", fontsize=9,
                        color="white" if on else "0.6", fontweight="bold" if on else "normal")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 1:
                ax.set_title(f"level {lvl}", fontsize=9)
            if lvl == 1:
                ax.set_ylabel(f"task {j}", rotation=0, ha="right", va="center", fontsize=9)
    default = f"Unit orders by the configuration rule (eq. 3), k = {k}" + (
        f", unit sizes {':'.join(map(str, sizes))}" if len(set(sizes)) > 1 else "")
    fig.suptitle(title or default, fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# What the method page tabulates (no training: accounting and the registry only)

def unit_orders_table(k: int) -> pd.DataFrame:
    config = U.dvn_configuration(k)
    return pd.DataFrame([{"task": j, **{f"level {l}": ", ".join(map(str, U.level_units(config, j, l)))
                                        for l in range(1, k + 1)}} for j in range(1, k + 1)])


def anchors_table() -> pd.DataFrame:
    """Our parameter counts at paper size against the figures the paper quotes."""
    from .accounting import summary
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
    from .accounting import search_resnet42
    return pd.DataFrame([{"blocks per stage": str(b), "J2 top level params": f"{p:,}",
                          "vs 29.8M": f"{100 * (p / 29.8e6 - 1):+.1f}%"} for b, p in search_resnet42()[:n]])


def j3_units_table() -> pd.DataFrame:
    """J3 with units 2:1:1: every task's level densities (only task 1 gets 4/16 : 9/16 : 1)."""
    from .accounting import summary
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
# Comparisons and verdicts

def _per_seed(df: pd.DataFrame, method: str, task: int, level: int) -> pd.Series:
    d = df[(df["method"] == method) & (df["task"] == task) & (df["level"] == level)]
    return d.set_index("seed")["accuracy"].astype(float)


def verdict_greater(diff: float, half: float) -> str:
    """'A beats B' from the 95% interval of A - B."""
    if diff != diff or half != half:
        return "inconclusive"
    if diff - half > 0:
        return "holds"
    if diff + half < 0:
        return "does not hold"
    return "inconclusive"


def verdict_noninferior(diff: float, half: float, margin: float) -> str:
    """'A is at most ``margin`` points worse than B' from the 95% interval of A - B."""
    if diff != diff or half != half:
        return "inconclusive"
    if diff - half > -margin:
        return "holds"
    if diff + half < -margin:
        return "does not hold"
    return "inconclusive"


def combine(verdicts) -> str:
    """A claim stated for every case: one case against it refutes it, all for it support it."""
    v = list(verdicts)
    if not v:
        return "not tested"
    if "does not hold" in v:
        return "does not hold"
    if all(x == "holds" for x in v):
        return "holds"
    return "inconclusive"


def _counts(verdicts) -> str:
    v = list(verdicts)
    return ", ".join(f"{v.count(x)} {x}" for x in VERDICTS if v.count(x))


def matched_level(a: pd.DataFrame, method: str, task: int, density: float, ref: str = "dvn"):
    """The ``ref`` level of ``task`` with the most parameters that still does not use more than
    the other method's output (``density``, with ``MATCH_TOLERANCE`` for rounding): DVN is never
    given a larger budget than the method it is compared with. None if no level fits."""
    d = a[(a["method"] == ref) & (a["task"] == task) & (a["density"] <= density * MATCH_TOLERANCE)]
    if d.empty or not density > 0:
        return None
    return d.loc[d["density"].idxmax()]


def reported_densities(paper_scenario: str) -> pd.DataFrame:
    """The paper's rows for one scenario with a ``density`` where the paper lets us know it: its
    parameter count over the task's largest DVN count (Tables 1, 3); a Baseline with no count is
    the full network ("independent WRN-32-4"); NestedNet and PackNet+ with no count give task j
    of k tasks j/k of the parameters (Section 4.3: "the first half and all of the parameters").
    Otherwise unknown (NaN)."""
    rep = load_reported()
    rep = rep[rep["scenario"] == paper_scenario].copy()
    full = rep[rep["method"] == "DVN"].groupby("task")["params_M"].max()
    k = rep["task"].max()
    dens = []
    for _, r in rep.iterrows():
        if pd.notna(r["params_M"]) and pd.notna(full.get(r["task"], math.nan)):
            dens.append(r["params_M"] / full[r["task"]])
        elif r["method"] == "Baseline":
            dens.append(1.0)
        elif r["method"] in ("NestedNet", "PackNet+") and rep["table"].iloc[0] == 1:
            dens.append(r["task"] / k)
        else:
            dens.append(math.nan)
    rep["density"] = dens
    return rep


def _paper_value(twin: str | None, method: str, task: int, level: int | None = None,
                 density: float | None = None) -> float | None:
    """The paper's accuracy for the twin's counterpart of an output of ours: the same method
    and task, and the same DVN level or (other methods) a density within ``MATCH_TOLERANCE``."""
    if not twin:
        return None
    rep = reported_densities(twin)
    r = rep[(rep["method"] == label(method)) & (rep["task"] == task)]
    if level is not None and r["level"].notna().any():
        r = r[r["level"] == level]
    elif density is not None and r["density"].notna().all() and len(r):
        r = r[(r["density"] / density).map(lambda x: abs(math.log(x)) <= math.log(MATCH_TOLERANCE))]
    return float(r["accuracy_pct"].iloc[0]) if len(r) == 1 else None


def _fmt_paper(*values) -> str:
    if any(v is None for v in values):
        return "—"
    return " vs ".join(f"{v:.1f}" for v in values)


def matched_comparisons(df: pd.DataFrame, scenario: str, others, kind: str = "greater",
                        margin: float = MATCH_MARGIN) -> pd.DataFrame:
    """DVN against each of ``others`` at matched density, task by task, with the Welch 95%
    interval of the difference over seeds and a verdict (``kind``: 'greater' or 'noninferior')."""
    a = aggregate(df)
    twin = S.get(scenario).twin_of
    rows = []
    dvn_total = a.loc[a["method"] == "dvn", "params_total"].max()
    for m in others:
        for _, r in a[a["method"] == m].sort_values(["task", "density"]).iterrows():
            t = int(r["task"])
            dv = matched_level(a, m, t, r["density"])
            if dv is None:
                continue
            diff, half = diff_ci(_per_seed(df, "dvn", t, int(dv["level"])), _per_seed(df, m, t, int(r["level"])))
            v = verdict_greater(diff, half) if kind == "greater" else verdict_noninferior(diff, half, margin)
            pd_dvn = _paper_value(twin, "dvn", t, int(dv["level"]))
            pd_other = _paper_value(twin, m, t, density=float(r["density"]))
            row = {"scenario": scenario, "task": f"{t}: {r['task_name']}", "versus": label(m),
                   "DVN level": int(dv["level"]), "density % (DVN / other)": f"{100 * dv['density']:.1f} / {100 * r['density']:.1f}",
                   "DVN accuracy %": fmt_ci(dv["accuracy"], dv["ci95"]),
                   "other accuracy %": fmt_ci(r["accuracy"], r["ci95"]),
                   "DVN − other (points)": fmt_ci(diff, half, sign=True),
                   "reported (paper) DVN vs other": _fmt_paper(pd_dvn, pd_other)}
            if kind != "greater":
                row["stored params, DVN / other"] = f"{dvn_total / r['params_total']:.2f}"
            row["verdict"] = v
            rows.append(row)
    return pd.DataFrame(rows)


def _expected_outputs(scenario: str) -> int:
    s = S.get(scenario)
    return len(U.outputs(U.dvn_configuration(s.k)))


def claim1(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for sc, df in data.items():
        d = df[df["method"] == "dvn"]
        if d.empty:
            continue
        a = aggregate(d)
        s = S.get(sc)
        chance = {t: 100.0 / task.num_classes for t, task in enumerate(s.tasks, 1)}
        lo = a["accuracy"] - a["ci95"]
        hi = a["accuracy"] + a["ci95"]
        ch = a["task"].map(chance)
        worst = (a["accuracy"] - ch).idxmin()
        n_exp, n = _expected_outputs(sc), len(a)
        if n < n_exp or (hi <= ch).any():
            v = "does not hold"
        elif (lo > ch).all():
            v = "holds"
        else:
            v = "inconclusive"
        w = a.loc[worst]
        rows.append({"scenario": sc, "k x n_h outputs (expected)": n_exp, "outputs evaluated": n,
                     "above chance (95% interval)": int((lo > ch).sum()),
                     "weakest output": f"task {int(w['task'])} level {int(w['level'])}: "
                                       f"{fmt_ci(w['accuracy'], w['ci95'])}% (chance {chance[int(w['task'])]:.1f}%)",
                     "seeds": int(a["seeds"].min()), "verdict": v})
    return pd.DataFrame(rows)


def claim2_margin() -> float:
    """'Loses little', read as: no more than the largest loss the paper itself reports for a
    stand-alone unit against all units (Table 1)."""
    rep = load_reported()
    d = rep[(rep["table"] == 1) & (rep["method"] == "DVN")]
    p = d.pivot_table(index="task", columns="level", values="accuracy_pct")
    return float((p[p.columns.max()] - p[p.columns.min()]).max())


def claim2(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    margin = claim2_margin()
    rows = []
    for sc, df in data.items():
        d = df[df["method"] == "dvn"]
        if d.empty:
            continue
        twin = S.get(sc).twin_of
        a = aggregate(d)
        for t in sorted(a["task"].unique()):
            e = a[a["task"] == t]
            top = int(e["level"].max())
            low, full = _per_seed(d, "dvn", t, 1), _per_seed(d, "dvn", t, top)
            paired = (low - full).dropna()  # one network per seed: pair the levels
            diff, half, _ = mean_ci(paired)
            p1, pk = _paper_value(twin, "dvn", t, 1), _paper_value(twin, "dvn", t, top)
            r1, rk = e[e["level"] == 1].iloc[0], e[e["level"] == top].iloc[0]
            rows.append({"scenario": sc, "task": f"{t}: {r1['task_name']}",
                         "one unit %": fmt_ci(r1["accuracy"], r1["ci95"]),
                         f"all units %": fmt_ci(rk["accuracy"], rk["ci95"]),
                         "one unit − all (points, paired)": fmt_ci(diff, half, sign=True),
                         "reported (paper) one unit vs all": _fmt_paper(p1, pk),
                         "verdict": verdict_noninferior(diff, half, margin)})
    return pd.DataFrame(rows)


def bench_levels(bench: pd.DataFrame) -> pd.DataFrame:
    """Per timed group (``BENCH_KEYS``) and level of ``inference.csv``: ``ms`` the median ms per
    image; ``speedup`` the group's full network's (top level's) median over the level's, as the
    benchmark computes it; ``low``/``high`` a 95% interval of the speed-up within a round (the
    level and the full network timed side by side): a t-interval of its logarithm over the rounds
    (NaN with one round); ``mac_ratio`` and ``density`` the level's MACs and parameters against
    the full network's."""
    rows = []
    for key, g in bench.groupby(BENCH_KEYS, sort=False):
        full = g[g["level"] == g["level"].max()]
        f = full.iloc[0]
        for lvl, x in g.groupby("level"):
            pair = x.merge(full[["repeat", "ms_per_image"]], on="repeat", suffixes=("", "_full"))
            lm, lh, n = mean_ci([math.log(b / a) for a, b in zip(pair["ms_per_image"], pair["ms_per_image_full"])])
            r = x.iloc[0]
            rows.append({**dict(zip(BENCH_KEYS, key)), "level": int(lvl), "units": r["units"],
                         "params": int(r["params"]), "macs": int(r["macs"]), "threads": r["threads"],
                         "ms": float(x["ms_per_image"].median()),
                         "speedup": float(full["ms_per_image"].median() / x["ms_per_image"].median()),
                         "low": math.exp(lm - lh), "high": math.exp(lm + lh), "repeats": n,
                         "mac_ratio": f["macs"] / r["macs"], "density": r["params"] / f["params"],
                         "top": int(lvl) == int(f["level"])})
    return pd.DataFrame(rows)


def fmt_speedup(sp: float, lo: float, hi: float) -> str:
    if sp != sp:
        return "—"
    return f"{sp:.2f}x" + (f" ({lo:.2f}–{hi:.2f})" if lo == lo and hi == hi else "")


def paper_speedups() -> dict[tuple[str, int], float]:
    """Table 2's speed-ups, keyed by (scenario, level): the figures the benchmark's targets use."""
    c = load_reported_cost()
    c = c[(c["source"] == "Table 2") & c["speedup_x"].notna()]
    return {(r["scenario"], int(r["level"])): float(r["speedup_x"]) for _, r in c.iterrows()}


def verdict_at_least(low: float, high: float, threshold: float) -> str:
    """'At least ``threshold``' from a 95% interval [low, high]."""
    if low != low or high != high:
        return "inconclusive"
    return "holds" if low >= threshold else "does not hold" if high < threshold else "inconclusive"


def claim4(lv: pd.DataFrame | None) -> pd.DataFrame:
    """Every level the paper gives a speed-up for (J2's ResNet-42, Table 2), at every batch size
    benchmarked: is our speed-up over the full network at least the paper's?"""
    if lv is None or lv.empty:
        return pd.DataFrame()
    paper = paper_speedups()
    rows = []
    for _, r in lv.iterrows():
        p = paper.get((r["scenario"], int(r["level"])))
        if r["top"] or p is None:
            continue
        rows.append({"network": f"{r['scenario']}: {r['network']}", "batch": int(r["batch_size"]),
                     "level": int(r["level"]), "ms per image (median)": f"{r['ms']:.3f}",
                     "speed-up over the full network (95%)": fmt_speedup(r["speedup"], r["low"], r["high"]),
                     "reported (paper) speed-up, GPU": f"{p:g}x",
                     "verdict": verdict_at_least(r["low"], r["high"], p)})
    return pd.DataFrame(rows)


def bench_hardware(meta: dict) -> str:
    """The benchmark's machine in words, from ``bench.json``."""
    hw = meta.get("hardware") or {}
    n = hw.get("torch_threads")
    return (f"{meta.get('device', 'device not recorded')}"
            + (f", {n} torch thread{'s' * (n != 1)}" if n else "")
            + f", torch {(meta.get('versions') or {}).get('torch', '?')}")


def _timed(meta: dict | None, scenario: str, task: int = 1) -> str:
    """'ResNet-42, 64 px' and the size it was timed at, for a scenario of the benchmark."""
    from .layout import layout
    profile = ((meta or {}).get("plan") or {}).get("inference_profile")
    lay = layout(scenario, profile)
    return (f"{lay.spec.name}, {lay.tasks[task - 1].input_size} px, task {task}, "
            + (f"{profile} profile" if profile else "paper size"))


def claim5(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = []
    for sc, df in data.items():
        s = S.get(sc)
        if s.family == "hierarchical":
            c = matched_comparisons(df, sc, [m for m in ("nestednet", "baseline") if m in set(df["method"])])
            for _, r in c.iterrows():
                rows.append({"scenario": sc, "comparison": f"{r['task']}, DVN level {r['DVN level']} vs {r['versus']} "
                                                           f"(density {r['density % (DVN / other)']}%)",
                             "DVN %": r["DVN accuracy %"], "other %": r["other accuracy %"],
                             "DVN − other (points)": r["DVN − other (points)"],
                             "reported (paper)": r["reported (paper) DVN vs other"], "verdict": r["verdict"]})
        elif s.family == "sequential":
            dv = df[df["method"] == "dvn"]
            if dv.empty:
                continue
            top = dv.groupby("task")["level"].transform("max")
            dvn_avg = dv[dv["level"] == top].groupby("seed")["accuracy"].mean()
            for m in _order_methods(df["method"], FAMILY_METHODS["sequential"]):
                if m == "dvn" or m in ABLATIONS:
                    continue
                o = df[df["method"] == m]
                o = o[o["density"] == o.groupby("task")["density"].transform("max")]
                o_avg = o.groupby("seed")["accuracy"].mean()
                diff, half = diff_ci(dvn_avg, o_avg)
                pd_d = [_paper_value(s.twin_of, "dvn", t, 2) for t in (1, 2)]
                pd_o = [_paper_value(s.twin_of, m, t) for t in (1, 2)]
                paper = (_fmt_paper(sum(pd_d) / 2, sum(pd_o) / 2)
                         if None not in pd_d + pd_o else "—")
                rows.append({"scenario": sc, "comparison": f"average over tasks, DVN all units vs {label(m)}",
                             "DVN %": fmt_ci(*mean_ci(dvn_avg)[:2]), "other %": fmt_ci(*mean_ci(o_avg)[:2]),
                             "DVN − other (points)": fmt_ci(diff, half, sign=True),
                             "reported (paper)": paper, "verdict": verdict_greater(diff, half)})
    return pd.DataFrame(rows)


CLAIMS = {
    1: "One network, trained once, gives k x n_h working classifiers: every task at every level.",
    2: "A stand-alone unit loses little against all units (Table 1: 94.6 vs 95.1 on CIFAR-10, "
       "75.0 vs 77.3 on CIFAR-100).",
    3: "At matched parameter density DVN beats NestedNet and PackNet+ (Table 1, Figures 5 and 6) and "
       "matches independent baselines with a fraction of their parameters.",
    4: "Memory-efficient inference is real: level l of ResNet-42 runs 5.8x / 2.8x / 1.6x faster than "
       "the full network (Table 2).",
    5: "Hierarchical (Table 3) and sequential learning (Tables 4 and 5) results.",
}
# Claim 2 is about a stand-alone unit at k = 2 (a quarter of the parameters), as in Tables 1, 3, 4.
CLAIM_SCENARIOS = {1: "FJ1 FJ2 FJ3 FH1 FS1", 2: "FJ1 FH1 FS1", 3: "FJ1 FJ2 FJ3", 4: "bench",
                   5: "FH1 FS1"}


@dataclass
class Claim:
    number: int
    statement: str
    verdict: str
    evidence: pd.DataFrame
    scale: str
    missing: list[str]


def _book_data(profile=None, root=None) -> dict[str, pd.DataFrame]:
    out = {}
    for fam, scs in BOOK_SCENARIOS.items():
        for sc in scs:
            df = load_metrics(sc, profile, root)
            if df is not None:
                out[sc] = df
    return out


def scale(scenario: str, df: pd.DataFrame | None = None, profile: str | None = None) -> str:
    """At what scale a scenario was tested: backbone, epochs, images, seeds."""
    profile = profile or book_profile()
    s = S.get(scenario)
    p = s.profile(profile)
    seeds = df["seed"].nunique() if df is not None else len(p.seeds)
    return (f"{scenario} ({s.backbone(profile).name}, {p.epochs} epoch{'s' * (p.epochs != 1)}, "
            f"{p.train_per_task or 'all'} training images per task, {seeds} seed{'s' * (seeds != 1)}, "
            f"{profile} profile)")


def scale_text(data: dict[str, pd.DataFrame], profile: str | None = None) -> str:
    """``scale`` for several scenarios, those tested alike grouped together."""
    profile = profile or book_profile()
    groups: dict[str, list[str]] = {}
    for sc, df in data.items():
        groups.setdefault(scale(sc, df, profile).split(" (", 1)[1], []).append(sc)
    return "; ".join(f"{', '.join(scs)} ({rest}" for rest, scs in groups.items())


def claims(profile=None, root=None) -> list[Claim]:
    """Every claim of the study with the verdict our results support, computed from them."""
    data = _book_data(profile, root)
    bench = load_bench(root)
    lv = bench_levels(bench) if bench is not None else None
    out = []
    for n, statement in CLAIMS.items():
        wanted = CLAIM_SCENARIOS[n].split()
        sub = {k: v for k, v in data.items() if k in wanted}
        if n == 1:
            ev = claim1(sub)
        elif n == 2:
            ev = claim2(sub)
        elif n == 3:
            parts = []
            for sc, df in sub.items():
                present = set(df["method"])
                parts.append(matched_comparisons(df, sc, [m for m in ("nestednet", "packnet", "nestednet-me")
                                                          if m in present]))
                if "baseline" in present:
                    parts.append(matched_comparisons(df, sc, ["baseline"], kind="noninferior"))
            parts = [p for p in parts if len(p)]
            ev = pd.concat(parts, ignore_index=True).fillna("—") if parts else pd.DataFrame()
            if len(ev):
                ev = ev[[c for c in ev.columns if c != "verdict"] + ["verdict"]]
        elif n == 4:
            ev = claim4(lv)
        else:
            ev = claim5(sub)
        missing = ([] if n == 4 else [sc for sc in wanted if sc not in data])
        if n == 4:
            sc_text = claim4_scale(ev, load_bench_meta(root)) if len(ev) else (
                "the benchmark has not been run yet" if bench is None else "the benchmark timed no level of J2")
        else:
            sc_text = scale_text({sc: data[sc] for sc in wanted if sc in data}, profile) or "no results yet"
        verdict = (combine(ev["verdict"]) if len(ev) else
                   "not yet measured" if n == 4 else "not tested (no results yet)")
        out.append(Claim(n, statement, verdict, ev, sc_text, missing))
    return out


def claim4_scale(ev: pd.DataFrame, meta: dict | None) -> str:
    """What claim 4 was tested on: the network, the batch sizes, the engine and the machine."""
    meta = meta or {}
    batches = sorted(set(ev["batch"]))
    scenarios = dict.fromkeys(n.split(":")[0] for n in ev["network"])
    return (f"the benchmark's extracted levels of {'; '.join(f'{sc} ({_timed(meta, sc)})' for sc in scenarios)} "
            f"at batch {' and '.join(map(str, batches))}, engine "
            f"{(meta.get('engine') or {}).get('name', '?')}, on {bench_hardware(meta)}, {str(meta.get('date', ''))[:10]}")


def claims_summary(cl: list[Claim] | None = None) -> pd.DataFrame:
    cl = cl if cl is not None else claims()
    return pd.DataFrame([{"claim": c.number, "statement": c.statement, "verdict (our data)": c.verdict,
                          "comparisons": _counts(c.evidence["verdict"]) if len(c.evidence) else "—",
                          "tested at": c.scale} for c in cl])


# --------------------------------------------------------------------------------------------
# Cost (Table 2's analogue)

def reported_cost_all() -> pd.DataFrame:
    """Every cost figure the paper reports (Table 2, Section 4.3), as transcribed."""
    return load_reported_cost().drop(columns=["units_used"])


def table2(lv: pd.DataFrame | None, scenario: str = "J2") -> pd.DataFrame:
    """Table 2 laid out as the paper lays it out (a row per quantity, a column per level l(i)):
    each figure the paper reports for ``scenario`` (Table 2 for J2, Section 4.3 for J1), labelled
    reported, followed by ours from the benchmark's timings (``bench_levels``): parameters,
    density and compression of the networks timed, their MAC ratio, and at every batch size the
    median time per image and the speed-up with its 95% interval."""
    rep = load_reported_cost()
    rep = rep[rep["scenario"] == scenario].set_index("level")
    ours = lv[lv["scenario"] == scenario] if lv is not None else lv
    levels = sorted(set(rep.index) | (set(ours["level"]) if ours is not None else set()))
    batches = sorted(set(ours["batch_size"])) if ours is not None else []
    first = ours[ours["batch_size"] == batches[0]].set_index("level") if batches else None
    rows = []

    def add(quantity, source, fmt, table):
        if table is None:
            return
        rows.append({"quantity": quantity, "source": source,
                     **{f"l({l})": fmt(table.loc[l]) if table is not None and l in table.index else "—"
                        for l in levels}})

    def reported(quantity, column, fmt):
        if column in rep.columns and rep[column].notna().any():
            hw = rep["hardware"].dropna().iloc[0] if quantity.startswith("Inference") else None
            add(quantity, f"reported (paper{', ' + hw if hw else ''})",
                lambda r: "—" if r[column] != r[column] else fmt(r[column]), rep)
    reported("No. parameters", "params_M", lambda v: f"{v:g}M")
    add("No. parameters", "ours", lambda r: f"{r['params'] / 1e6:.2f}M", first)
    reported("Density", "density_pct", lambda v: f"{v:g}%")
    add("Density", "ours", lambda r: f"{100 * r['density']:.1f}%", first)
    reported("Compression rate", "compression_x", lambda v: f"{v:g}x")
    add("Compression rate", "ours", lambda r: f"{1 / r['density']:.1f}x", first)
    add("MAC ratio (full network / level)", "ours", lambda r: f"{r['mac_ratio']:.2f}x", first)
    reported("Inference time (ms per image)", "inference_ms_per_image", lambda v: f"{v:g}")
    for b in batches:
        add("Inference time (ms per image)", f"ours, batch {b}", lambda r: f"{r['ms']:.3f}",
            ours[ours["batch_size"] == b].set_index("level"))
    reported("Practical speed-up", "speedup_x", lambda v: f"{v:g}x")
    for b in batches:
        add("Practical speed-up", f"ours, batch {b} (95%)", lambda r: "1x" if r["top"] else
            fmt_speedup(r["speedup"], r["low"], r["high"]), ours[ours["batch_size"] == b].set_index("level"))
    return pd.DataFrame(rows)


def speedup_figure(lv: pd.DataFrame, scenario: str = "J2", subtitle: str = ""):
    """Speed-up over the full network against the level: ours at every batch size (95% interval),
    the paper's (Table 2) and the MAC ratio, the speed-up the arithmetic alone would give."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator
    d = lv[lv["scenario"] == scenario].sort_values("level")
    levels = sorted(set(d["level"]))
    fig, ax = plt.subplots(figsize=(6.6, 4.4))
    mac = d.drop_duplicates("level")
    ax.plot(mac["level"], mac["mac_ratio"], ":", marker="^", color="0.45", label="MAC ratio (full / level)")
    paper = paper_speedups()
    pl = [l for l in levels if (scenario, l) in paper]
    if pl:
        ax.plot(pl, [paper[(scenario, l)] for l in pl], "--", marker="s", color="k",
                label="reported (paper), TITAN Xp GPU")
    for i, (b, g) in enumerate(d.groupby("batch_size")):
        err = [(g["speedup"] - g["low"]).clip(lower=0).fillna(0), (g["high"] - g["speedup"]).clip(lower=0).fillna(0)]
        ax.errorbar(g["level"] + 0.04 * (i - 0.5), g["speedup"], yerr=err, marker="o", capsize=3, color=f"C{i}",
                    label=f"ours, batch {b} (95% interval)")
    ax.set_yscale("log", base=2)
    top = max(mac["mac_ratio"].max(), d["high"].max() if d["high"].notna().any() else 1, d["speedup"].max())
    ticks = [2 ** k for k in range(0, math.ceil(math.log2(top)) + 1)]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:g}x" for t in ticks])
    ax.set_xticks(levels, [f"l({l})" for l in levels])
    ax.set_xlabel("level (units used)", fontsize=9)
    ax.set_ylabel("speed-up over the full network", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(f"{scenario}: speed-up of each extracted level" + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    fig.tight_layout()
    return fig


def _fmt_target(target: str, v: float) -> str:
    if "MAC ratio" in target:
        return f"{v:.0%} of it"
    if "fraction_of_step" in target:
        return f"{v:.1%}"
    if "speed-up" in target or "speedup" in target:
        return f"{v:.2f}x"
    return f"{v:.2f}"


def targets_table(targets: pd.DataFrame) -> pd.DataFrame:
    """``tables/targets.csv`` as a reader reads it: each target, our figure, met or missed."""
    return pd.DataFrame({"target": targets["target"],
                         "ours": [_fmt_target(t, v) for t, v in zip(targets["target"], targets["value"])],
                         "required": [_fmt_target(t, v) for t, v in zip(targets["target"], targets["threshold"])],
                         "met?": targets["met"].map({True: "met", False: "missed"})})


ENGINE_LABELS = {"plain": "plain", "channels_last": "channels_last", "fuse_bn": "fused BN",
                 "fuse_bn+channels_last": "fused BN + channels_last",
                 "prepacked": "pre-laid-out weights"}


def engines_table(levels: pd.DataFrame, scenario: str, headline: str | None = None) -> pd.DataFrame:
    """``tables/levels.csv`` for one scenario: per batch and engine, every level's median ms per
    image, the full network's time against the plain engine's, and each level's speed-up."""
    d = levels[levels["scenario"] == scenario]
    rows = []
    for (b, e), g in d.groupby(["batch", "engine"], sort=False):
        g = g.set_index("level").sort_index()
        top = g.index.max()
        plain = d[(d["batch"] == b) & (d["engine"] == "plain") & (d["level"] == top)]["ms_per_image"]
        row = {"batch": int(b), "engine": ENGINE_LABELS.get(e, e) + (" (headline)" if e == headline else "")}
        row.update({f"ms/image l({l})" + (" full" if l == top else ""): f"{g.loc[l, 'ms_per_image']:.2f}"
                    for l in g.index})
        row["full network vs plain"] = f"{plain.iloc[0] / g.loc[top, 'ms_per_image']:.2f}x" if len(plain) else "—"
        row.update({f"speed-up l({l})": f"{g.loc[l, 'speedup']:.2f}x" for l in g.index if l != top})
        rows.append(row)
    return pd.DataFrame(rows)


def training_table(training: pd.DataFrame) -> pd.DataFrame:
    """``tables/training.csv``: per setting, the joint step against its ideal and the masked step."""
    return pd.DataFrame({"setting": training["setting"], "joint step ms": training["step_ms"].map("{:.0f}".format),
                         "full step ms": training["full_step_ms"].map("{:.1f}".format),
                         "ideal ms": training["ideal_ms"].map("{:.0f}".format),
                         "ratio to ideal": training["ratio_to_ideal"].map("{:.2f}".format),
                         "masked step ms": training["masked_step_ms"].map("{:.0f}".format),
                         "speed-up vs masked": training["speedup_vs_masked"].map("{:.2f}x".format),
                         "masked MACs / joint MACs": training["masked_mac_ratio"].map("{:.2f}x".format)})


def bench_run_text(meta: dict) -> str:
    """Where, when and how the benchmark ran, from ``bench.json``."""
    hw, v, git = meta.get("hardware") or {}, meta.get("versions") or {}, meta.get("git") or {}
    cpu = str(meta.get("device", "")).startswith("cpu")
    plan = meta.get("plan") or {}
    batches = plan.get("batches") or []
    return (f"`{BENCH_COMMAND}`" + (" `--quick`" if meta.get("quick") else "")
            + f" ran on {str(meta.get('date', '?'))[:16].replace('T', ' ')} UTC at commit "
            f"`{(git.get('commit') or 'unknown')[:10]}`" + (" (dvnlib modified)" if git.get("dvnlib_dirty") else "")
            + f", on {bench_hardware(meta)}, Python {v.get('python', '?')}, in "
            f"{float(meta.get('wall_seconds') or 0) / 60:.1f} minutes; "
            f"{' and '.join(f'{r} rounds at batch {b}' for b, r in zip(batches, plan.get('rounds') or []))}, "
            "every level timed in the same rounds as its full network. "
            + (f"**These are CPU timings on a shared {hw.get('cpu_count', '?')}-core machine**; the paper's are "
               f"GPU timings ({PAPER_HARDWARE.replace(' (', ', ').rstrip(')')}), so its times and ours compare only "
               "as ratios. " if cpu else
               f"The paper's timings are on {PAPER_HARDWARE}. ")
            + f"Headline engine: **{(meta.get('engine') or {}).get('name', '?')}**, the one under which the full "
              "network ran fastest at the largest batch (so that no level's speed-up is flattered by a slow "
              "full network); the others are compared under *What each switch bought*.")


# --------------------------------------------------------------------------------------------
# Reproducibility

def run_records(root=None) -> pd.DataFrame:
    """One row per ``<results>/<scenario>/<profile>/run.json``: what produced it, where, when."""
    root = Path(root or results_dir())
    rows = []
    for f in sorted(root.glob("*/*/run.json")):
        j = json.loads(f.read_text())
        runs = j.get("runs", {})
        seeds = sorted({r["seed"] for rs in runs.values() for r in rs})
        finished = max((r.get("finished", "") for rs in runs.values() for r in rs), default=j.get("finished", ""))
        hw = j.get("hardware", {})
        v = j.get("versions", {})
        git = j.get("git", {})
        commit = (git.get("commit") or "")[:10] + (" (dvnlib modified)" if git.get("dvnlib_dirty") else "")
        # Runs recorded since per-run provenance exists carry their own training commit.
        trained = sorted({r["commit"][:10] for rs in runs.values() for r in rs if r.get("commit")})
        if trained:
            commit = f"trained at {', '.join(trained)}; collected at {commit}"
        rows.append({
            "scenario": j.get("scenario", f.parent.parent.name), "profile": j.get("profile", f.parent.name),
            "methods (seeds)": "; ".join(f"{m} ({', '.join(str(r['seed']) for r in sorted(rs, key=lambda r: r['seed']))})"
                                         for m, rs in runs.items()),
            "seeds": ", ".join(map(str, seeds)), "finished (UTC)": str(finished)[:16].replace("T", " "),
            "device": j.get("device", ""),
            "hardware": f"{hw.get('gpu') or hw.get('cpu', '')}, {hw.get('cpu_count', '?')} cores, "
                        f"{hw.get('torch_threads', '?')} torch threads",
            "python / torch / torchvision": f"{v.get('python')} / {v.get('torch')} / {v.get('torchvision')}",
            "numpy / pandas / dvnlib": f"{v.get('numpy')} / {v.get('pandas')} / {v.get('dvnlib')}",
            "commit": commit or "unknown",
            "train s": round(sum(r.get("train_seconds", 0) for rs in runs.values() for r in rs), 1),
            "wall s": round(sum(r.get("wall_seconds", 0) for rs in runs.values() for r in rs), 1),
        })
    return pd.DataFrame(rows)


def commands_table(profile: str | None = None) -> pd.DataFrame:
    """The command behind each of the book's results (``scripts/quick_study.sh`` runs them all)."""
    profile = profile or book_profile()
    rows = []
    for fam, scs in BOOK_SCENARIOS.items():
        for sc in scs:
            rows.append({"results": f"results/{sc}/{profile}/", "methods": ", ".join(FAMILY_METHODS[fam]),
                         "command (from the repository root)": rerun_command(sc, profile),
                         "in this build": "present" if load_metrics(sc, profile) is not None else "missing"})
    df = load_metrics("FJ1", profile)
    rows.append({"results": f"results/FJ1/{profile}/ (ablations)", "methods": ", ".join(ABLATIONS),
                 "command (from the repository root)": rerun_command("FJ1", profile, ablations=True),
                 "in this build": "present" if df is not None and set(ABLATIONS) <= set(df["method"]) else "missing"})
    rows.append({"results": "results/bench/ (cost page, claim 4)", "methods": "extracted levels of J2 and J1",
                 "command (from the repository root)": BENCH_COMMAND,
                 "in this build": "present" if load_bench() is not None else "missing"})
    return pd.DataFrame(rows)


def bench_record(root=None) -> pd.DataFrame:
    """Where and when the benchmark ran, from ``results/bench/bench.json``."""
    rows = []
    for m in filter(None, [load_bench_meta(root)]):
        hw, v, git = m.get("hardware") or {}, m.get("versions") or {}, m.get("git") or {}
        rows.append({"benchmark": "quick" if m.get("quick") else "full", "date (UTC)": str(m.get("date", ""))[:16],
                     "device": m.get("device", ""), "torch threads": hw.get("torch_threads", ""),
                     "python / torch": f"{v.get('python')} / {v.get('torch')}",
                     "commit": (git.get("commit") or "unknown")[:10] + (" (dvnlib modified)" if git.get("dvnlib_dirty") else ""),
                     "wall s": round(float(m.get("wall_seconds") or 0), 1)})
    return pd.DataFrame(rows)


def study_record(root=None) -> dict | None:
    """``results/quick_study.json``: the whole quick study's wall time, hardware and versions."""
    f = Path(root or results_dir()) / ("quick_study.json" if book_profile() == "quick"
                                       else f"quick_study_{book_profile()}.json")
    return json.loads(f.read_text()) if f.is_file() else None


def status(profile: str | None = None, root=None) -> pd.DataFrame:
    """Which of the book's results are present, with which methods and seeds."""
    profile = profile or book_profile()
    rows = []
    for fam, scs in BOOK_SCENARIOS.items():
        for sc in scs:
            df = load_metrics(sc, profile, root)
            want = FAMILY_METHODS[fam] + (ABLATIONS if sc == "FJ1" else ())  # the study ablates FJ1
            have = sorted(set(df["method"])) if df is not None else []
            rows.append({"scenario": sc, "twin of": S.get(sc).twin_of, "family": fam,
                         "methods present": ", ".join(_order_methods(have, want)) or "—",
                         "methods missing": ", ".join(m for m in want if m not in have) or "—",
                         "seeds": df["seed"].nunique() if df is not None else 0})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Display in a notebook / book page

def _display(obj):
    from IPython.display import display
    display(obj)


def _md(text: str):
    from IPython.display import Markdown
    _display(Markdown(text))


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers as a reader writes them: no trailing zeros, a dash for nothing."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [("—" if v != v else f"{v:g}") for v in out[c]]
        else:
            out[c] = out[c].map(lambda v: "—" if v is None or (isinstance(v, float) and v != v) else v)
    return out


def show_table(df: pd.DataFrame, caption: str, kind: str = "result"):
    """An HTML table with a caption (class ``dvn-table dvn-<kind>`` for the book's test)."""
    sty = (_plain(df).style.hide(axis="index").set_caption(caption)
           .set_table_attributes(f'class="dvn-table dvn-{kind}"'))
    _display(sty)


def show_figure(fig):
    import matplotlib.pyplot as plt
    _display(fig)
    plt.close(fig)


def _missing_note(scenario: str, profile: str, methods=()) -> str:
    abl = bool(methods) and set(methods) <= set(ABLATIONS)
    return (f"**Not yet available:** `results/{scenario}/{profile}/metrics.csv` "
            + ("is missing" if not methods else f"has no rows for {', '.join(methods)}")
            + f". It is produced by `{rerun_command(scenario, profile, ablations=abl)}` (from the repository root;"
              " finished runs are read back, not retrained).")


def show_status():
    prof = book_profile()
    show_table(status(), f"Results the book renders ({prof} profile, from {results_dir()})", "status")


def show_reported(paper_scenario: str):
    t = reported_table(paper_scenario)
    n = PAPER_TABLES.get(paper_scenario)
    tasks = ", ".join(dict.fromkeys(load_reported().query("scenario == @paper_scenario")["task_name"]))
    show_table(t, f"Reported (paper), Table {n}: {paper_scenario} ({tasks}); accuracy %, single runs, "
                  "backbone as in the paper", "reported")


def show_scenario(scenario: str, profile: str | None = None, methods=None, figure: bool = True):
    """A scenario's section: the paper's table (reported) beside ours, then the density figure."""
    profile = profile or book_profile()
    s = S.get(scenario)
    wanted = tuple(methods or FAMILY_METHODS[s.family])
    twin = s.twin_of
    if twin in PAPER_TABLES:
        show_reported(twin)
    elif twin:
        _md(f"The paper reports {twin} only as a plot ({PAPER_FIGURES.get(twin, 'a figure')}); its numbers were "
            "not transcribed, so only ours are tabulated here.")
    df = load_metrics(scenario, profile)
    if df is None:
        _md(_missing_note(scenario, profile))
        return
    shown = [m for m in _order_methods(df["method"], wanted) if m not in ABLATIONS]
    absent = [m for m in wanted if m not in set(df["method"])]
    if absent:
        _md(_missing_note(scenario, profile, absent))
    d = df[df["method"].isin(shown)]
    n_seeds = d["seed"].nunique()
    show_table(ours_table(d, wanted),
               f"Ours: {scenario}, the Fashion-MNIST twin of {twin} ({s.backbone(profile).name}, {profile} profile); "
               f"accuracy % as mean ± 95% interval over {n_seeds} seed{'s' * (n_seeds != 1)}, task-aware")
    if figure:
        show_figure(density_figure(
            d, f"{scenario} (Fashion-MNIST twin of {twin}): test accuracy against parameter density",
            methods=shown, subtitle=f"ours, {s.backbone(profile).name}, {profile} profile; "
                                    f"mean and 95% interval over {n_seeds} seed{'s' * (n_seeds != 1)}"))


def ablation_table(df: pd.DataFrame) -> pd.DataFrame:
    """DVN against each ablation, output by output: the paired difference over seeds."""
    a = aggregate(df)
    rows = []
    for m in ABLATIONS:
        for _, r in a[a["method"] == m].sort_values(["task", "level"]).iterrows():
            t, lvl = int(r["task"]), int(r["level"])
            base = a[(a["method"] == "dvn") & (a["task"] == t) & (a["level"] == lvl)]
            if base.empty:
                continue
            diff, half, _ = mean_ci((_per_seed(df, "dvn", t, lvl) - _per_seed(df, m, t, lvl)).dropna())
            b = base.iloc[0]
            rows.append({"ablation": label(m), "task": f"{t}: {r['task_name']}", "level": lvl,
                         "units (DVN / ablation)": f"{b['units']} / {r['units']}",
                         "DVN %": fmt_ci(b["accuracy"], b["ci95"]), "ablation %": fmt_ci(r["accuracy"], r["ci95"]),
                         "DVN − ablation (points, paired by seed)": fmt_ci(diff, half, sign=True),
                         "DVN better?": verdict_greater(diff, half).replace("holds", "yes")
                         .replace("does not hold", "no, worse").replace("inconclusive", "within the interval")})
    return pd.DataFrame(rows)


def show_ablation(scenario: str, profile: str | None = None, only_if_present: bool = False):
    """DVN against its ablations on one scenario (``only_if_present``: say nothing when absent)."""
    profile = profile or book_profile()
    df = load_metrics(scenario, profile)
    have = set(df["method"]) if df is not None else set()
    present = "dvn" in have and bool(have & set(ABLATIONS))
    if not present:
        if not only_if_present:
            _md(_missing_note(scenario, profile) if df is None else
                _missing_note(scenario, profile, [m for m in ABLATIONS if m not in have]) if "dvn" in have else
                _missing_note(scenario, profile, ["dvn"]))
        return
    if only_if_present:
        _md(f"**{scenario}**")
    absent = [m for m in ABLATIONS if m not in have]
    if absent:
        _md(_missing_note(scenario, profile, absent))
    d = df[df["method"].isin(("dvn", *ABLATIONS))]
    n = d["seed"].nunique()
    show_table(ablation_table(d), f"Ablations on {scenario} ({profile} profile, {n} seed{'s' * (n != 1)}): "
                                  "DVN minus ablation, 95% interval of the paired difference")
    show_figure(density_figure(d, f"{scenario}: DVN and its ablations, test accuracy against parameter density",
                               methods=["dvn", *ABLATIONS],
                               subtitle=f"ours, {profile} profile; mean and 95% interval over {n} seed{'s' * (n != 1)}"))


_CLAIMS_CACHE: dict = {}


def _cached_claims() -> list[Claim]:
    """``claims()`` once per page (the claims page shows the summary and then each claim)."""
    key = (book_profile(), str(results_dir()))
    if key not in _CLAIMS_CACHE:
        _CLAIMS_CACHE[key] = claims()
    return _CLAIMS_CACHE[key]


def show_claims_summary():
    show_table(claims_summary(_cached_claims()), "Claims and the verdicts our results support (computed, not typed)",
               "claims")


def show_claim(n: int):
    c = _cached_claims()[n - 1]
    counts = _counts(c.evidence["verdict"]) if len(c.evidence) else ""
    _md(f"**Verdict: {c.verdict}**" + (f" ({counts})" if counts else "") + f"  \n**Tested at:** {c.scale}"
        + (f"  \n**Margin:** {claim2_margin():.1f} points, the largest loss Table 1 reports" if n == 2 else "")
        + (f"  \n**By batch:** " + "; ".join(
            f"batch {b}: {combine(g['verdict'])} ({_counts(g['verdict'])})" for b, g in c.evidence.groupby("batch"))
           if n == 4 and len(c.evidence) else ""))
    if c.missing:
        _md("Missing results (not counted): " + "; ".join(
            f"{sc}: `{rerun_command(sc)}`" for sc in c.missing))
    if len(c.evidence):
        show_table(c.evidence, f"Claim {c.number}: the comparisons behind the verdict " + (
            "(ours: the full network's median time over the level's, in brackets the 95% interval of the ratio "
            "within a round, from results/bench/inference.csv; paper: Table 2, a TITAN Xp GPU)" if n == 4 else
            "(ours: mean ± 95% interval over seeds; paper: single runs on the original datasets)"), "claim")
    elif n == 4:
        _md(f"**Not yet measured:** no J2 timings in `results/bench/inference.csv` (`{BENCH_COMMAND}`).")


def _not_measured(what: str) -> str:
    return (f"**Not measured:** `results/bench/{what}` is missing. The benchmark writes it: "
            f"`{BENCH_COMMAND}` (from the repository root).")


def show_bench_run():
    meta = load_bench_meta()
    _md(bench_run_text(meta) if meta else _not_measured("bench.json") + " The times on this page are then "
        "the paper's GPU timings only.")


def show_cost():
    """Table 2 for J2 and the Section 4.3 times for J1, reported beside ours, and the figure."""
    bench, meta = load_bench(), load_bench_meta()
    lv = bench_levels(bench) if bench is not None else None
    if lv is None:
        _md(_not_measured("inference.csv"))
    for sc, source in (("J2", "Table 2"), ("J1", "Section 4.3")):
        ours = lv[lv["scenario"] == sc] if lv is not None else None
        timed = ours is not None and len(ours)
        engine = f", engine {ours['engine'].iloc[0]}" if timed else ""
        show_table(table2(lv, sc),
                   f"{source}, {sc}: reported (paper) beside ours ({_timed(meta, sc)}{engine}); level l(i) uses "
                   "i units. Ours: median ms per image; speed-up = the full network's median time over the level's, "
                   "in brackets the 95% interval of the ratio within a round", "cost")
        if lv is not None and not timed:
            _md(f"The benchmark in `results/bench/` timed no level of {sc}.")
        if sc == "J2" and timed:
            show_figure(speedup_figure(lv, sc, f"ours: {_timed(meta, sc)}{engine}, {(meta or {}).get('device', '')}"))


def show_bench_targets():
    t = load_bench_table("targets")
    if t is None:
        _md(_not_measured("tables/targets.csv"))
        return
    show_table(targets_table(t), "The benchmark issue's targets with our figures (results/bench/tables/targets.csv)",
               "targets")
    missed = t[~t["met"].astype(bool)]
    _md(f"**{len(missed)} of {len(t)} targets missed:** " + "; ".join(
        f"{r['target']}: ours {_fmt_target(r['target'], r['value'])}" for _, r in missed.iterrows()) + "."
        if len(missed) else f"**All {len(t)} targets met.**")
    notes = []
    tr = load_bench_table("training")
    if tr is not None:
        r = tr.iloc[0]
        notes.append(f"Training targets: one joint step of {r['scenario']} ({r['network']}, {r['profile']} profile, "
                     f"batch {r['batch']}, setting {r['setting']}), the first row under *What each switch bought*.")
        m = t[t["target"].str.contains("speedup_vs_masked")]
        if len(m) and r["masked_mac_ratio"] < m["threshold"].iloc[0]:
            notes.append(f"A masked step does {r['masked_mac_ratio']:.2f}x the joint step's MACs ({r['passes']} "
                         f"full-width passes against {r['mac_passes']:.2f} full passes' worth), less than the "
                         f"{m['threshold'].iloc[0]:g}x the target asks.")
    d = load_bench_table("data")
    if d is not None:
        r = d.iloc[0]
        notes.append(f"Data target: {r['scenario']} ({r['profile']} profile, {r['tasks']} tasks x batch {r['batch']}), "
                     f"{r['data_ms']:.2f} ms to produce a step's batches against a {r['step_ms']:.0f} ms step.")
    if notes:
        _md(" ".join(notes))


def show_bench_switches():
    lev, meta = load_bench_table("levels"), load_bench_meta() or {}
    if lev is None:
        _md(_not_measured("tables/levels.csv"))
    else:
        sweep = (meta.get("plan") or {}).get("sweep", "J2")
        show_table(engines_table(lev, sweep, (meta.get("engine") or {}).get("name")),
                   f"Inference: every engine on {sweep} ({_timed(meta, sweep)}), all timed in the same rounds "
                   "(results/bench/tables/levels.csv); pre-laid-out weights: fused BN and channels_last with the "
                   "weights packed once in oneDNN's layout and ReLU and the residual add fused into the "
                   "convolutions. Median ms per image; full network vs plain: the plain "
                   "engine's full-network time over this one's; speed-up: the full network's median over the "
                   "level's under the same engine", "switches")
    probe = (meta.get("switches") or {}).get("threads_probe")
    if probe:
        ms = probe["ms"]
        _md(f"Threads (the run's probe, one of {meta.get('plan', {}).get('sweep', 'J2')}'s levels at a small batch): "
            + ", ".join(f"{v:.1f} ms on {n} thread{'s' * (n != '1')}" for n, v in ms.items())
            + f"; the timings above use {probe['threads']} thread{'s' * (probe['threads'] != 1)}"
            + (f", and the engines at {probe['other']} threads are in the table." if probe["other_faster"] else "."))
    tr = load_bench_table("training")
    if tr is None:
        _md(_not_measured("tables/training.csv"))
        return
    r = tr.iloc[0]
    show_table(training_table(tr),
               f"Training: one joint step of {r['scenario']} ({r['network']}, {r['profile']} profile, batch {r['batch']}; "
               f"{r['passes']} passes, {r['mac_passes']:.2f} full passes' worth of MACs) against its ideal (the full "
               f"network's step scaled by those MACs) and against masking; medians of {r['repeats']} rounds "
               "(results/bench/tables/training.csv)", "switches")


def show_reproducibility():
    rec = run_records()
    if rec.empty:
        _md(f"**No runs yet** under `{results_dir()}`: every scenario's command is listed above.")
    else:
        show_table(rec, f"Every run.json under {results_dir()}", "repro")
    bench = bench_record()
    if len(bench):
        show_table(bench, f"The benchmark (results/bench/bench.json), produced by {BENCH_COMMAND}", "repro")
    study = study_record()
    if study:
        hw, v, git = study.get("hardware", {}), study.get("versions", {}), study.get("git", {})
        _md(f"The whole {study.get('profile', '')} study (`scripts/quick_study.sh`, {study.get('runs', '?')} "
            f"method-seed runs) took **{study.get('run_wall_seconds_total', 0) / 60:.0f} minutes** of run time "
            f"({study.get('run_train_seconds_total', 0) / 60:.0f} minutes of it training) on {hw.get('cpu', '?')} "
            f"({hw.get('cpu_count', '?')} cores, {hw.get('torch_threads', '?')} torch threads), torch "
            f"{v.get('torch')}, commit `{(git.get('commit') or '?')[:10]}`.")
