"""The verdict logic: each claim of the paper, tested against our results.

A comparison's verdict comes from the 95% interval of a difference (``stats``), paired by seed:

* **holds**: the interval lies on the claim's side of its boundary;
* **does not hold**: it lies on the other side;
* **inconclusive**: it contains the boundary (or one seed: no interval);
* **anomaly**: the result contradicts the premise of the comparison rather than the claim
  (claim 2: all units worse than one unit beyond the interval, a level inversion). It is never
  counted as a pass.

A claim made for every case holds when every comparison holds; one comparison that does not hold
refutes it; an anomaly, with none refuting, makes the claim anomalous; otherwise inconclusive.
Every comparison also states ``detectable``: the smallest true difference the study would have
found with 80% power (``stats.mdd``).

Margins, all in accuracy points and all stated on the claims page:

* claim 1 ("working classifiers"): each DVN output at most ``claim1_margin()`` below the
  independent baseline of the same architecture and density (the baseline's rows copy DVN's
  levels), and above chance. The margin is the largest loss the paper itself reports between a
  stand-alone unit and all units (Table 1, 2.3 points): a classifier that gives up no more than
  the loss the paper calls "little" against the network one would otherwise train for it works;
* claim 2 ("loses little"): the same margin, from one unit to all units;
* claim 3 ("matches the baselines"): ``MATCH_MARGIN``, 1 point: a match is tighter than "working".
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from .. import scenarios as S
from .. import units as U
from .cost import bench_hardware, bench_levels, fmt_speedup, timed
from .paper import MATCH_TOLERANCE, fmt_paper, loss_margin, paper_speedups, paper_value
from .sources import (ABLATIONS, FAMILY_METHODS, book_data, book_profile, label, load_bench, load_bench_meta,
                      order_methods)
from .stats import Estimate, aggregate, compare, fmt_ci, fmt_mdd, mean_ci, per_seed

VERDICTS = ("holds", "does not hold", "inconclusive", "anomaly")
MATCH_MARGIN = 1.0  # claim 3, "matches the baseline": DVN at most 1 point worse
DETECTABLE = "detectable (80% power)"  # the column every comparison carries


# --------------------------------------------------------------------------------------------
# Verdicts from intervals

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


def verdict_at_least(low: float, high: float, threshold: float) -> str:
    """'At least ``threshold``' from a 95% interval [low, high]."""
    if low != low or high != high:
        return "inconclusive"
    return "holds" if low >= threshold else "does not hold" if high < threshold else "inconclusive"


def verdict_little_loss(diff: float, half: float, margin: float) -> str:
    """Claim 2 from the interval of (one unit - all units): an inversion (one unit better beyond
    the interval) is an anomaly, else non-inferiority within ``margin``."""
    if diff == diff and half == half and diff - half > 0:
        return "anomaly"
    return verdict_noninferior(diff, half, margin)


def combine(verdicts) -> str:
    """A claim stated for every case: one case against it refutes it, all for it support it."""
    v = list(verdicts)
    if not v:
        return "not tested"
    if "does not hold" in v:
        return "does not hold"
    if "anomaly" in v:
        return "anomaly"
    if all(x == "holds" for x in v):
        return "holds"
    return "inconclusive"


def counts(verdicts) -> str:
    v = list(verdicts)
    return ", ".join(f"{v.count(x)} {x}" for x in VERDICTS if v.count(x))


def claim1_margin() -> float:
    return loss_margin()


def claim2_margin() -> float:
    """'Loses little', read as: no more than the largest loss the paper itself reports for a
    stand-alone unit against all units (Table 1)."""
    return loss_margin()


# --------------------------------------------------------------------------------------------
# Claim 1: k x n_h working classifiers

def expected_outputs(scenario: str) -> int:
    return len(U.outputs(U.dvn_configuration(S.get(scenario).k)))


def claim1(data: dict[str, pd.DataFrame], margin: float | None = None) -> pd.DataFrame:
    """Every DVN output against the independent baseline at the same (task, level), paired by
    seed: holds when DVN is at most ``margin`` points worse and above chance."""
    margin = claim1_margin() if margin is None else margin
    rows = []
    for sc, df in data.items():
        d = df[df["method"] == "dvn"]
        if d.empty:
            continue
        s = S.get(sc)
        a, b = aggregate(d), aggregate(df[df["method"] == "baseline"])
        if len(a) < expected_outputs(sc):
            rows.append({"scenario": sc, "output": f"{len(a)} of {expected_outputs(sc)} outputs evaluated",
                         "verdict": "does not hold"})
        for _, r in a.sort_values(["task", "level"]).iterrows():
            t, lvl = int(r["task"]), int(r["level"])
            chance = 100.0 / s.tasks[t - 1].num_classes
            base = b[(b["task"] == t) & (b["level"] == lvl)]
            e = compare(per_seed(d, "dvn", t, lvl), per_seed(df, "baseline", t, lvl)) if len(base) else Estimate(
                float("nan"), float("nan"), 0)
            v = verdict_noninferior(e.mean, e.half, margin) if len(base) else "inconclusive"
            if r["accuracy"] + (r["ci95"] if r["ci95"] == r["ci95"] else 0) <= chance:
                v = "does not hold"  # at chance: not a classifier whatever the baseline does
            elif v == "holds" and not r["accuracy"] - r["ci95"] > chance:
                v = "inconclusive"
            bd = base.iloc[0] if len(base) else None
            rows.append({"scenario": sc, "output": f"task {t}: {r['task_name']}, level {lvl}",
                         "density %": f"{100 * r['density']:.1f}",
                         "DVN %": fmt_ci(r["accuracy"], r["ci95"]),
                         "baseline %": fmt_ci(bd["accuracy"], bd["ci95"]) if bd is not None else "— (not run)",
                         "DVN − baseline (points)": fmt_ci(e.mean, e.half, sign=True), DETECTABLE: fmt_mdd(e),
                         "chance %": f"{chance:.1f}",
                         "reported (paper) DVN vs baseline": fmt_paper(
                             paper_value(s.twin_of, "dvn", t, lvl),
                             paper_value(s.twin_of, "baseline", t, density=float(r["density"]))),
                         "verdict": v})
    return pd.DataFrame(rows).fillna("—")


# --------------------------------------------------------------------------------------------
# Claim 2: a stand-alone unit loses little

def claim2(data: dict[str, pd.DataFrame], margin: float | None = None) -> pd.DataFrame:
    margin = claim2_margin() if margin is None else margin
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
            diff = compare(per_seed(d, "dvn", t, 1), per_seed(d, "dvn", t, top))  # one network per seed
            r1, rk = e[e["level"] == 1].iloc[0], e[e["level"] == top].iloc[0]
            v = verdict_little_loss(diff.mean, diff.half, margin)
            rows.append({"scenario": sc, "task": f"{t}: {r1['task_name']}",
                         "one unit %": fmt_ci(r1["accuracy"], r1["ci95"]),
                         "all units %": fmt_ci(rk["accuracy"], rk["ci95"]),
                         "one unit − all (points, paired)": fmt_ci(diff.mean, diff.half, sign=True),
                         DETECTABLE: fmt_mdd(diff),
                         "reported (paper) one unit vs all": fmt_paper(paper_value(twin, "dvn", t, 1),
                                                                       paper_value(twin, "dvn", t, top)),
                         "verdict": v,
                         "note": "level inversion: all units worse than one unit beyond the interval"
                         if v == "anomaly" else ""})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Claim 3 (and 5's hierarchical part): DVN at matched density

def matched_level(a: pd.DataFrame, method: str, task: int, density: float, ref: str = "dvn"):
    """The ``ref`` level of ``task`` with the most parameters that still does not use more than
    the other method's output (``density``, with ``MATCH_TOLERANCE`` for rounding): DVN is never
    given a larger budget than the method it is compared with. None if no level fits."""
    d = a[(a["method"] == ref) & (a["task"] == task) & (a["density"] <= density * MATCH_TOLERANCE)]
    if d.empty or not density > 0:
        return None
    return d.loc[d["density"].idxmax()]


def matched_comparisons(df: pd.DataFrame, scenario: str, others, kind: str = "greater",
                        margin: float = MATCH_MARGIN) -> pd.DataFrame:
    """DVN against each of ``others`` at matched density, task by task, paired by seed, with a
    verdict (``kind``: 'greater', or 'noninferior' within ``margin``)."""
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
            e = compare(per_seed(df, "dvn", t, int(dv["level"])), per_seed(df, m, t, int(r["level"])))
            row = {"scenario": scenario, "task": f"{t}: {r['task_name']}", "versus": label(m),
                   "DVN level": int(dv["level"]),
                   "density % (DVN / other)": f"{100 * dv['density']:.1f} / {100 * r['density']:.1f}",
                   "DVN accuracy %": fmt_ci(dv["accuracy"], dv["ci95"]),
                   "other accuracy %": fmt_ci(r["accuracy"], r["ci95"]),
                   "DVN − other (points)": fmt_ci(e.mean, e.half, sign=True), DETECTABLE: fmt_mdd(e),
                   "reported (paper) DVN vs other": fmt_paper(paper_value(twin, "dvn", t, int(dv["level"])),
                                                              paper_value(twin, m, t, density=float(r["density"])))}
            if kind != "greater":
                row["stored params, DVN / other"] = f"{dvn_total / r['params_total']:.2f}"
            row["verdict"] = (verdict_greater(e.mean, e.half) if kind == "greater"
                              else verdict_noninferior(e.mean, e.half, margin))
            rows.append(row)
    return pd.DataFrame(rows)


def claim3(data: dict[str, pd.DataFrame]) -> pd.DataFrame:
    parts = []
    for sc, df in data.items():
        present = set(df["method"])
        parts.append(matched_comparisons(df, sc, [m for m in ("nestednet", "packnet", "nestednet-me") if m in present]))
        if "baseline" in present:
            parts.append(matched_comparisons(df, sc, ["baseline"], kind="noninferior"))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    ev = pd.concat(parts, ignore_index=True).fillna("—")
    return ev[[c for c in ev.columns if c != "verdict"] + ["verdict"]]


# --------------------------------------------------------------------------------------------
# Claim 4: lower levels run faster (the benchmark)

def claim4(lv: pd.DataFrame | None, engine: str | None = None) -> pd.DataFrame:
    """Every level the paper gives a speed-up for (J2's ResNet-42, Table 2), at every batch size
    benchmarked, under ``engine`` (the engine ``bench.json`` names, whose targets judge the same
    speed-ups the same way; None: every engine timed): is our speed-up over the full network at
    least the paper's?"""
    if lv is not None and engine is not None:
        lv = lv[lv["engine"] == engine]
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


def claim4_scale(ev: pd.DataFrame, meta: dict | None) -> str:
    """What claim 4 was tested on: the network, the batch sizes, the engine and the machine."""
    meta = meta or {}
    batches = sorted(set(ev["batch"]))
    scs = dict.fromkeys(n.split(":")[0] for n in ev["network"])
    return (f"the benchmark's extracted levels of {'; '.join(f'{sc} ({timed(meta, sc)})' for sc in scs)} "
            f"at batch {' and '.join(map(str, batches))}, engine "
            f"{(meta.get('engine') or {}).get('name', '?')}, on {bench_hardware(meta)}, {str(meta.get('date', ''))[:10]}")


# --------------------------------------------------------------------------------------------
# Claim 5: hierarchical and sequential results

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
                             "DVN − other (points)": r["DVN − other (points)"], DETECTABLE: r[DETECTABLE],
                             "reported (paper)": r["reported (paper) DVN vs other"], "verdict": r["verdict"]})
        elif s.family == "sequential":
            dv = df[df["method"] == "dvn"]
            if dv.empty:
                continue
            top = dv.groupby("task")["level"].transform("max")
            dvn_avg = dv[dv["level"] == top].groupby("seed")["accuracy"].mean()
            for m in order_methods(df["method"], FAMILY_METHODS["sequential"]):
                if m == "dvn" or m in ABLATIONS:
                    continue
                o = df[df["method"] == m]
                o = o[o["density"] == o.groupby("task")["density"].transform("max")]
                o_avg = o.groupby("seed")["accuracy"].mean()
                e = compare(dvn_avg, o_avg)
                pd_d = [paper_value(s.twin_of, "dvn", t, 2) for t in (1, 2)]
                pd_o = [paper_value(s.twin_of, m, t) for t in (1, 2)]
                rows.append({"scenario": sc, "comparison": f"average over tasks, DVN all units vs {label(m)}",
                             "DVN %": fmt_ci(*list(mean_ci(dvn_avg))[:2]), "other %": fmt_ci(*list(mean_ci(o_avg))[:2]),
                             "DVN − other (points)": fmt_ci(e.mean, e.half, sign=True), DETECTABLE: fmt_mdd(e),
                             "reported (paper)": fmt_paper(sum(pd_d) / 2, sum(pd_o) / 2) if None not in pd_d + pd_o
                             else "—", "verdict": verdict_greater(e.mean, e.half)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# All claims

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
# Claim 1 is about one network trained once: the joint and hierarchical twins, each of which has
# an independent baseline for every output (the sequential twin is trained twice, has no such
# baseline, and is claim 5's). Claim 2 is about a stand-alone unit at k = 2 (a quarter of the
# parameters), as in Tables 1, 3, 4.
CLAIM_SCENARIOS = {1: "FJ1 FJ2 FJ3 FH1", 2: "FJ1 FH1 FS1", 3: "FJ1 FJ2 FJ3", 4: "bench", 5: "FH1 FS1"}
CLAIM_FUNCTIONS = {1: claim1, 2: claim2, 3: claim3, 5: claim5}


@dataclass
class Claim:
    number: int
    statement: str
    verdict: str
    evidence: pd.DataFrame
    scale: str
    missing: list[str]
    profile: str = ""


def scale(scenario: str, df: pd.DataFrame | None = None, profile: str | None = None) -> str:
    """At what scale a scenario was tested: backbone, schedule, images, seeds."""
    profile = profile or book_profile()
    s = S.get(scenario)
    seeds = df["seed"].nunique() if df is not None else None
    try:
        p, bb = s.profile(profile), s.backbone(profile).name
    except ValueError:  # a profile this version of the registry does not define
        return f"{scenario} ({seeds} seed{'s' * (seeds != 1)}, {profile} profile)"
    seeds = seeds if seeds is not None else len(p.seeds)
    return (f"{scenario} ({bb}, {p.epochs} epoch{'s' * (p.epochs != 1)}, "
            f"{p.train_per_task or 'all'} training images per task, {seeds} seed{'s' * (seeds != 1)}, "
            f"{profile} profile)")


def scale_text(data: dict[str, pd.DataFrame], profile: str | None = None) -> str:
    """``scale`` for several scenarios, those tested alike grouped together."""
    groups: dict[str, list[str]] = {}
    for sc, df in data.items():
        groups.setdefault(scale(sc, df, profile).split(" (", 1)[1], []).append(sc)
    return "; ".join(f"{', '.join(scs)} ({rest}" for rest, scs in groups.items())


def claims(profile=None, root=None) -> list[Claim]:
    """Every claim of the study with the verdict our results support, computed from them."""
    profile = profile or book_profile(root)
    data = book_data(profile, root)
    out = []
    for n, statement in CLAIMS.items():
        wanted = CLAIM_SCENARIOS[n].split()
        if n == 4:
            bench, meta = load_bench(root), load_bench_meta(root)
            ev = claim4(bench_levels(bench) if bench is not None else None, ((meta or {}).get("engine") or {}).get("name"))
            sc_text = claim4_scale(ev, meta) if len(ev) else (
                "the benchmark has not been run yet" if bench is None else "the benchmark timed no level of J2")
            missing = []
        else:
            sub = {k: v for k, v in data.items() if k in wanted}
            ev = CLAIM_FUNCTIONS[n](sub)
            sc_text = scale_text(sub, profile) or "no results yet"
            missing = [sc for sc in wanted if sc not in data]
        verdict = (combine(ev["verdict"]) if len(ev) else
                   "not yet measured" if n == 4 else "not tested (no results yet)")
        out.append(Claim(n, statement, verdict, ev, sc_text, missing, profile))
    return out


def claims_summary(cl: list[Claim] | None = None) -> pd.DataFrame:
    cl = cl if cl is not None else claims()
    return pd.DataFrame([{"claim": c.number, "statement": c.statement, "verdict (our data)": c.verdict,
                          "comparisons": counts(c.evidence["verdict"]) if len(c.evidence) else "—",
                          "tested at": c.scale} for c in cl])


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
