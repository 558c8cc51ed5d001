"""The book's front matter, computed: the intro's one-screen verdict table (from ``comparisons``),
the map from each of the paper's tables and figures to its twin and page, and the figures the
limitations page quotes (each read from the results it describes)."""
from __future__ import annotations

import pandas as pd

from .. import scenarios as S
from .comparisons import CLAIM_TWINS, Claim
from .numbers import num
from .paper import PAPER_FIGURES, PAPER_TABLES
from .records import run_facts
from .sources import (EVIDENCE_PROFILE, book_data, book_profile, load_bench_meta, load_curves, load_metrics,
                      load_predictions, load_reported)
from .verdicts import CONTRADICTED, COULD_NOT, NOT_DISTINGUISHABLE, SUPPORTED, combine, counted, counts

CLAIMS_PAGE = "claims.html"
SHORT = {1: "One network, trained once, gives k x n_h working classifiers",
         2: "A stand-alone unit loses little against all units",
         3: "At matched density DVN beats NestedNet and PackNet+ and matches the baselines",
         4: "Lower levels run 5.8x / 2.8x / 1.6x faster (ResNet-42)",
         5: "Hierarchical and sequential learning: DVN better than the others"}
# The paper's tables and figures, each with what this book sets beside it and where.
PAPER_MAP = (
    ("Table 1", "J1: CIFAR-10 and CIFAR-100, WRN-32-4", "FJ1", "joint.html"),
    ("Figure 5", "J2: Tiny-ImageNet in 4 tasks, ResNet-42, accuracy against density", "FJ2", "joint.html"),
    ("Figure 6", "J3: Tiny-ImageNet, CIFAR-100, STL-10, ResNet-42", "FJ3", "joint.html"),
    ("Table 2", "J2: parameters, density and inference time per level", "J2's ResNet-42 itself, timed on a CPU",
     "cost.html"),
    ("Section 4.3", "J1: inference time per level", "J1's WRN-32-4 itself, timed on a CPU", "cost.html"),
    ("Table 3", "H1: CIFAR-100 coarse and fine labels", "FH1", "hierarchical.html"),
    ("Table 4", "S1: CIFAR-10 classes 0-4, then 5-9", "FS1", "sequential.html"),
    ("Table 5", "S2: CIFAR-10, then CIFAR-100, WRN-32-8", "no twin: not tested", "sequential.html"),
)


def claim_link(n: int, text: str | None = None) -> str:
    return f'<a href="{CLAIMS_PAGE}#claim-{n}">{text or f"claim {n}"}</a>'


def why(c: Claim, capacity: str | None) -> str:
    """One line: how many comparisons went which way, and what qualifies them."""
    comps = counted(c.comparisons, capacity, str(c.number))
    if not comps:
        return "no comparison could be made with the results in this build"
    n = counts(comps)
    could = sum(x.could_not for x in comps)
    line = (f"{n[SUPPORTED]} of {len(comps)} comparisons supported, {n[CONTRADICTED]} contradicted, "
            f"{n[NOT_DISTINGUISHABLE]} not distinguishable" + (f" ({could} {COULD_NOT})" if could else ""))
    parts = [f"{p} {c.verdict(capacity, p)}" for p in c.parts() if counted(c.comparisons, capacity, p)]
    if parts:
        line += "; " + ", ".join(parts)
    if c.number == 1:
        ctrl = [x.verdict for x in c.comparisons if x.claim == "control" and x.made]
        if ctrl and combine(ctrl) != CONTRADICTED:
            line += "; the negative control is not contradicted, so this test could not fail"
    if c.number == 4:
        line += f" (speed-ups: {speedups_text(comps)})"
    return line


def speedups_text(comps) -> str:
    """Claim 4's deciding speed-ups, levels 1, 2, ... at each batch size, against the paper's."""
    batches: dict[int, list] = {}
    for x in sorted(comps, key=lambda x: (x.columns["batch"], x.columns["level"])):
        batches.setdefault(x.columns["batch"], []).append(x)
    paper = " / ".join(f"{x.diff.boundary:g}x" for x in next(iter(batches.values())))
    return "; ".join(f"batch {b}: " + " / ".join(num(x.diff.mean, unit="x") for x in xs)
                     for b, xs in batches.items()) + f"; paper {paper}"


def where(c: Claim, profile: str, root=None) -> str:
    """Where a claim was tested, from the records: twins, backbones, seeds and profile."""
    if c.number == 4:
        meta = load_bench_meta(root) or {}
        return (f"J2's ResNet-42 at paper size, ONNX Runtime at one thread, on {meta.get('device', 'a CPU')}"
                f" ({str(meta.get('date', '?'))[:10]})" if meta else "not measured in this build")
    twins = [tw for tw in CLAIM_TWINS[c.number] if run_facts(tw, profile, root)]
    if not twins:
        return f"no {profile} results in this build"
    facts = {tw: run_facts(tw, profile, root) for tw in twins}
    nets = ", ".join(dict.fromkeys(f["backbone"] for f in facts.values()))
    seeds = sorted({len(f["seeds"]) for f in facts.values()})
    return (f"{', '.join(twins)} (Fashion-MNIST; {nets}; {' or '.join(map(str, seeds))} "
            f"seed{'s' * (seeds != [1])}; {profile} profile)")


def verdict_table(cl: list[Claim], caps: dict[str, str], root=None) -> pd.DataFrame:
    """The intro's one-screen table: a row per claim with its verdict at each capacity that has
    results, one line of why (at the standard capacity), where it was tested, and a link."""
    rows = []
    for c in cl:
        row = {"claim": claim_link(c.number, f"{c.number}. {SHORT[c.number]}")}
        for cap in caps:
            head = "verdict" if cap == "standard" else f"verdict, {cap} capacity"
            if c.number == 4:
                row[head] = c.verdict(None) if cap == "standard" else "—"
            else:
                row[head] = c.verdict(cap) if cap in c.capacities else "not run"
        row["why"] = why(c, None if c.number == 4 else "standard")
        row["where tested"] = where(c, caps["standard"], root)
        rows.append(row)
    return pd.DataFrame(rows)


def paper_map_table(profile: str | None = None, root=None) -> pd.DataFrame:
    """Each of the paper's tables and figures, its twin here, the page, and whether this build
    has the twin's results."""
    profile = profile or book_profile(root)
    rows = []
    for item, what, twin, page in PAPER_MAP:
        have = ("—" if twin.startswith("no twin") else
                "present" if (load_metrics(twin, profile, root) is not None if twin in S.SCENARIOS else
                              load_bench_meta(root) is not None) else "missing")
        rows.append({"paper": item, "what the paper shows": what, "twin here": twin,
                     "page": f'<a href="{page}">{page.removesuffix(".html")}</a>', "results in this build": have})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# The limitations page's figures

def ceiling(profile: str | None = None, root=None) -> pd.DataFrame:
    """Per twin, the best mean test accuracy any method's output reaches, and the independent
    baseline's full-width mean: how close Fashion-MNIST sits to its ceiling here."""
    profile = profile or book_profile(root)
    rows = []
    for sc, df in book_data(profile, root).items():
        means = df.groupby(["method", "task", "level"])["accuracy"].mean()
        base = df[(df["method"] == "baseline")]
        rows.append({"twin": sc, "best mean output %": num(means.max(), 1),
                     "baseline, full width, mean over tasks %":
                         num(base[base["density"] >= base["density"].max()]["accuracy"].mean(), 1)
                         if len(base) else "—"})
    return pd.DataFrame(rows)


def curve_seeds(root=None) -> dict[str, int]:
    """How many seeds each twin's learning curve has."""
    curves = load_curves(root)
    return {} if curves is None else {sc: int(g["seed"].nunique()) for sc, g in curves.groupby("scenario")}


def backbones(profile: str | None = None, root=None) -> dict[str, str]:
    """The backbone each twin's runs used, from their records."""
    profile = profile or book_profile(root)
    return {sc: f["backbone"] for sc in S.SCENARIOS if (f := run_facts(sc, profile, root))}


def not_compared() -> dict[str, str]:
    """The paper's scenarios whose numbers no number of ours is set against, and why: no twin
    here, or reported only as a plot whose numbers were not transcribed."""
    twinned = {s.twin_of for s in S.SCENARIOS.values() if s.twin_of}
    transcribed = set(load_reported()["scenario"])
    out = {p: "no twin here" for p in PAPER_TABLES if p not in twinned}
    out.update({p: f"reported only as a plot ({fig}), not transcribed" for p, fig in PAPER_FIGURES.items()
                if p not in transcribed})
    return out


def without_predictions(profile: str = EVIDENCE_PROFILE, root=None) -> list[str]:
    """The twins whose runs kept no per-image predictions: their comparisons rest on the t
    interval over seeds alone (the runs predate the preregistration's bootstrap)."""
    return [sc for sc in book_data(profile, root) if load_predictions(sc, profile, root) is None]

