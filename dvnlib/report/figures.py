"""Figures for the notebooks and the book: accuracy against density (the manner of the paper's
Figures 4-6), the unit orders of eq. 3, the benchmark's speed-ups, and the learning curves.
matplotlib is imported inside each function, so that reading results never needs it."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import units as U
from .cost import engine_label
from .paper import paper_speedups
from .sources import label, order_methods
from .numbers import num
from .stats import aggregate
from .tables import curve_means

# One colour and one marker per method, on every page (the colour-blind-safe tab10 palette in a
# fixed order, so that a method never changes colour with the set of methods a figure shows).
METHOD_STYLE: dict[str, tuple[str, str]] = {
    "dvn": ("#1f77b4", "o"), "baseline": ("#ff7f0e", "s"), "nestednet": ("#2ca02c", "D"),
    "packnet": ("#d62728", "^"), "feature_extraction": ("#9467bd", "v"), "lwf": ("#8c564b", "P"),
    "dacnn": ("#e377c2", "X"), "nestednet-me": ("#17becf", "d"), "baseline-full": ("#bcbd22", "*"),
    "dvn-shared-bn": ("#7f7f7f", "x"), "dvn-shared-affine": ("#393b79", "p"), "dvn-prefix": ("#637939", "<"),
    "dvn-random-expansion": ("#843c39", ">"), "lwf-no-head-stage": ("#7b4173", "h"),
}
PAPER_STYLE = ("black", "s")  # the paper's own numbers, wherever a figure shows them


def style(method: str) -> tuple[str, str]:
    """A method's (colour, marker); a method with none gets grey dots."""
    return METHOD_STYLE.get(method, ("#555555", "."))


def method_of(name: str) -> str:
    """The method behind a label (the figures that only see labels, like the peers' names)."""
    return next((m for m in METHOD_STYLE if label(m) == name), name)


def _legend_below(fig, axes, used: int, ncol: int, fontsize: int = 8, base: float = 0.3, per_row: float = 0.2,
                  **kw) -> None:
    """Blank the panels past the first ``used``, gather every panel's legend entries once each into
    one legend under the panels (``ncol`` columns; matplotlib uses no more columns than entries),
    and lay the figure out leaving room for it (``base`` + ``per_row`` inches per legend row)."""
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=fontsize, frameon=False, **kw)
    fig.tight_layout(rect=(0, (base + per_row * math.ceil(len(labels) / ncol)) / fig.get_figheight(), 1, 1))


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
    order = order_methods(a["method"], methods or ())
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
            colour, marker = style(m)
            ax.errorbar(100 * d["density"] + dx, d["accuracy"], yerr=yerr, marker=marker,
                        linestyle=("--" if m != "dvn" else "-") if curve else "none",
                        color=colour, label=label(m) + (" (levels)" if curve else ""),
                        capsize=3, markersize=5, linewidth=1.6 if m == "dvn" else 1.1,
                        zorder=3 if m == "dvn" else 2)  # DVN on top: the figure is about it
        ax.set_title(f"task {t}: {name}", fontsize=10)
        ax.set_xlabel("parameter density (% of the task's full network)", fontsize=9)
        ax.set_ylabel("test accuracy (%, task-aware)", fontsize=9)
        ax.set_xlim(0, max(105, 100 * a["density"].max() + 5))
        lo, hi = ax.get_ylim()
        ax.set_ylim(max(lo, 0), min(hi, 100.5))
        ax.grid(alpha=0.3)
    head = title or ""
    if subtitle:
        head = f"{head}\n{subtitle}" if head else subtitle
    if len(points) > 1:
        head += "; points at one density are drawn slightly apart"
    if head:
        fig.suptitle(head, fontsize=10)
    _legend_below(fig, axes, len(tasks), ncol=3, fontsize=9, base=0.35, per_row=0.25)
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


def speedup_figure(lv: pd.DataFrame, scenario: str = "J2", subtitle: str = ""):
    """Speed-up over the full network against the level: ours at every batch size (95% interval),
    the paper's (Table 2) and the MAC ratio, the speed-up the arithmetic alone would give."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator
    d = lv[lv["scenario"] == scenario].sort_values("level")
    levels = sorted(set(d["level"]))
    fig, ax = plt.subplots(figsize=(6.6, 5.8))
    mac = d.drop_duplicates("level")
    ax.plot(mac["level"], mac["mac_ratio"], ":", marker="^", color="0.45", label="MAC ratio (full / level)")
    paper = paper_speedups()
    pl = [l for l in levels if (scenario, l) in paper]
    if pl:
        ax.plot(pl, [paper[(scenario, l)] for l in pl], "--", marker=PAPER_STYLE[1], color=PAPER_STYLE[0],
                label="reported (paper), TITAN Xp GPU")
    engines = list(dict.fromkeys(d["engine"]))
    for i, ((e, b), g) in enumerate(d.groupby(["engine", "batch_size"], sort=False)):
        err = [(g["speedup"] - g["low"]).clip(lower=0).fillna(0), (g["high"] - g["speedup"]).clip(lower=0).fillna(0)]
        ax.errorbar(g["level"] + 0.04 * (i - 0.5), g["speedup"], yerr=err, marker="o", capsize=3, color=f"C{i}",
                    linestyle="-" if e == engines[0] else "-.",
                    label=f"ours, batch {b}" + (f", {engine_label(e)}" if len(engines) > 1 else "") + " (95% interval)")
    ax.set_yscale("log", base=2)
    top = max(mac["mac_ratio"].max(), d["high"].max() if d["high"].notna().any() else 1, d["speedup"].max())
    ticks = [2 ** k for k in range(0, math.ceil(math.log2(top)) + 1)]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_yticklabels([f"{t:g}x" for t in ticks])
    ax.set_ylim(0.8, ticks[-1] * 1.3)  # headroom: no point or interval touches the frame
    ax.set_xticks(levels, [f"l({l})" for l in levels])
    ax.set_xlabel("level (units used)", fontsize=9)
    ax.set_ylabel("speed-up over the full network", fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_title(f"{scenario}: speed-up of each extracted level" + (f"\n{subtitle}" if subtitle else ""), fontsize=9)
    _legend_below(fig, np.array([ax]), 1, ncol=1)  # off the data
    return fig


def curves_figure(curves: pd.DataFrame, scenario: str, subtitle: str = ""):
    """One twin's learning curves: per task, test accuracy (solid, 95% band over seeds) and train
    accuracy (dashed) of each method's lowest and highest level, against SGD steps (log scale).
    Where the dashed line stays far above the solid one the network over-fits; where both are low
    and close it is under-trained."""
    import matplotlib.pyplot as plt
    m = curve_means(curves[curves["scenario"] == scenario])
    tasks = sorted(m["task"].unique())
    ncol = min(len(tasks), 2)
    nrow = math.ceil(len(tasks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.3 * nrow + 0.9), squeeze=False)
    methods = order_methods(m["method"], ("dvn", "baseline"))
    for ax, t in zip(axes.flat, tasks):
        for i, meth in enumerate(methods):
            d = m[(m["task"] == t) & (m["method"] == meth)]
            levels = sorted(d["level"].unique())
            for j, lvl in enumerate(dict.fromkeys((levels[0], levels[-1])) if levels else ()):
                g = d[d["level"] == lvl].sort_values("steps")
                colour, marker = style(meth)
                kw = dict(color=colour, alpha=1.0 if j else 0.55, marker=marker, markersize=3.5 if j else 2.5)
                name = f"{label(meth)}, level {int(lvl)}"
                ax.plot(g["steps"], g["accuracy"], "-", label=f"{name}: test", **kw)
                ax.fill_between(g["steps"], g["accuracy"] - g["ci95"].fillna(0), g["accuracy"] + g["ci95"].fillna(0),
                                color=colour, alpha=0.12, linewidth=0)
                ax.plot(g["steps"], g["train_accuracy"], "--", label=f"{name}: train", **kw)
        ax.set_xscale("log", base=2)
        ax.set_title(f"task {int(t)}", fontsize=10)
        ax.set_xlabel("SGD steps (log scale)", fontsize=9)
        ax.set_ylabel("accuracy (%)", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{scenario}: learning curves, test (solid) and train (dashed)" + (f"\n{subtitle}" if subtitle else ""),
                 fontsize=10)
    _legend_below(fig, axes, len(tasks), ncol=2)
    return fig


def convergence_figure(data: dict[str, pd.DataFrame], subtitle: str = ""):
    """Train against test accuracy of every output of every run, a panel per scenario, a colour
    per method: points on the diagonal generalise perfectly, points far above it over-fit."""
    import matplotlib.pyplot as plt
    data = {sc: df for sc, df in data.items() if "train_accuracy" in df.columns and df["train_accuracy"].notna().any()}
    if not data:
        raise ValueError("no results with train_accuracy to draw")
    ncol = min(len(data), 3)
    nrow = math.ceil(len(data) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.4 * nrow + 0.9), squeeze=False)
    methods = order_methods(set().union(*(df["method"] for df in data.values())))
    for ax, (sc, df) in zip(axes.flat, data.items()):
        lo = min(df["accuracy"].min(), df["train_accuracy"].min()) - 1
        hi = max(df["accuracy"].max(), df["train_accuracy"].max()) + 1
        ax.plot([lo, hi], [lo, hi], color="0.6", linewidth=0.8)
        for i, m in enumerate(methods):
            d = df[df["method"] == m]
            if len(d):
                colour, marker = style(m)
                ax.scatter(d["accuracy"], d["train_accuracy"], s=9, alpha=0.6, color=colour, marker=marker, label=label(m))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_title(sc, fontsize=10)
        ax.set_xlabel("test accuracy (%)", fontsize=9)
        ax.set_ylabel("train accuracy (%)", fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle("At the training budget: train against test accuracy of every output and seed" + (f"\n{subtitle}" if subtitle else ""),
                 fontsize=10)
    _legend_below(fig, axes, len(data), ncol=4, markerscale=2)
    return fig


def capacity_figure(diffs: pd.DataFrame, subtitle: str = ""):
    """DVN minus each peer against capacity (``claims.peer_differences``): a panel per twin, the
    capacities on the x axis, every comparison a point with its interval, coloured by peer."""
    import matplotlib.pyplot as plt
    twins = sorted(dict.fromkeys(diffs["twin"]))
    caps = [c for c in ("standard", "narrow") if c in set(diffs["capacity"])]
    peers = list(dict.fromkeys(diffs["versus"]))
    fig, axes = plt.subplots(1, len(twins), figsize=(3.4 * len(twins) + 0.6, 3.6), squeeze=False)
    for ax, tw in zip(axes.flat, twins):
        d = diffs[diffs["twin"] == tw]
        for i, peer in enumerate(peers):
            e = d[d["versus"] == peer]
            for j, cap in enumerate(caps):
                g = e[e["capacity"] == cap]
                if g.empty:
                    continue
                # peers side by side around the capacity, a peer's comparisons spread a little
                x = [j + (i - (len(peers) - 1) / 2) * 0.2 + (k - (len(g) - 1) / 2) * 0.02 for k in range(len(g))]
                ax.errorbar(x, g["difference"], yerr=[g["difference"] - g["low"], g["high"] - g["difference"]],
                            fmt=style(method_of(peer))[1], ms=3, lw=0.8, capsize=2, color=style(method_of(peer))[0],
                            label=f"DVN − {peer}")
        ax.axhline(0, color="0.4", lw=0.8)
        for j, cap in enumerate(caps):  # a capacity the study does not run this twin at (FJ3: narrow)
            if d[d["capacity"] == cap].empty:
                ax.text(j, 0.5, "not run at\nthis capacity", transform=ax.get_xaxis_transform(), ha="center",
                        va="center", fontsize=8, color="0.45")
        ax.set_xticks(range(len(caps)), [f"{c} capacity" for c in caps], fontsize=9)
        ax.set_xlim(-0.6, len(caps) - 0.4)
        ax.set_title(tw, fontsize=10)
        ax.set_ylabel("DVN − other (points)", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("DVN minus each peer at matched density, against capacity" + (f"\n{subtitle}" if subtitle else ""),
                 fontsize=10)
    _legend_below(fig, axes, len(twins), ncol=min(4, len(peers)))
    return fig


def forest_figure(comparisons, title: str = "", xlabel: str = "DVN − other (points)", reference: float = 0.0):
    """Every made comparison of a claim as a row, one panel per capacity: DVN − other (the point),
    its wider 95% interval (the bar) and the boundary it is tested against (the black tick: 0 for
    "beats", minus the margin for "matches"). Colour: the other method's; marker: filled when
    supported, open when not distinguishable, a cross when contradicted; faded: shown, not counted.
    The axis spans the counted comparisons (``forest_limits``), so that one wide interval, such as
    the negative control's, does not flatten the rest: a bar that runs past it is cut at the edge
    and ends in an arrow. ``xlabel`` and ``reference`` (the grey line: no difference) for claims
    that are not differences in points (claim 4's speed-ups: ``x``, 1)."""
    import matplotlib.pyplot as plt
    rows = [c for c in comparisons if c.made]
    caps = list(dict.fromkeys(c.capacity for c in rows))
    per = {cap: [c for c in rows if c.capacity == cap] for cap in caps}
    lo, hi = forest_limits(rows, reference=reference)
    counted_claims = {c.claim for c in rows if c.counted}

    def name(c) -> str:  # the part (3a, 3b ...) or "control" only where it tells rows apart
        part = f"{c.claim} " if len(counted_claims) > 1 or c.claim not in counted_claims else ""
        engine = f", {c.columns['engine']}" if "engine" in c.columns else ""  # claim 4: which engine timed it
        return part + f"{c.twin.split(' (')[0]}: {c.what}{engine}" + ("" if c.counted else " (not counted)")
    fig, axes = plt.subplots(len(caps), 1, figsize=(9.5, 1.2 * len(caps) + 0.2 * len(rows)), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [len(per[cap]) + 1 for cap in caps]})
    for ax, cap in zip(axes[:, 0], caps):
        these = list(reversed(per[cap]))
        for y, c in enumerate(these):
            low, high, _ = c.diff.wider
            colour = style(method_of(c.versus))[0] if c.versus else style("baseline")[0]
            alpha = 1 if c.counted else 0.5
            ax.plot([max(low, lo), min(high, hi)], [y, y], color=colour, lw=1.2, alpha=alpha)
            for edge, cut, arrow in ((lo, low < lo, "<"), (hi, high > hi, ">")):
                if cut:
                    ax.plot([edge], [y], marker=arrow, ms=5, color=colour, alpha=alpha, linestyle="none")
            if lo <= c.diff.mean <= hi:
                ax.plot([c.diff.mean], [y], marker="X" if c.verdict == "contradicted" else "o", ms=5, color=colour,
                        markerfacecolor=colour if c.verdict == "supported" else "white", linestyle="none",
                        alpha=alpha)
            else:  # the estimate itself is off the axis: its value, written at the edge it lies past
                left = c.diff.mean < lo
                ax.annotate(f"{c.diff.mean:+.1f}" + (", contradicted" if c.verdict == "contradicted" else ""),
                            (lo if left else hi, y), xytext=(8 if left else -8, 2),
                            textcoords="offset points", ha="left" if left else "right", va="bottom", fontsize=6,
                            color=colour)
            ax.plot([c.diff.boundary], [y], marker="|", ms=9, mew=1.6, color="black", linestyle="none")
        ax.axvline(reference, color="0.5", lw=0.8)
        ax.set_yticks(range(len(these)), [name(c) for c in these], fontsize=7)
        ax.set_ylim(-0.8, len(these) - 0.2)
        ax.set_xlim(lo, hi)
        ax.set_title(("" if cap == "—" else f"{cap} capacity ") + f"({len(these)} comparisons)", fontsize=8, loc="left")
        ax.grid(alpha=0.3, axis="x")
    axes[-1, 0].set_xlabel(f"{xlabel}. Black tick: the boundary tested against. Arrow: the interval runs past the "
                           "axis (a number: the estimate does too)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def forest_limits(rows, pad: float = 0.1, reference: float = 0.0) -> tuple[float, float]:
    """The forest plot's axis: every counted comparison's interval, boundary and ``reference``, with a
    margin of ``pad`` of the span, never wider than a difference of accuracies can be (±100
    points). Without counted rows, every row's."""
    use = [c for c in rows if c.counted] or rows
    ends = [reference] + [x for c in use for x in (c.diff.wider[0], c.diff.wider[1], c.diff.boundary)]
    ends = [x for x in ends if x == x]
    lo, hi = min(ends), max(ends)
    span = max(hi - lo, 1.0)
    return max(lo - pad * span, -100.0), min(hi + pad * span, 100.0)


def density_svg(df: pd.DataFrame, methods=None, width: int = 640, panel_height: int = 230) -> str:
    """The accuracy-density figure as plain SVG with a tooltip on every point (its <title>: method,
    task, level, density, mean, 95% interval, seeds): interactive in any browser, with no script
    and no network. One panel per task, stacked; the colours and markers are ``METHOD_STYLE``'s."""
    import html
    a = aggregate(df)
    if methods is not None:
        a = a[a["method"].isin(methods)]
    order = order_methods(a["method"], methods or ())
    tasks = list(dict.fromkeys(zip(a["task"], a["task_name"])))
    left, right, top, bottom = 56, 16, 22, 34
    inner_w = width - left - right
    legend_h = 18 * math.ceil(len(order) / 3) + 8
    height = len(tasks) * panel_height + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" font-family="sans-serif" font-size="11" role="img">']
    for p, (t, name) in enumerate(tasks):
        d = a[a["task"] == t]
        y0 = p * panel_height + top
        inner_h = panel_height - top - bottom
        lo = max(0.0, math.floor(min(d["accuracy"] - d["ci95"].fillna(0)) - 1))
        hi = min(100.0, math.ceil(max(d["accuracy"] + d["ci95"].fillna(0)) + 1))
        hi = hi if hi > lo else lo + 1

        def x(dens):
            return left + inner_w * min(float(dens), 1.05) / 1.05

        def y(acc):
            return y0 + inner_h * (1 - (float(acc) - lo) / (hi - lo))
        out.append(f'<text x="{left}" y="{y0 - 6}" font-weight="bold">task {t}: {html.escape(str(name))}</text>')
        out.append(f'<rect x="{left}" y="{y0}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#999"/>')
        for v in (lo, (lo + hi) / 2, hi):
            out.append(f'<text x="{left - 4}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
        for dens in (0.25, 0.5, 0.75, 1.0):
            out.append(f'<text x="{x(dens):.1f}" y="{y0 + inner_h + 14}" text-anchor="middle">{dens:.0%}</text>')
        out.append(f'<text x="{left + inner_w / 2}" y="{y0 + inner_h + 28}" text-anchor="middle">parameter density '
                   f'(% of the task\'s full network); test accuracy (%)</text>')
        for m in order:
            g = d[d["method"] == m].sort_values("density")
            colour, _ = style(m)
            if m.startswith("dvn") and len(g) > 1:
                pts = " ".join(f"{x(r.density):.1f},{y(r.accuracy):.1f}" for r in g.itertuples())
                out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5"/>')
            for r in g.itertuples():
                half = r.ci95 if r.ci95 == r.ci95 else 0.0
                tip = (f"{label(m)}, task {t}, level {int(r.level)}: density {100 * r.density:.1f}%, mean "
                       f"{num(r.accuracy)}%, 95% interval [{num(r.accuracy - half)}, {num(r.accuracy + half)}], "
                       f"{int(r.seeds)} seed{'s' * (int(r.seeds) != 1)}")
                out.append(f'<g class="dvn-point"><title>{html.escape(tip)}</title>'
                           f'<line x1="{x(r.density):.1f}" x2="{x(r.density):.1f}" y1="{y(r.accuracy - half):.1f}" '
                           f'y2="{y(r.accuracy + half):.1f}" stroke="{colour}"/>'
                           f'<circle cx="{x(r.density):.1f}" cy="{y(r.accuracy):.1f}" r="4.5" fill="{colour}"/></g>')
    for i, m in enumerate(order):
        lx, ly = left + (i % 3) * (inner_w / 3), len(tasks) * panel_height + 14 + 18 * (i // 3)
        out.append(f'<circle cx="{lx + 5}" cy="{ly - 4}" r="4.5" fill="{style(m)[0]}"/>'
                   f'<text x="{lx + 14}" y="{ly}">{html.escape(label(m))}</text>')
    out.append("</svg>")
    return "".join(out)
