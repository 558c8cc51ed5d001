"""Tables and figures from result CSVs: what the notebooks display and the book renders.

Everything here reads ``metrics.csv`` rows (``results.COLUMNS``); nothing trains."""
from __future__ import annotations

import math

import pandas as pd

KEYS = ["method", "task", "task_name", "level", "units"]


def t_quantile_975(dof: int) -> float:
    """Two-sided 95% Student-t quantile (no SciPy needed): a table for small samples."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
             9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}
    if dof <= 0:
        return math.nan
    for d in sorted(table):
        if dof <= d:
            return table[d]
    return 1.96


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
    fmt = [f"{m:.1f} ± {c:.1f}" if c == c else f"{m:.1f}" for m, c in zip(a["accuracy"], a["ci95"])]
    return pd.DataFrame({"method": a["method"], "task": a["task_name"], "level": a["level"], "units": a["units"],
                         "params": a["params"], "density %": (100 * a["density"]).round(1),
                         "accuracy %": fmt, "seeds": a["seeds"]})


def density_figure(df: pd.DataFrame, title: str | None = None):
    """Accuracy against parameter density for each task: DVN's levels as a curve, other methods
    as points, 95% intervals as error bars (the manner of the paper's Figures 4-6)."""
    import matplotlib.pyplot as plt
    a = aggregate(df)
    tasks = list(dict.fromkeys(zip(a["task"], a["task_name"])))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    methods = list(dict.fromkeys(a["method"]))
    colors = {m: f"C{i}" for i, m in enumerate(methods)}
    for ax, (t, name) in zip(axes[0], tasks):
        for m in methods:
            d = a[(a["task"] == t) & (a["method"] == m)].sort_values("density")
            if d.empty:
                continue
            style = "-o" if m.startswith("dvn") and len(d) > 1 else "o"
            ax.errorbar(100 * d["density"], d["accuracy"], yerr=d["ci95"].fillna(0), fmt=style,
                        color=colors[m], label=m, capsize=3, markersize=5)
        ax.set_title(f"task {t}: {name}")
        ax.set_xlabel("parameter density (%)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
