"""The model zoo as the book's deployment page shows it: a summary over seeds, its table and its
figure (accuracy against bytes for every (task, level, precision), the frontier marked), from the
zoo CSV that ``python -m dvnlib zoo`` writes (``dvnlib/zoo.py``)."""
from __future__ import annotations

import pandas as pd

from .. import scenarios as S
from .numbers import interval, num
from .records import current_runs, of_current
from .stats import fmt_ci, mean_ci

INT8_MAX_BYTES_SHARE = 0.35  # an int8 file at most this share of its float32 file's bytes
INT8_MAX_ACCURACY_LOSS = 0.5  # and its accuracy within this many points of float32's (mean over seeds)


def zoo_source(zoo: pd.DataFrame, root=None) -> dict:
    """Whether the zoo's models are the runs the result pages show (``records.is_current_run``; each twin's ``run.json`` read once):
    the models (scenario, profile, seed) that are (``current``) and those that are not
    (``other``), and the commits that wrote the zoo. A zoo whose rows name no configuration was
    written before they did, so none of its models counts as current."""
    config = zoo["config"] if "config" in zoo else pd.Series(None, index=zoo.index, dtype=object)
    models = zoo.assign(config=config).drop_duplicates(["scenario", "profile", "seed"])
    runs = {(sc, prof): current_runs(sc, prof, root=root) for sc, prof in set(zip(models["scenario"], models["profile"]))}
    current, other = [], []
    for r in models.itertuples():
        (current if of_current(runs[(r.scenario, r.profile)], r.seed, r.config) else other).append(
            (r.scenario, r.profile, int(r.seed)))
    return {"current": current, "other": other, "commits": sorted({str(c)[:7] for c in zoo["commit"].dropna()})}


def zoo_source_text(source: dict) -> str:
    """What the deployment page says of its zoo's models: the study's own when every model is of a
    current run; otherwise which are not, and how to rebuild the zoo."""
    n = len(source["current"]) + len(source["other"])
    if not source["other"]:
        return ("These are the models the study's current runs kept (`results/<twin>/<profile>/models/dvn/`, beside "
                "each run's record), so their accuracies are the result pages'.")
    per = {}
    for sc, prof, seed in source["other"]:
        per.setdefault((sc, prof), []).append(seed)
    which = "; ".join(f"{sc} ({prof}) seed{'s' * (len(s) > 1)} {_spans(s)}" for (sc, prof), s in per.items())
    commits = ", ".join(f"`{c}`" for c in source["commits"]) or "an unrecorded commit"
    return (f"**Not the result pages' models:** {len(source['other'])} of the {n} models in this zoo ({which}) are "
            f"not among the runs the result pages show. The zoo was written at commit {commits} from the models "
            "of an earlier study (or with other settings), so its accuracies are those runs', not the result pages'. "
            "`bash scripts/deploy_zoo.sh` rebuilds it from the current runs' models.")


def _spans(seeds) -> str:
    """Seeds as runs of consecutive numbers: 0–4, 7."""
    out, seeds = [], sorted(seeds)
    for s in seeds:
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in out)


def zoo_summary(df):
    """Per (scenario, task, level, precision): parameters, ONNX size, the exported file's test
    accuracy through ONNX Runtime (``onnx_accuracy``: what a byte budget is decided by), its mean
    and 95% interval half-width over seeds (``stats.mean_ci``), the runs' recorded float32
    accuracy (mean over seeds), median batch-1 latency (the median over seeds of each seed's
    median), and whether the file is on its task's frontier (``on_frontier``). Reads a zoo CSV's
    rows; needs no torch."""
    if "precision" not in df:  # a zoo measured before int8 files were: float32 files only
        df = df.assign(precision="float32")
    out = []
    for (sc, prof, t, l, p), g in df.groupby(["scenario", "profile", "task", "level", "precision"], sort=True):
        mean, half, n = mean_ci(g["onnx_accuracy"])
        out.append({"scenario": sc, "profile": prof, "task": int(t), "task_name": g["task_name"].iloc[0],
                    "level": int(l), "precision": p, "units": str(g["units"].iloc[0]),
                    "params": int(g["params"].iloc[0]), "onnx_bytes": int(g["onnx_bytes"].median()),
                    "onnx_kb": float(g["onnx_bytes"].median()) / 1024, "onnx_accuracy": mean, "ci95": half,
                    "accuracy": float(g["accuracy"].mean()), "seeds": n, "latency_ms": float(g["latency_ms"].median())})
    order = {sc: i for i, sc in enumerate(S.SCENARIOS)}  # the registry's order: FJ1 FJ2 FJ3 FH1 FS1
    out = pd.DataFrame(out).sort_values(["scenario", "task", "level", "precision"], key=lambda c: c.map(order)
                                        if c.name == "scenario" else c, kind="stable").reset_index(drop=True)
    out["on_frontier"] = frontier(out)
    return out


def frontier(summary):
    """Per (scenario, task), the files some byte budget picks: more accurate than every smaller
    file of the task (mean accuracy over seeds; of equal sizes, one). The rule of
    ``dvnlib.budget.choose`` (best accuracy within the budget, ties to the smaller file), applied to
    the means."""
    on = pd.Series(False, index=summary.index)
    for _, g in summary.groupby(["scenario", "task"], sort=False):
        best = -float("inf")
        for i, r in g.sort_values(["onnx_bytes", "onnx_accuracy"], ascending=[True, False]).iterrows():
            if r["onnx_accuracy"] > best:
                on[i], best = True, r["onnx_accuracy"]
    return on


def zoo_table(summary):
    """The zoo as the book shows it: one row per (twin, task, level, precision)."""
    return pd.DataFrame({
        "scenario": summary["scenario"], "task": [f"{t}: {n}" for t, n in zip(summary["task"], summary["task_name"])],
        "level": summary["level"], "precision": summary["precision"], "units": summary["units"],
        "parameters": [f"{p:,}" for p in summary["params"]],
        "ONNX file (kB)": [f"{k:.0f}" for k in summary["onnx_kb"]],
        "file's test accuracy % (mean ± 95%)": [fmt_ci(m, h) for m, h in zip(summary["onnx_accuracy"], summary["ci95"])],
        "seeds": summary["seeds"],
        "run's recorded accuracy % (float32)": [f"{a:.1f}" for a in summary["accuracy"]],
        "on the frontier": ["yes" if f else "" for f in summary["on_frontier"]],
        "latency, batch 1 (ms)": [f"{x:.2f}" for x in summary["latency_ms"]]})


MARKERS = {"float32": "o", "int8": "^"}


def zoo_figure(summary):
    """Accuracy against the memory budget (the ONNX file's size) for every (task, level,
    precision), one panel per twin, a colour per task, a marker per precision, 95% intervals over
    seeds as error bars; the frontier (``frontier``: the files a byte budget picks) filled and
    joined by a step line, the files no budget picks hollow."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter
    scenarios = list(dict.fromkeys(summary["scenario"]))
    cols = min(3, len(scenarios))
    rows = -(-len(scenarios) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 5.4 * rows), squeeze=False)  # room for the legends below
    for ax in axes.flat[len(scenarios):]:
        ax.set_visible(False)
    for ax, sc in zip(axes.flat, scenarios):
        d = summary[summary["scenario"] == sc]
        handles = []
        for i, (t, g) in enumerate(d.groupby("task")):
            colour = f"C{i}"
            for _, r in g.iterrows():
                ax.errorbar(r["onnx_kb"], r["onnx_accuracy"], yerr=0 if pd.isna(r["ci95"]) else r["ci95"],
                            marker=MARKERS.get(r["precision"], "s"), color=colour, capsize=2,
                            markerfacecolor=colour if r["on_frontier"] else "white", linestyle="none")
                ax.annotate(f"L{r['level']}", (r["onnx_kb"], r["onnx_accuracy"]), textcoords="offset points",
                            xytext=(4, -10), fontsize=7)
            f = g[g["on_frontier"]].sort_values("onnx_kb")
            ax.step(f["onnx_kb"], f["onnx_accuracy"], where="post", color=colour, alpha=0.6)
            handles.append(Line2D([], [], color=colour, label=f"task {t}: {g['task_name'].iloc[0]}"))
        for p in dict.fromkeys(d["precision"]):
            handles.append(Line2D([], [], color="grey", marker=MARKERS.get(p, "s"), linestyle="none", label=p))
        handles.append(Line2D([], [], color="grey", marker="o", markerfacecolor="white", linestyle="none",
                              label="off the frontier"))
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{sc} ({d['profile'].iloc[0]} profile)", fontsize=10)
        ax.set_xlabel("memory budget: ONNX file (kB)")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
        # off the data: under the panel, where no point can sit
        ax.legend(handles=handles, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncol=1)
    seeds = sorted(set(summary["seeds"]))
    fig.suptitle("Model zoo: test accuracy of each exported level (L1, L2, ...) against its ONNX file size; mean and "
                 f"95% interval over {' or '.join(map(str, seeds))} seed{'s' * (seeds != [1])}", fontsize=9)
    fig.tight_layout()
    return fig


def recorded_decimals(values) -> int:
    """How many decimals a column of recorded accuracies carries (the runs round what they write)."""
    return max((len(f"{float(v):.6f}".rstrip("0").split(".")[1]) for v in values if v == v), default=0)


def export_agreement(zoo: pd.DataFrame) -> str:
    """How closely the exported files' ONNX Runtime accuracies reproduce the runs' recorded ones:
    a difference within half the last digit of the coarser of the two columns is that rounding,
    not a difference."""
    gap = (zoo["onnx_accuracy"] - zoo["accuracy"]).abs()
    d = min(recorded_decimals(zoo["accuracy"]), recorded_decimals(zoo["onnx_accuracy"]))
    rounding = 0.5 * 10 ** -d
    beyond = int((gap > rounding + 1e-9).sum())
    return (f"over {len(zoo)} (model, task, level) files, the largest difference between the ONNX Runtime accuracy "
            f"from raw pixels and the run's recorded accuracy is {gap.max():.1g} points, within the "
            f"rounding of the recorded accuracies to {d} decimals (±{rounding:g}); {beyond} file{'s' * (beyond != 1)} "
            f"differ{'s' * (beyond == 1)} by more than that")


def int8_check(zoo: pd.DataFrame) -> pd.DataFrame:
    """int8 against float32 at the top level of every task of every twin, the deployment targets
    (``INT8_MAX_BYTES_SHARE``, ``INT8_MAX_ACCURACY_LOSS``): the int8 file's bytes as a share of
    the float32 file's (the largest over seeds), and int8 minus float32 accuracy of the exported
    files on the whole test split, paired by seed (mean over seeds, 95% t interval). A target is
    met when the largest share is within its bound, and when the mean difference is within the
    accuracy bound either way; the interval says how sure that is. Empty without int8 rows."""
    cols = ["scenario", "profile", "task", "task_name", "level", "seeds", "float32_bytes", "int8_bytes",
            "bytes_share", "difference", "ci95", "bytes_met", "accuracy_met"]
    if "precision" not in zoo or not (zoo["precision"] == "int8").any():
        return pd.DataFrame(columns=cols)
    rows = []
    for (sc, prof, t), g in zoo.groupby(["scenario", "profile", "task"], sort=False):
        top = g[g["level"] == g["level"].max()]
        f32 = top[top["precision"] == "float32"].set_index("seed")
        i8 = top[top["precision"] == "int8"].set_index("seed")
        seeds = f32.index.intersection(i8.index)
        if seeds.empty:
            continue
        share = (i8.loc[seeds, "onnx_bytes"] / f32.loc[seeds, "onnx_bytes"]).astype(float)
        diff = mean_ci(i8.loc[seeds, "onnx_accuracy"].astype(float) - f32.loc[seeds, "onnx_accuracy"].astype(float))
        rows.append({"scenario": sc, "profile": prof, "task": int(t), "task_name": g["task_name"].iloc[0],
                     "level": int(top["level"].iloc[0]), "seeds": len(seeds),
                     "float32_bytes": float(f32.loc[seeds, "onnx_bytes"].median()),
                     "int8_bytes": float(i8.loc[seeds, "onnx_bytes"].median()), "bytes_share": float(share.max()),
                     "difference": diff.mean, "ci95": diff.half,
                     "bytes_met": bool(share.max() <= INT8_MAX_BYTES_SHARE),
                     "accuracy_met": bool(abs(diff.mean) <= INT8_MAX_ACCURACY_LOSS)})
    order = {sc: i for i, sc in enumerate(S.SCENARIOS)}
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["scenario", "task"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable").reset_index(drop=True)


def int8_table(check: pd.DataFrame) -> pd.DataFrame:
    """``int8_check`` as the deployment page shows it."""
    def met(ok: bool) -> str:
        return "met" if ok else "missed"
    return pd.DataFrame({
        "scenario": check["scenario"], "task": [f"{t}: {n}" for t, n in zip(check["task"], check["task_name"])],
        "top level": check["level"], "seeds": check["seeds"],
        "float32 file (kB)": [f"{b / 1024:.0f}" for b in check["float32_bytes"]],
        "int8 file (kB)": [f"{b / 1024:.0f}" for b in check["int8_bytes"]],
        f"int8 / float32 bytes (largest over seeds; target ≤ {INT8_MAX_BYTES_SHARE:.0%})":
            [f"{s:.1%} ({met(ok)})" for s, ok in zip(check["bytes_share"], check["bytes_met"])],
        f"int8 − float32 accuracy, points (mean, 95% t; target within ±{INT8_MAX_ACCURACY_LOSS})":
            [f"{num(d, signed=True)} {interval(d - h, d + h, signed=True) if h == h else ''} ({met(ok)})"
             for d, h, ok in zip(check["difference"], check["ci95"], check["accuracy_met"])]})
