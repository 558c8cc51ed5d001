"""The paper's claims, each as the comparisons ``book/preregistration.md`` fixes for it, at both
capacities, decided by the rules of ``verdicts``.

A comparison is a signed sum of outputs, each output named by (twin, method, task, level), over one
task's test images (claim 5's mean over tasks sums two such parts). Its difference per seed comes
from the runs' accuracies; where every run kept its per-image predictions, the bootstrap over
seeds and test images is computed from them too, and otherwise the page says, comparison by
comparison, that the t interval over seeds stands alone.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import scenarios as S
from ..paper import is_deciding
from ..timing import speedup, speedup_resamples
from .cost import engine_label
from .paper import fmt_paper, loss_margin, paper_speedups, paper_value
from .records import epochs_text, images_text, run_facts
from .sources import (BENCH_KEYS, book_data, book_profile, capacities, label, load_bench, load_predictions,
                      twin_name)
from .stats import Difference, bootstrap_p, difference, fmt_ci, t_half
from .verdicts import (CONTRADICTED, MATCH_MARGIN, NO_FIT, NOT_DISTINGUISHABLE, SUPPORTED, Comparison, combine, counted,
                       counts, decide, matched_level, rule_link)

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
PARTS = {
    "3a": "beats NestedNet (FJ2)", "3b": "beats PackNet+ (FJ2)",
    "3c": "J1: comparable at low memory, better with the whole capacity (FJ1)",
    "3d": "J3: comparable on task 1, better on tasks 2 and 3 (FJ3)",
    "3e": "matches the baselines with a fraction of their parameters (FJ1, FJ2, FJ3)",
    "5a": "hierarchical: better than the compared methods in every case (FH1)",
    "5b": "sequential, all units: outperforms the other approaches (FS1)",
    "5c": "sequential, one unit: better than the others on average (FS1)",
}
CLAIM_TWINS = {1: ("FJ1", "FJ2", "FJ3", "FH1"), 2: ("FJ1", "FH1", "FS1"), 3: ("FJ1", "FJ2", "FJ3"),
               5: ("FH1", "FS1")}
# Claim 3's parts against NestedNet and PackNet+: twin, peers, and the tasks the paper calls
# "comparable" (tested for non-inferiority within MATCH_MARGIN; every other task: "beats").
CLAIM3_PEERS = {"3a": ("FJ2", ("nestednet", "nestednet-me"), ()), "3b": ("FJ2", ("packnet",), ()),
                "3c": ("FJ1", ("nestednet", "packnet"), (1,)), "3d": ("FJ3", ("nestednet", "packnet"), (1,))}
SEQUENTIAL_PEERS = ("feature_extraction", "lwf", "dacnn", "nestednet")
NEGATIVE_CONTROL = "dvn-shared-bn"  # claim 1's rule on FJ1 must contradict it, or claim 1 could not fail
BESIDE_5 = {"dvn-random-expansion": "random expansion", "lwf-no-head-stage": "LwF without its head-only stage"}
NO_PREDICTIONS = "t interval alone: no per-image predictions"

Term = tuple[int, str, str, int, int]  # (sign, twin, method, task, level)


# --------------------------------------------------------------------------------------------
# One capacity's results, and a comparison's difference from them

class Results:
    """One capacity's results: every twin's ``metrics.csv`` and, where its runs kept them, their
    per-image predictions (``sources.load_predictions``)."""

    def __init__(self, capacity: str, profile: str, root=None):
        self.capacity, self.profile, self.root = capacity, profile, root
        self.metrics = book_data(profile, root)
        self.predictions = {sc: load_predictions(sc, profile, root) for sc in self.metrics}
        self._by_output: dict[str, dict] = {}

    def rows(self, twin: str, method: str) -> pd.DataFrame:
        df = self.metrics.get(twin)
        if df is None:
            return pd.DataFrame(columns=["method", "seed", "task", "level", "params", "params_total", "density",
                                         "accuracy"])
        return df[df["method"] == method]

    def accuracy(self, twin: str, method: str, task: int, level: int) -> pd.Series:
        """One output's accuracy by seed (empty where the output has no run)."""
        if twin not in self._by_output:
            df = self.metrics.get(twin)
            self._by_output[twin] = {} if df is None else {
                (m, int(t), int(l)): g.set_index("seed")["accuracy"].astype(float)
                for (m, t, l), g in df.groupby(["method", "task", "level"])}
        return self._by_output[twin].get((method, task, level), pd.Series(dtype=float))

    def correct(self, twin, method, seed, task, level) -> np.ndarray | None:
        p = self.predictions.get(twin)
        return None if p is None else p[0].get((method, seed, task, level))

    def labels(self, twin: str, task: int):
        p = self.predictions.get(twin)
        return None if p is None else p[1].get(task)


def estimate(res: Results, parts: list[list[Term]], boundary: float,
             weights: list[float] | None = None) -> tuple[Difference | None, str]:
    """The difference ``sum_k weights[k] * sum(sign * output)`` over the seeds every output has,
    in points, with both intervals where the predictions allow; (None, why) when no seed has
    them all. The second value says when the t interval stands alone."""
    weights = weights or [1.0] * len(parts)
    terms = [t for p in parts for t in p]
    acc = {t: res.accuracy(*t[1:]) for t in terms}
    seeds = sorted(set.intersection(*(set(a.index) for a in acc.values())))
    if not seeds:
        return None, "an output was not run"
    images = []
    for part in parts:  # paired by image: every output of a part saw the same test images
        labels = [res.labels(tw, task) for _, tw, _, task, _ in part]
        got = [[res.correct(tw, m, s, task, lvl) for s in seeds] for _, tw, m, task, lvl in part]
        if (any(y is None for y in labels) or not all(np.array_equal(labels[0], y) for y in labels)
                or any(c is None for g in got for c in g)):
            images = None
            break
        images.append(sum(sign * 100.0 * np.stack(g) for (sign, *_), g in zip(part, got)))
    if images is not None:
        per_seed = sum(w * d.mean(axis=1) for w, d in zip(weights, images))
        return difference(per_seed, images, weights, boundary), ""
    per_seed = sum(w * sum(t[0] * acc[t][seeds] for t in part) for w, part in zip(weights, parts))
    return difference(per_seed.to_numpy(), boundary=boundary), NO_PREDICTIONS


def _mean(res: Results, twin: str, method: str, task: int, level: int) -> str:
    """An output's accuracy as a table shows it: mean ± 95% t half-width over seeds."""
    a = res.accuracy(twin, method, task, level)
    return fmt_ci(a.mean(), t_half(a)) if len(a) else "—"


def _task_name(res: Results, twin: str, task: int) -> str:
    return f"task {task}: {S.get(twin).tasks[task - 1].name}"


def _compare(res, claim, family, twin, what, parts, boundary, margin=None, weights=None, counted=True,
             columns=None, condition=None, versus="") -> Comparison:
    d, note = estimate(res, parts, boundary, weights)
    return Comparison(claim, res.capacity, family, twin_name(twin, res.profile, res.root), what, d, margin,
                      counted, note, condition, columns or {}, versus)


# --------------------------------------------------------------------------------------------
# Claims 1 and 2

def working(res: Results, twin: str, method: str = "dvn", claim: str = "1", counted: bool = True) -> list[Comparison]:
    """Claim 1's rule for every output of ``method`` on ``twin``: at most ``loss_margin()`` points
    below the baseline at the same (task, level), and its own interval above chance."""
    margin, out = loss_margin(), []
    family = f"{claim}/{res.capacity}"
    outputs = res.rows(twin, method)[["task", "level"]].drop_duplicates().sort_values(["task", "level"])
    for t, lvl in outputs.itertuples(index=False):
        what = f"{_task_name(res, twin, t)}, level {lvl}: {label(method)} vs baseline"
        if res.accuracy(twin, "baseline", t, lvl).empty:
            out.append(Comparison(claim, res.capacity, family, twin_name(twin, res.profile, res.root), what, None,
                                  margin, counted, "no baseline output"))
            continue
        chance = 100.0 / S.get(twin).tasks[t - 1].num_classes
        own, _ = estimate(res, [[(1, twin, method, t, lvl)]], chance)
        low, high, _ = own.wider
        cond = "above" if low > chance else "below" if high < chance else "inside"
        out.append(_compare(res, claim, family, twin, what, [[(1, twin, method, t, lvl), (-1, twin, "baseline", t, lvl)]],
                            -margin, margin, counted=counted, condition=cond, columns={
                                "DVN %": _mean(res, twin, method, t, lvl),
                                "other %": _mean(res, twin, "baseline", t, lvl),
                                "chance %": f"{chance:.1f} (DVN's interval {cond})",
                                "reported (paper)": fmt_paper(paper_value(S.get(twin).twin_of, "dvn", t, lvl),
                                                              paper_value(S.get(twin).twin_of, "baseline", t, lvl))}))
    return out


def claim1(res: Results) -> list[Comparison]:
    out = [c for tw in CLAIM_TWINS[1] for c in working(res, tw)]
    return out + working(res, "FJ1", NEGATIVE_CONTROL, claim="control", counted=False)


def claim2(res: Results) -> list[Comparison]:
    """Per task, DVN's change from all units to one unit minus the independent baseline's from
    full width to one unit's width (FS1: FJ1's baseline), non-inferior within ``MATCH_MARGIN``;
    beside it, shown, DVN's own loss against the paper's 2.3 points."""
    out = []
    for tw in CLAIM_TWINS[2]:
        base = "FJ1" if tw == "FS1" else tw
        d = res.rows(tw, "dvn")
        for t in sorted(d["task"].unique()):
            top = int(d[d["task"] == t]["level"].max())
            b = res.rows(base, "baseline")
            btop = int(b[b["task"] == t]["level"].max()) if (b["task"] == t).any() else top
            dvn = [(1, tw, "dvn", t, 1), (-1, tw, "dvn", t, top)]
            what = f"{_task_name(res, tw, t)}: DVN level 1 − level {top}, minus {base}'s baseline level 1 − level {btop}"
            out.append(_compare(res, "2", f"2/{res.capacity}", tw, what,
                                [dvn + [(-1, base, "baseline", t, 1), (1, base, "baseline", t, btop)]],
                                -MATCH_MARGIN, MATCH_MARGIN))
            out.append(_compare(res, "2 (paper's margin)", f"2-paper/{res.capacity}", tw,
                                f"{_task_name(res, tw, t)}: DVN level 1 − level {top}, against the paper's "
                                f"{loss_margin():.1f} points", [dvn], -loss_margin(), loss_margin(), counted=False))
    return out


# --------------------------------------------------------------------------------------------
# Claims 3 and 5: DVN at matched density

def matched(res: Results, claim: str, twin: str, peer: str, boundary_of, margin_of=lambda t: None,
            counted: bool = True, ref: str = "dvn") -> list[Comparison]:
    """``ref`` (DVN) at matched density against every output of ``peer``: DVN's largest level
    within ``DENSITY_SLACK`` of the peer output's parameters, not made where none fits;
    ``boundary_of(task)`` and ``margin_of(task)`` give each task's rule."""
    fam = f"{claim[0]}/{res.capacity}" if counted else f"{claim}/{res.capacity}"
    dvn, out = res.rows(twin, ref), []
    others = res.rows(twin, peer).drop_duplicates(["task", "level"]).sort_values(["task", "level"])
    for _, r in others.iterrows():
        t, lvl = int(r["task"]), int(r["level"])
        lv = matched_level(dvn[dvn["task"] == t].drop_duplicates("level"), float(r["params"]))
        what = f"{_task_name(res, twin, t)}: {label(ref)} vs {label(peer)} level {lvl}"
        cols = {"params (DVN / other)": f"{int(lv['params']):,} / {int(r['params']):,}" if lv is not None
                else f"— / {int(r['params']):,}"}
        if lv is None:
            out.append(Comparison(claim, res.capacity, fam, twin_name(twin, res.profile, res.root), what, None,
                                  margin_of(t), counted, NO_FIT, columns=cols))
            continue
        dl = int(lv["level"])
        cols.update({"DVN %": _mean(res, twin, ref, t, dl), "other %": _mean(res, twin, peer, t, lvl),
                     "reported (paper)": fmt_paper(paper_value(S.get(twin).twin_of, "dvn", t, dl),
                                                   paper_value(S.get(twin).twin_of, peer, t, density=float(r["density"])))})
        out.append(_compare(res, claim, fam, twin, f"{what} (DVN level {dl})",
                            [[(1, twin, ref, t, dl), (-1, twin, peer, t, lvl)]], boundary_of(t), margin_of(t),
                            counted=counted, columns=cols, versus=label(peer)))
    return out


def claim3(res: Results) -> list[Comparison]:
    out = []
    for part, (tw, peers, comparable) in CLAIM3_PEERS.items():
        for peer in peers:
            out += matched(res, part, tw, peer, lambda t, c=comparable: -MATCH_MARGIN if t in c else 0.0,
                           lambda t, c=comparable: MATCH_MARGIN if t in c else None)
    for tw in CLAIM_TWINS[3]:
        base = res.rows(tw, "baseline")
        share = (res.rows(tw, "dvn")["params_total"].max() / base["params_total"].max()) if len(base) else float("nan")
        for t, lvl in res.rows(tw, "dvn")[["task", "level"]].drop_duplicates().sort_values(["task", "level"]).itertuples(index=False):
            what = f"{_task_name(res, tw, t)}, level {lvl}: DVN vs baseline"
            if res.accuracy(tw, "baseline", t, lvl).empty:
                out.append(Comparison("3e", res.capacity, f"3/{res.capacity}", twin_name(tw, res.profile, res.root),
                                      what, None, MATCH_MARGIN, True, "no baseline output"))
                continue
            out.append(_compare(res, "3e", f"3/{res.capacity}", tw, what,
                                [[(1, tw, "dvn", t, lvl), (-1, tw, "baseline", t, lvl)]], -MATCH_MARGIN, MATCH_MARGIN,
                                columns={"DVN %": _mean(res, tw, "dvn", t, lvl),
                                         "other %": _mean(res, tw, "baseline", t, lvl),
                                         "stored params, DVN / baselines": f"{share:.2f}"}, versus=label("baseline")))
    return out


def sequential(res: Results, part: str, ref: str = "dvn", peers=SEQUENTIAL_PEERS,
               beside: str | None = None) -> list[Comparison]:
    """5b (DVN's top level per task) or 5c (level 1): the mean over the old and the new task
    against each peer's mean over its output per task, superiority. ``beside``: an ablation shown
    beside the part, in a family of its own and not counted."""
    d = res.rows("FS1", ref)
    if d.empty:
        return []
    out = []
    for peer in peers:
        p = res.rows("FS1", peer)
        if p.empty:
            continue
        parts = []
        for t in sorted(d["task"].unique()):
            lvl = int(d[d["task"] == t]["level"].max()) if part == "5b" else 1
            pt = p[p["task"] == t]
            plvl = int(pt.loc[pt["params"].idxmax(), "level"]) if len(pt) else lvl
            parts.append([(1, "FS1", ref, t, lvl), (-1, "FS1", peer, t, plvl)])
        units = "all units" if part == "5b" else "one unit"
        out.append(_compare(res, part, f"5-{beside}/{res.capacity}" if beside else f"5/{res.capacity}", "FS1",
                            f"mean over tasks: {label(ref)} ({units}) vs {label(peer)}", parts, 0.0,
                            weights=[1 / len(parts)] * len(parts), counted=beside is None, versus=label(peer)))
    return out


def claim5(res: Results) -> list[Comparison]:
    out = [c for peer in ("nestednet", "baseline") for c in matched(res, "5a", "FH1", peer, lambda t: 0.0)]
    out += sequential(res, "5b") + sequential(res, "5c")
    for part in ("5b", "5c"):  # shown beside 5b and 5c, not counted
        out += sequential(res, part, "dvn-random-expansion", beside="dvn-random-expansion")
        out += sequential(res, part, peers=("lwf-no-head-stage",), beside="lwf-no-head-stage")
    return out


# --------------------------------------------------------------------------------------------
# Claim 4: the benchmark's speed-ups

def claim4(bench: pd.DataFrame | None) -> list[Comparison]:
    """Every level the paper gives a speed-up for, at every batch size and under every engine the
    benchmark timed: the ratio of medians over rounds and its bootstrap over whole rounds
    (``timing``), against the paper's value. Only ONNX Runtime at one thread decides."""
    if bench is None or bench.empty:
        return []
    paper, out = paper_speedups(), []
    for key, g in bench.groupby([*BENCH_KEYS, "threads"], sort=False):  # an engine may run at several
        sc, network, _, batch, engine, threads = key
        deciding = is_deciding(engine, threads)
        full = g[g["level"] == g["level"].max()]
        for lvl, x in g.groupby("level"):
            value = paper.get((sc, int(lvl)))
            if value is None or int(lvl) == int(full["level"].iloc[0]):
                continue
            pair = x.merge(full[["repeat", "ms_per_image"]], on="repeat", suffixes=("", "_full"))
            sp = speedup(pair["ms_per_image_full"], pair["ms_per_image"])
            samples = speedup_resamples(pair["ms_per_image_full"], pair["ms_per_image"]) if sp.rounds > 1 else []
            p = bootstrap_p(samples, value) if len(samples) else float("nan")
            diff = Difference(sp.point, sp.rounds, value, boot_low=sp.low, boot_high=sp.high, boot_p=p,
                              dof=sp.rounds - 1, boot_resamples=len(samples))
            out.append(Comparison("4", "—", "4" if deciding else f"4/{engine}@{threads}", f"{sc}: {network}",
                                  f"batch {int(batch)}, level {int(lvl)}", diff, counted=deciding,
                                  note="" if deciding else "not deciding",
                                  columns={"engine": f"{engine_label(str(engine).split('@')[0])} ({int(threads)} "
                                                     f"thread{'s' * (int(threads) != 1)})"
                                                     + (", deciding" if deciding else ", not deciding"),
                                           "batch": int(batch), "level": int(lvl),
                                           "ms per image (median)": f"{x['ms_per_image'].median():.3f}",
                                           "reported (paper), GPU": f"{value:g}x"}))
    return out


# --------------------------------------------------------------------------------------------
# Every claim

@dataclass
class Claim:
    number: int
    statement: str
    comparisons: list[Comparison]
    capacities: dict[str, str]  # capacity -> profile, those with results
    scale: dict[str, str]  # capacity -> what it was tested on
    missing: dict[str, list[str]]  # capacity -> twins without results

    def verdict(self, capacity: str | None = None, part: str | None = None) -> str:
        return combine(c.verdict for c in counted(self.comparisons, capacity, part or str(self.number)))

    def parts(self) -> list[str]:
        return [p for p in PARTS if p[0] == str(self.number)]


def peer_differences(claim: Claim) -> pd.DataFrame:
    """The made, counted comparisons of a claim against another method, one row each: twin, the
    other method, the comparison, capacity, DVN − other and the wider interval (the figure of
    DVN minus each peer against capacity)."""
    rows = []
    for c in counted(claim.comparisons):
        if c.versus:
            low, high, _ = c.diff.wider
            rows.append({"twin": c.twin, "versus": c.versus, "what": c.what, "capacity": c.capacity,
                         "difference": c.diff.mean, "low": low, "high": high})
    return pd.DataFrame(rows, columns=["twin", "versus", "what", "capacity", "difference", "low", "high"])


def scale(scenario: str, df: pd.DataFrame | None, profile: str, root=None) -> str:
    """At what scale a scenario was tested, as its run records say: backbone, epochs, images,
    seeds (``records.run_facts``)."""
    seeds = df["seed"].nunique() if df is not None else 0
    facts = run_facts(scenario, profile, root)
    if facts is None:
        return f"{scenario} ({seeds} seed{'s' * (seeds != 1)}, {profile} profile, no run record)"
    return (f"{scenario} ({facts['backbone']}, {epochs_text(facts)}, {images_text(facts)}, "
            f"{seeds} seed{'s' * (seeds != 1)}, {profile} profile)")


def scale_text(data: dict[str, pd.DataFrame], profile: str, root=None) -> str:
    """``scale`` for several scenarios, those tested alike grouped together."""
    groups: dict[str, list[str]] = {}
    for sc, df in data.items():
        groups.setdefault(scale(sc, df, profile, root).split(" (", 1)[1], []).append(sc)
    return "; ".join(f"{', '.join(scs)} ({rest}" for rest, scs in groups.items())


CLAIM_FUNCTIONS = {1: claim1, 2: claim2, 3: claim3, 5: claim5}


def claims(profile: str | None = None, root=None) -> list[Claim]:
    """Every claim with its comparisons decided, at every capacity that has results."""
    caps = capacities(profile or book_profile(root))
    results = [Results(cap, prof, root) for cap, prof in caps.items()]
    results = [r for r in results if r.metrics or r.capacity == "standard"]
    out = []
    for n, statement in CLAIMS.items():
        if n == 4:
            comps = claim4(load_bench(root))
            out.append(Claim(n, statement, decide(comps), {"—": "bench"}, {}, {}))
            continue
        comps = decide([c for r in results for c in CLAIM_FUNCTIONS[n](r)])
        twins = CLAIM_TWINS[n]
        out.append(Claim(n, statement, comps, {r.capacity: r.profile for r in results},
                         {r.capacity: scale_text({k: v for k, v in r.metrics.items() if k in twins}, r.profile, root)
                          or "no results yet" for r in results},
                         {r.capacity: [tw for tw in twins if tw not in r.metrics
                                       and (r.capacity == "standard" or tw in ("FJ1", "FJ2"))] for r in results}))
    return out


def claims_summary(cl: list[Claim], caps: dict[str, str]) -> pd.DataFrame:
    """Per claim and per part (rows) and per capacity (columns): the counts of supported,
    contradicted and not distinguishable comparisons, the verdict, and the rule that decided it.
    Claim 4 (the benchmark) has no capacity: it fills the standard capacity's columns."""
    rows = []
    for c in cl:
        for key in [str(c.number), *c.parts()]:
            row = {"claim": key, "statement": c.statement if key == str(c.number) else PARTS[key]}
            for cap in caps:
                head = f"{cap} capacity"
                if c.number == 4 and cap != "standard":
                    row[f"{head}: S / C / ND"], row[f"{head}: verdict"] = "—", "—"
                    continue
                if c.number != 4 and cap not in c.capacities:
                    row[f"{head}: S / C / ND"], row[f"{head}: verdict"] = "—", "not run"
                    continue
                n = counts(counted(c.comparisons, None if c.number == 4 else cap, key))
                row[f"{head}: S / C / ND"] = f"{n[SUPPORTED]} / {n[CONTRADICTED]} / {n[NOT_DISTINGUISHABLE]}"
                row[f"{head}: verdict"] = c.verdict(None if c.number == 4 else cap, key)
            row["decided by"] = rule_link(key[0])
            rows.append(row)
    return pd.DataFrame(rows)
