"""The model zoo as the book's deployment page shows it: a summary over seeds, its table and its
figure, from the zoo CSV that ``python -m dvnlib zoo`` writes (``dvnlib/zoo.py``)."""
from __future__ import annotations

import pandas as pd

from .. import scenarios as S
from .stats import fmt_ci, mean_ci


def zoo_summary(df):
    """Per (scenario, task, level): parameters, ONNX size, test accuracy mean and 95% interval
    half-width over seeds (``stats.mean_ci``), median batch-1 latency (the median over seeds of
    each seed's median). Reads a zoo CSV's rows; needs no torch."""
    out = []
    for (sc, prof, t, l), g in df.groupby(["scenario", "profile", "task", "level"], sort=True):
        mean, half, n = mean_ci(g["accuracy"])
        out.append({"scenario": sc, "profile": prof, "task": int(t), "task_name": g["task_name"].iloc[0],
                    "level": int(l), "units": str(g["units"].iloc[0]), "params": int(g["params"].iloc[0]),
                    "onnx_kb": float(g["onnx_bytes"].median()) / 1024, "accuracy": mean, "ci95": half,
                    "onnx_accuracy": float(g["onnx_accuracy"].mean()), "seeds": n,
                    "latency_ms": float(g["latency_ms"].median())})
    order = {sc: i for i, sc in enumerate(S.SCENARIOS)}  # the registry's order: FJ1 FJ2 FJ3 FH1 FS1
    return pd.DataFrame(out).sort_values(["scenario", "task", "level"], key=lambda c: c.map(order)
                                         if c.name == "scenario" else c, kind="stable").reset_index(drop=True)


def zoo_table(summary):
    """The zoo as the book shows it: one row per (twin, task, level)."""
    return pd.DataFrame({
        "scenario": summary["scenario"], "task": [f"{t}: {n}" for t, n in zip(summary["task"], summary["task_name"])],
        "level": summary["level"], "units": summary["units"], "parameters": [f"{p:,}" for p in summary["params"]],
        "ONNX file (kB)": [f"{k:.0f}" for k in summary["onnx_kb"]],
        "test accuracy % (mean ± 95%)": [fmt_ci(m, h) for m, h in zip(summary["accuracy"], summary["ci95"])],
        "seeds": summary["seeds"],
        "ONNX Runtime accuracy %": [f"{a:.1f}" for a in summary["onnx_accuracy"]],
        "latency, batch 1 (ms)": [f"{x:.2f}" for x in summary["latency_ms"]]})


def zoo_figure(summary):
    """Accuracy against the memory budget (the ONNX file's size), one panel per twin, a line per
    task through its levels, 95% intervals over seeds as error bars."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter
    scenarios = list(dict.fromkeys(summary["scenario"]))
    cols = min(3, len(scenarios))
    rows = -(-len(scenarios) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(scenarios):]:
        ax.set_visible(False)
    for ax, sc in zip(axes.flat, scenarios):
        d = summary[summary["scenario"] == sc]
        for t, g in d.groupby("task"):
            g = g.sort_values("level")
            ax.errorbar(g["onnx_kb"], g["accuracy"], yerr=g["ci95"].fillna(0), marker="o", capsize=3,
                        label=f"task {t}: {g['task_name'].iloc[0]}")
            for _, r in g.iterrows():
                ax.annotate(f"L{r['level']}", (r["onnx_kb"], r["accuracy"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
        ax.set_xscale("log")
        ax.set_xticks(sorted(set(d["onnx_kb"].round(-1))))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{sc} ({d['profile'].iloc[0]} profile)", fontsize=10)
        ax.set_xlabel("memory budget: ONNX file (kB)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
