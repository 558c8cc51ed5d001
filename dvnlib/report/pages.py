"""Display in a notebook or a book page: the ``show_*`` functions the book's pages call. Each one
reads the files (``sources``), computes (``stats``, ``verdicts``, ``tables``, ``figures``, ``cost``)
and displays; a result that is missing is said to be missing, with the command that produces it.

The book renders ``sources.book_profile()``; when that is not the ``study`` profile, the first
result shown on a page is preceded by a note that it is not evidence."""
from __future__ import annotations

import pandas as pd

from .. import scenarios as S
from .comparisons import BESIDE_5, Claim, claims, claims_summary, peer_differences
from .verdicts import (CONTRADICTED, COULD_NOT, DETECTABLE, NOT_DISTINGUISHABLE, SUPPORTED, combine,
                       comparisons_table, counted, counts, rule_link)
from .cost import bench_levels, bench_run_text, engine_label, engines_table, fmt_target, targets_table, table2, timed, training_table
from .figures import density_svg, forest_figure, capacity_figure, convergence_figure, curves_figure, density_figure, speedup_figure
from .numbers import num, plain
from .overview import backbones, ceiling, curve_seeds, not_compared, paper_map_table, verdict_table, without_predictions
from .paper import PAPER_FIGURES, PAPER_HARDWARE, PAPER_TABLES, reported_table
from .records import (RETRAINED, bench_record, configuration_table, epochs_text, images_text, retrain_check, run_facts,
                      run_records, status, stopped_runs, stopped_text, study_record, threads_text)
from .sources import (BENCH_COMMAND, ablations_for, EVIDENCE_PROFILE, FAMILY_METHODS, book_data, book_profile, capacities, label,
                      twin_name, curves_path, is_ablation, is_evidence, load_anchor, load_bench, load_bench_meta, load_bench_table,
                      load_curves, load_metrics, load_records, load_reported, order_methods, read_csv,
                      rerun_command, results_dir)
from .tables import FH1_ANCHOR, PRECISION_TARGET, ablation_table, median_half_width, precision, convergence_table, fh1_anchor_table, budget_table, finetune_table, ours_table, twins_table


def _display(obj):
    from IPython.display import display
    display(obj)


def _md(text: str):
    from IPython.display import Markdown
    _display(Markdown(text))


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell in the book's one number format (``numbers.plain``)."""
    return df.map(plain)


def csv_link(df: pd.DataFrame, name: str) -> str:
    """A link that downloads ``df`` as a CSV file, carried in the page itself (a data URI), so that
    it works from disk and offline; HTML in cells (links) is reduced to its text."""
    import base64
    import re
    text = df.map(lambda v: re.sub(r"<[^>]+>", "", v) if isinstance(v, str) else v).to_csv(index=False)
    data = base64.b64encode(text.encode()).decode()
    return f'<a class="dvn-csv" download="{name}.csv" href="data:text/csv;base64,{data}">Download this table (CSV)</a>'


_TABLE_NUMBER = [0]  # a page is one kernel: the downloads are numbered per page


def show_table(df: pd.DataFrame, caption: str, kind: str = "result"):
    """An HTML table with a caption (class ``dvn-table dvn-<kind>`` for the book's test) and its
    data as a CSV download under it."""
    from IPython.display import HTML
    sty = (_plain(df).style.hide(axis="index").set_caption(caption)
           .set_table_attributes(f'class="dvn-table dvn-{kind}"'))
    _display(sty)
    _TABLE_NUMBER[0] += 1
    _display(HTML(csv_link(df, f"{kind}-{_TABLE_NUMBER[0]}")))


_FIGURE_NUMBER = [0]  # a page is one kernel: figures are numbered per page


def figure_title(fig) -> str:
    """What a figure's own title says (its suptitle, else its single panel's title), taken out
    of the image: the caption under it says it instead, as text a reader can select and search."""
    sup = fig._suptitle.get_text() if fig._suptitle is not None else ""
    if sup:
        fig._suptitle.set_text("")
        return sup
    axes = [ax for ax in fig.axes if ax.get_visible()]
    if len(axes) == 1 and axes[0].get_title():
        t = axes[0].get_title()
        axes[0].set_title("")
        return t
    return ""


def describe(fig) -> str:
    """Alt text: what the figure plots, read from its axes and legend entries."""
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison and (ax.lines or ax.collections or ax.patches)]
    if not axes or not axes[0].get_xlabel():
        return ""  # a diagram, not a plot: its caller says what it shows
    ax = axes[0]
    what = f"{ax.get_ylabel() or 'values'} against {ax.get_xlabel()}"
    panels = [a.get_title() or a.get_ylabel() for a in axes]
    labels = list(dict.fromkeys(t.get_text() for leg in (*fig.legends, *(a.get_legend() for a in axes)) if leg
                                for t in leg.get_texts()))
    return (f"Plot of {what}" + (f", {len(axes)} panels ({'; '.join(p for p in panels if p)})" if len(axes) > 1 else "")
            + (f"; series: {'; '.join(labels)}" if labels else "") + ".")


def show_interactive(svg: str, caption: str):
    """An SVG figure with a tooltip on every point, numbered with the page's other figures."""
    import html

    from IPython.display import HTML
    _FIGURE_NUMBER[0] += 1
    _display(HTML(f'<figure class="dvn-figure dvn-interactive">{svg}<figcaption><strong>Figure {_FIGURE_NUMBER[0]}.'
                  f'</strong> {html.escape(caption)}</figcaption></figure>'))


def show_figure(fig, caption: str | None = None, alt: str | None = None):
    """A figure as an HTML <figure>: the image (embedded, so the page needs no other file), alt text
    that says what it plots, and a numbered caption (``caption``, else the figure's own title)."""
    import base64
    import html
    import io

    import matplotlib.pyplot as plt
    from IPython.display import HTML
    title = figure_title(fig)
    caption = caption or title
    alt = alt or describe(fig) or f"Diagram: {caption}"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    _FIGURE_NUMBER[0] += 1
    data = base64.b64encode(buf.getvalue()).decode()
    _display(HTML(f'<figure class="dvn-figure"><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
                  f'style="max-width:100%"><figcaption><strong>Figure {_FIGURE_NUMBER[0]}.</strong> '
                  f'{html.escape(caption.replace(chr(10), "; "))}</figcaption></figure>'))


def _seeds(n: int) -> str:
    return f"{n} seed{'s' * (n != 1)}"


_NOTED: set = set()  # a page is one kernel: the not-evidence note is shown once per page


def not_evidence_text(profile: str) -> str:
    return (f"**Not evidence: {profile} profile.** The results on this page come from the `{profile}` "
            f"profile, which is not the `{EVIDENCE_PROFILE}` profile the book's verdicts rest on"
            + (" (no `study` results are committed yet)" if not any(results_dir().glob(f"*/{EVIDENCE_PROFILE}/metrics.csv"))
               else "") + ". Read them as a tour of what the study computes, not as its findings.")


def show_profile_note(profile: str | None = None):
    """Say once per page that the results shown are not evidence, unless they are the study's."""
    profile = profile or book_profile()
    if not is_evidence(profile) and profile not in _NOTED:
        _NOTED.add(profile)
        _md(not_evidence_text(profile))


def interim_text(root=None) -> str:
    """While the study's driver has runs left (``results/study.json``: finished and stopped runs
    against those planned), a line for the pages whose verdicts rest on it: they are interim.
    Empty for a complete study, another profile, or no record."""
    if book_profile(root) != EVIDENCE_PROFILE:
        return ""
    study = study_record(root, EVIDENCE_PROFILE)
    planned = (study or {}).get("planned")
    ended = (study or {}).get("runs", 0) + len((study or {}).get("stopped_runs", []))
    if not planned or ended >= planned:
        return ""
    return (f"**Interim verdicts:** the study has {ended} of its {planned} planned method-seed runs so far "
            "(<a href=\"reproducibility.html\">the status table</a> lists them). Each comparison pairs the seeds "
            "both sides have, so these verdicts can change as the rest land.")


def _profile_words(profile: str) -> str:
    return f"{profile} profile" + ("" if is_evidence(profile) else ": not evidence")


def _missing_note(scenario: str, profile: str, methods=(), ablations: bool | None = None) -> str:
    abl = bool(methods) and all(is_ablation(m) for m in methods) if ablations is None else ablations
    there = (results_dir() / scenario / profile / "metrics.csv").is_file()
    return (f"**Not yet available:** `results/{scenario}/{profile}/metrics.csv` "
            + (f"has no rows for {', '.join(methods)}" if methods else
               "holds no finished run yet" if there else "is missing")
            + f". It is produced by `{rerun_command(scenario, profile, ablations=abl)}` (from the repository root;"
              " finished runs are read back, not retrained).")


# --------------------------------------------------------------------------------------------
# Results pages

def show_reported(paper_scenario: str):
    t = reported_table(paper_scenario)
    n = PAPER_TABLES.get(paper_scenario)
    tasks = ", ".join(dict.fromkeys(load_reported().query("scenario == @paper_scenario")["task_name"]))
    show_table(t, f"Reported (paper), Table {n}: {paper_scenario} ({tasks}); accuracy %, single runs, "
                  "backbone as in the paper", "reported")


def _backbone(s: S.Scenario, profile: str) -> str:
    try:
        return s.backbone(profile).name
    except ValueError:
        return f"the {profile} profile's backbone"


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
    show_profile_note(profile)
    shown = [m for m in order_methods(df["method"], wanted) if not is_ablation(m)]
    absent = [m for m in wanted if m not in set(df["method"])]
    if absent:
        _md(_missing_note(scenario, profile, absent))
    d = df[df["method"].isin(shown)]
    n = d["seed"].nunique()
    train = "train_accuracy" in d.columns and d["train_accuracy"].notna().any()
    show_table(ours_table(d, wanted),
               f"Ours: {twin_name(scenario, profile)}, the Fashion-MNIST twin of {twin} ({_backbone(s, profile)}, {_profile_words(profile)}); "
               f"test accuracy % as mean ± 95% interval over {_seeds(n)}, task-aware"
               + ("; in brackets the mean train accuracy %" if train else ""))
    if figure:
        what = f"{twin_name(scenario, profile)} (Fashion-MNIST twin of {twin}): test accuracy against parameter density"
        how = f"ours, {_backbone(s, profile)}, {_profile_words(profile)}; mean and 95% interval over {_seeds(n)}"
        show_figure(density_figure(d, what, methods=shown, subtitle=how))
        show_interactive(density_svg(d, shown), f"Interactive: the same as the figure above ({how}); hover over a "
                         "point for its method, task, level, density, mean, 95% interval and seeds")


def show_ablation(scenario: str, profile: str | None = None, only_if_present: bool = False) -> bool:
    """DVN against its ablations on one scenario (``only_if_present``: say nothing when absent);
    whether anything was shown."""
    profile = profile or book_profile()
    df = load_metrics(scenario, profile)
    have = set(df["method"]) if df is not None else set()
    wanted = ablations_for(scenario)
    abl = [m for m in order_methods(have, wanted) if is_ablation(m)]
    if not ("dvn" in have and abl):
        if not only_if_present:
            _md(_missing_note(scenario, profile, ablations=True) if df is None else
                _missing_note(scenario, profile, [m for m in wanted if m not in have]) if "dvn" in have else
                _missing_note(scenario, profile, ["dvn"]))
        return False
    show_profile_note(profile)
    if only_if_present:
        _md(f"**{scenario}**")
    absent = [m for m in wanted if m not in have]
    if absent:
        _md(_missing_note(scenario, profile, absent))
    d = df[df["method"].isin(("dvn", *abl))]
    n = d["seed"].nunique()
    show_table(ablation_table(d), f"Ablations on {scenario} ({_profile_words(profile)}, {_seeds(n)}): "
                                  "DVN minus ablation, 95% interval of the paired difference; detectable (80% power): "
                                  "the smallest true difference the comparison would find (see the claims page)")
    show_figure(density_figure(d, f"{scenario}: DVN and its ablations, test accuracy against parameter density",
                               methods=["dvn", *abl],
                               subtitle=f"ours, {_profile_words(profile)}; mean and 95% interval over {_seeds(n)}"))
    _md(stopped_text([e for e in stopped_runs(scenario, profile) if e["method"] in ("dvn", *wanted)]))
    return True


def show_other_ablations(scenarios=("FJ3", "FH1"), profile: str | None = None):
    """Ablation runs of twins the study does not ablate, where they exist; a line if none does."""
    if not [sc for sc in scenarios if show_ablation(sc, profile, only_if_present=True)]:
        _md(f"This build has no ablation runs of {' or '.join(scenarios)}.")


# --------------------------------------------------------------------------------------------
# Claims page

_CLAIMS_CACHE: dict = {}


def _cached_claims() -> list[Claim]:
    """``claims()`` once per page (the claims page shows the summary and then each claim)."""
    key = (book_profile(), str(results_dir()))
    if key not in _CLAIMS_CACHE:
        _CLAIMS_CACHE[key] = claims()
    return _CLAIMS_CACHE[key]


def _capacity_words(cap: str, profile: str) -> str:
    return f"{cap} capacity (`{profile}` profile)"


def show_claims_summary():
    """The claims page's opening: per claim, part and capacity, the counts and the verdict with
    the rule that decided it; then DVN minus each peer against capacity."""
    show_profile_note()
    prof = book_profile()
    caps = capacities(prof)
    cl = _cached_claims()
    if interim := interim_text():
        _md(interim)
    show_table(claims_summary(cl, caps), "Claims and the verdicts our results support (computed, not typed; "
               f"{_profile_words(prof)}). S / C / ND: the comparisons supported, contradicted and not "
               "distinguishable after Holm's correction; 'decided by' links the preregistered rule", "claims")
    for cap, p in caps.items():
        if cap != "standard" and not any(cap in c.capacities for c in cl):
            _md(f"**The {cap} capacity has not been run yet:** no `results/FJ1/{p}/metrics.csv` or "
                f"`results/FJ2/{p}/metrics.csv` (the `{p}` profile, FJ1 and FJ2 only). Its columns say 'not run'.")
    t_only = sum(1 for c in cl for x in counted(c.comparisons) if x.claim != "4" and not x.diff.has_bootstrap)
    if t_only:
        _md(f"**{t_only} comparisons rest on the t interval over seeds alone:** their runs kept no per-image "
            "predictions, so the bootstrap over seeds and test images (" + rule_link("intervals") + ") could not "
            "be computed; each such row says so.")
    diffs = peer_differences(cl[2])
    if len(diffs):
        show_figure(capacity_figure(diffs, f"claim 3's comparisons; {_profile_words(prof)}; bars: the wider of the "
                                           "two 95% intervals"))


DETECTABLE_TEXT = (f"**{DETECTABLE}** (each row): the smallest true difference the comparison would have found "
                   "with 80% power at its Holm-adjusted level, given the spread it observed (noncentral t on the "
                   "wider interval's standard error). A true gap smaller than that could have been missed; where it "
                   f"exceeds the margin, the comparison {COULD_NOT}.")


def _verdict_line(c: Claim, cap: str | None, words: str) -> str:
    key = str(c.number)
    comps = counted(c.comparisons, cap, key)
    n = counts(comps)
    could = sum(x.could_not for x in comps)
    parts = "; ".join(f"{p}: {c.verdict(cap, p)}" for p in c.parts() if counted(c.comparisons, cap, p))
    return (f"**Verdict, {words}: {c.verdict(cap)}**, by {rule_link(key)} and {rule_link('words')} "
            f"({n[SUPPORTED]} supported, {n[CONTRADICTED]} contradicted, {n[NOT_DISTINGUISHABLE]} not distinguishable"
            + (f", of which {could} {COULD_NOT}" if could else "") + ")" + (f". Parts: {parts}" if parts else ""))


def show_claim(n: int):
    c = _cached_claims()[n - 1]
    if n == 4:
        if not c.comparisons:
            _md(f"**Not yet measured:** no J2 timings in `results/bench/inference.csv` (`{BENCH_COMMAND}`).")
            return
        lines = [_verdict_line(c, None, "ONNX Runtime at one thread, the deciding engine")]
        if not counted(c.comparisons):
            lines.append("**The deciding engine was not timed**: the benchmark's `inference.csv` has no ONNX Runtime "
                         f"rows at one thread, so claim 4 is not tested (`{BENCH_COMMAND}`).")
        _md("  \n".join(lines))
        show_table(comparisons_table(c.comparisons, unit="x"), "Claim 4: every level's speed-up over the full "
                   "network, the full network's median time over the level's (results/bench/inference.csv), its 95% "
                   "interval a bootstrap over whole rounds; paper: Table 2, a TITAN Xp GPU. Only ONNX Runtime at one "
                   "thread decides; every other engine is shown, not deciding", "claim")
        return
    lines = []
    for cap, prof in c.capacities.items():
        lines.append(_verdict_line(c, cap, _capacity_words(cap, prof)) + f". Tested at: {c.scale[cap]}")
        if c.missing.get(cap):
            lines.append(f"Missing at the {cap} capacity (not counted): "
                         + "; ".join(f"{tw}: `{rerun_command(tw, prof)}`" for tw in c.missing[cap]))
    if n == 1:
        ctrl = [x for x in c.comparisons if x.claim == "control"]
        if ctrl:
            v = combine(x.verdict for x in ctrl if x.made)
            lines.append(f"**Negative control** ({label('dvn-shared-bn')}, FJ1, the same rule): {v}. "
                         + ("Claim 1's test can fail: the rule contradicts a network known to be broken." if v ==
                            "contradicted" else "It is not contradicted, so **claim 1's test is reported as unable to "
                            "fail**: the rule does not tell a known-broken network from a working one."))
            for cap, prof in c.capacities.items():
                lines.append(stopped_text([e for e in stopped_runs("FJ1", prof) if e["method"] == "dvn-shared-bn"],
                                          f" (the negative control, {cap} capacity; its worst seeds are left out, "
                                          "which can only make it harder to contradict)"))
    if n == 5:
        lines.append(_beside_5(c))
    _md("  \n".join(l for l in lines if l))
    if c.comparisons:
        if any(x.made for x in c.comparisons):  # no figure of comparisons none of which was made
            axis = {"xlabel": "the level's speed-up over the full network (x)", "reference": 1.0} if n == 4 else {}
            what = ("the level's speed-up over the full network (ratio of median times)" if n == 4 else
                    "DVN − other in points (claim 2: DVN's loss from all units to one unit minus the baseline's)")
            show_figure(forest_figure(c.comparisons, **axis), f"Claim {n}, every comparison made ({_profile_words(book_profile())}), "
                        f"a panel per capacity: {what}, the wider of its two 95% intervals, and the boundary it is tested "
                        "against (black tick); filled: supported, open: not distinguishable, cross: contradicted; faded: "
                        "shown, not counted; an arrow: the interval runs past the axis, which the counted comparisons "
                        "set. Tested at: "
                        + ("; ".join(f"{cap} capacity, {where}" for cap, where in c.scale.items())
                           or "the benchmark, on this CPU (the cost page)"),
                        f"Forest plot of the {sum(x.made for x in c.comparisons)} comparisons of claim {n}: a row each, "
                        "a point with its interval and a tick at its boundary")
        show_table(comparisons_table(c.comparisons), f"Claim {n}: every comparison behind the verdicts (ours: "
                   "mean ± 95% t interval over seeds; differences DVN − other in points, paired by seed, and by "
                   "test image where the runs kept their predictions; reported (paper): single runs on the "
                   "original datasets)", "claim")
        _md(DETECTABLE_TEXT)


def _beside_5(c: Claim) -> str:
    """What 5b and 5c owe to the ablations the page shows beside them, each through the same rule."""
    out = []
    for part in ("5b", "5c"):
        for name, words in BESIDE_5.items():
            shown = [x for x in c.comparisons if x.claim == part and x.family.startswith(f"5-{name}/") and x.made]
            if shown:
                v = combine(x.verdict for x in shown)
                differs = name.startswith("dvn-") and v != c.verdict("standard", part)
                out.append(f"{part} with {words}: {v}" + (" (it differs: " + part + "'s verdict depends on the "
                                                          "function-preserving expansion)" if differs else ""))
    return ("**Shown beside 5b and 5c, not counted:** " + "; ".join(out) + ".") if out else ""


def _from_results(profile: str | None, make, what: str):
    """``make(data)`` from the book's results at ``profile`` (default: the book's), with the
    profile's note above it: ``(profile, data, table)``; None, said on the page, when it is empty."""
    profile = profile or book_profile()
    data = book_data(profile)
    table = make(data)
    if table.empty:
        _md(f"**No {what} yet** for the {profile} profile.")
        return None
    show_profile_note(profile)
    return profile, data, table


def show_precision(profile: str | None = None):
    """How finely the study resolves DVN's outputs: the 95% half-widths, against the target."""
    got = _from_results(profile, precision, "DVN results")
    if got is None:
        return
    profile, data, p = got
    med = median_half_width(data)
    show_table(p.drop(columns=["values"]), f"Precision of DVN's outputs ({_profile_words(profile)}): 95% half-width "
               "of the test accuracy over seeds, per scenario", "precision")
    if med != med:  # one seed per output: no interval yet
        _md(f"**Median 95% half-width over the DVN outputs: not yet computable** (one seed per output; an interval "
            f"needs two). Target: at most {PRECISION_TARGET:.1f} points.")
        return
    _md(f"**Median 95% half-width over the DVN outputs: {med:.2f} points** over {sum(p['DVN outputs'])} outputs "
        f"(target: at most {PRECISION_TARGET:.1f}; {'met' if med <= PRECISION_TARGET else 'missed'}).")


# --------------------------------------------------------------------------------------------
# Study page

def show_twins(profile: str | None = None):
    profile = profile or book_profile()
    show_table(twins_table(profile=profile), "The Fashion-MNIST twins as dvnlib.scenarios defines them (a row per "
               "task; stride: the task's input layer's, which brings every task to one feature size)", "study")
    for sc, s in S.SCENARIOS.items():
        if s.twin_of and s.notes:
            _md(f"**{sc}:** {s.notes}")


def show_curves():
    """The learning curves (``results/<twin>/curves/curve.csv``) and the budgets they give."""
    curves = load_curves()
    if curves is None:
        _md("**Not yet computed:** no learning curves under `results/<twin>/curves/curve.csv` "
            f"(e.g. `{curves_path('FJ1').relative_to(results_dir().parent)}`). The study's budget is chosen from them.")
        return
    for sc in dict.fromkeys(curves["scenario"]):
        c = curves[curves["scenario"] == sc]
        n = c["seed"].nunique()
        show_figure(curves_figure(c, sc, f"mean over {_seeds(n)}" + ("; band: 95% interval of test accuracy over seeds"
                                                                        if n > 1 else "; one seed, so no interval")))
    show_table(budget_table(curves), "Budget from the curves: the smallest number of SGD steps whose doubling adds "
               "less than 1 point of mean test accuracy, and train against test at the largest budget", "curves")


def show_convergence(profile: str | None = None):
    """Train against test accuracy of every run the book renders: a figure and a table."""
    got = _from_results(profile, convergence_table, "results with train accuracy")
    if got is None:
        return
    profile, data, t = got
    show_figure(convergence_figure(data, _profile_words(profile)))
    show_table(t, f"At the training budget ({_profile_words(profile)}): test and train accuracy over every output and seed "
               "of each method, and the train − test gap", "convergence")


def show_fh1_anchor():
    """FH1's accuracy anchor: the probes that set its budget and the study's result."""
    probes, study = load_anchor(), load_metrics("FH1", EVIDENCE_PROFILE)
    if probes is None and study is None:
        _md("**Not yet computed:** neither `results/FH1/anchor/` nor `results/FH1/study/metrics.csv` is there.")
        return
    rec = load_records("FH1", EVIDENCE_PROFILE, "dvn")
    steps = rec.loc[rec["task"] == 2, "steps"].max() if rec is not None else None
    facts = run_facts("FH1", EVIDENCE_PROFILE)
    settings = f"{images_text(facts)}, {epochs_text(facts)} (its records)" if facts else "—"
    show_table(fh1_anchor_table(probes, study, steps, settings), f"FH1's anchor: DVN's top level on the 10-way fine task, test accuracy "
               f"against the required {FH1_ANCHOR:g}%, in the probes that set FH1's budget and in the study", "anchor")


def show_finetune_sweep(profile: str = "study"):
    """The sweep behind the starting rate of every method that fine-tunes a trained network
    (``results/FS1/sweep/finetune.csv``), the study profile's setting marked."""
    f = results_dir() / "FS1" / "sweep" / "finetune.csv"
    if not f.is_file():
        _md("**Not yet computed:** `results/FS1/sweep/finetune.csv` is missing (`python scripts/sweep_finetune.py`).")
        return
    df = read_csv(f, dtype={"units": str})
    try:
        p = S.get("FS1").profile(profile)
        chosen = (p.finetune_lr_scale, p.warmup)
    except (ValueError, AttributeError):
        chosen = None
    show_table(finetune_table(df, chosen), "Fine-tuning sweep on FS1: per starting-rate scale and warm-up, each "
               "method's mean output accuracy over its outputs and seeds, the old task's beside it, and the score "
               f"(their mean), best first; 'chosen': the {profile} profile's setting", "method")


# --------------------------------------------------------------------------------------------
# Cost page

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
    else:  # the headline engine first, then the others timed beside it (ONNX Runtime)
        head = ((meta or {}).get("engine") or {}).get("name")
        lv = lv.iloc[sorted(range(len(lv)), key=lambda i: lv["engine"].iloc[i] != head)]  # stable
    for sc, source in (("J2", "Table 2"), ("J1", "Section 4.3")):
        ours = lv[lv["scenario"] == sc] if lv is not None else None
        measured = ours is not None and len(ours)
        engines = list(dict.fromkeys(ours["engine"])) if measured else []
        engine = (f", engine{'s' * (len(engines) > 1)} " + " and ".join(engine_label(e) for e in engines)
                  + (" (the headline engine first)" if len(engines) > 1 else "")) if measured else ""
        show_table(table2(lv, sc),
                   f"{source}, {sc}: reported (paper) beside ours ({timed(meta, sc)}{engine}); level l(i) uses "
                   "i units. Ours: median ms per image; speed-up = the full network's median time over the level's, "
                   "in brackets its 95% bootstrap interval over whole rounds (`timing.speedup`)", "cost")
        if lv is not None and not measured:
            _md(f"The benchmark in `results/bench/` timed no level of {sc}.")
        if sc == "J2" and measured:
            show_figure(speedup_figure(lv, sc, f"ours: {timed(meta, sc)}{engine}, {(meta or {}).get('device', '')}"))


def show_bench_targets():
    t = load_bench_table("targets")
    if t is None:
        _md(_not_measured("tables/targets.csv"))
        return
    show_table(targets_table(t), "The benchmark issue's targets with our figures (results/bench/tables/targets.csv)",
               "targets")
    missed = t[~t["met"].astype(bool)]
    _md(f"**{len(missed)} of {len(t)} targets missed:** " + "; ".join(
        f"{r['target']}: ours {fmt_target(r['target'], r['value'])}" for _, r in missed.iterrows()) + "."
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
                   f"Inference: every engine on {sweep} ({timed(meta, sweep)}), all timed in the same rounds "
                   "(results/bench/tables/levels.csv); ONNX Runtime: the BN-folded level exported to ONNX, run "
                   "by ONNX Runtime's CPU provider. Median ms per image; full network vs plain: the plain "
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


# --------------------------------------------------------------------------------------------
# Reproducibility page

def show_status():
    prof = book_profile()
    show_table(status(), f"Results the book renders ({_profile_words(prof)}, from {results_dir()})", "status")


def study_text(study: dict) -> str:
    """What the study driver's record (``results/study.json``) says of the study: runs done of
    those planned, wall time summed over the driver's invocations, run time, hardware, versions."""
    hw, v, git = study.get("hardware", {}), study.get("versions", {}), study.get("git", {})
    inv = study.get("invocations", [])
    # the record's arms are (twin, profile); an older record names its twins and one profile
    arms = study.get("arms") or [(sc, study.get("profile", "study")) for sc in study.get("scenarios", [])]
    facts = [f for sc, prof in arms if (f := run_facts(sc, prof))]
    threads = threads_text({"threads": sorted({t for f in facts for t in f["threads"]})})
    wall = (f"**{study['wall_seconds_total'] / 3600:.1f} hours** of wall time over {len(inv)} invocation"
            f"{'s' * (len(inv) != 1)} of the driver (up to {max(i['workers'] for i in inv)} worker processes; "
            f"the runs' records: {threads}) and " if inv and "wall_seconds_total" in study else "")
    # The driver counts the runs it plans (run_study.methods_for); a record written before it did
    # says only how many are done.
    profiles = str(study.get("profile", "?")).split("+")
    name = (f"`{profiles[0]}` profile's study" if len(profiles) == 1 else
            "study (profiles " + " and ".join(f"`{p}`" for p in profiles) + ")")
    runs, planned = study.get("runs", 0), study.get("planned")
    halted = len(study.get("stopped_runs", []))
    ended = f"{runs} finished and {halted} stopped by the training guard" if halted else f"{runs}"
    what = (f"The {name} ({ended} method-seed runs) took" if planned is None or runs + halted >= planned else
            f"The {name}, so far ({ended} of its {planned} method-seed runs; the driver resumes the rest), took")
    return (f"{what} {wall}**{study.get('run_wall_seconds_total', 0) / 60:.0f} minutes** of run time "
            f"({study.get('run_train_seconds_total', 0) / 60:.0f} minutes of it training) on {hw.get('cpu', '?')} "
            f"({hw.get('cpu_count', '?')} cores), torch {v.get('torch')}, commit `{(git.get('commit') or '?')[:10]}`."
            + wall_target_text(study) + preregistration_text(study))


STUDY_WALL_TARGET_HOURS = 9.0  # the study's target: all of it within this much wall time on a 2-core CPU


def wall_target_text(study: dict) -> str:
    """The preregistered study's wall time against ``STUDY_WALL_TARGET_HOURS``: met or missed, or,
    while runs are left, where the pace so far (wall time per run ended) puts it; empty for another
    profile's record or one without the counts."""
    planned, inv = study.get("planned"), study.get("invocations", [])
    if "study" not in str(study.get("profile", "")).split("+") or not planned or "wall_seconds_total" not in study:
        return ""
    hours, ended = study["wall_seconds_total"] / 3600, study.get("runs", 0) + len(study.get("stopped_runs", []))
    target = f"the target of {STUDY_WALL_TARGET_HOURS:g} hours of wall time for the whole study"
    if ended >= planned:
        return f" That {'meets' if hours <= STUDY_WALL_TARGET_HOURS else '**misses**'} {target}."
    if not ended:
        return ""
    at_pace = hours * planned / ended
    return (f" At the pace so far ({hours:.1f} hours for {ended} of {planned} runs), the whole study takes about "
            f"{at_pace:.0f} hours: {'within' if at_pace <= STUDY_WALL_TARGET_HOURS else '**over**'} {target}.")


def preregistration_text(study: dict) -> str:
    """Whether every run of the study finished after the preregistration's first commit, as the
    driver's record (``preregistration``, ``finished_runs``) says; empty for a record without them."""
    from datetime import datetime
    prereg, runs = study.get("preregistration"), study.get("finished_runs")
    if not prereg or runs is None:
        return ""
    cut = datetime.fromisoformat(prereg["committed"])
    early = [r for r in runs if not r.get("finished") or datetime.fromisoformat(r["finished"]) < cut]
    earlier = study.get("earlier_invocations", [])
    when = f"`{prereg['commit'][:10]}`, {cut:%Y-%m-%d %H:%M} UTC"
    text = (f" The wall time counts from the preregistration's first commit ({when})"
            + (f"; {len(earlier)} earlier invocation{'s' * (len(earlier) != 1)} of the driver trained the first "
               f"study's design and {'are' if len(earlier) != 1 else 'is'} not counted" if earlier else "") + ". ")
    if early:
        named = ", ".join(f"{r['twin']} {r['profile']} {r['method']} seed {r['seed']}" for r in early[:5])
        return text + (f"**{len(early)} of the {len(runs)} finished runs did not finish after it** ({named}"
                       f"{', ...' if len(early) > 5 else ''}): they are not evidence for the preregistered rules.")
    if not runs:
        return text + "No run of the study has finished under the current code yet."
    return text + f"Every one of the {len(runs)} finished runs finished after it (its record's time)."


def retrain_text(df: pd.DataFrame | None = None) -> str:
    """What retraining study runs elsewhere showed (``records.retrain_check``), a sentence per
    retrained run: on the same kind of CPU as the study's run or another, and whether every
    accuracy and every test image's prediction came out the same. A retrained run of other code
    than the study run's is named as not compared. Empty when nothing was retrained."""
    df = retrain_check() if df is None else df
    if df.empty:
        return ""
    out = []
    for (name, sc, method, seed), g in df.groupby(["retrained as", "scenario", "method", "seed"], sort=False):
        run = f"{sc} {method} seed {seed} (`results/{RETRAINED}/{name}/`)"
        if (g["note"] != "").all():
            out.append(f"{run} is not compared: {g['note'].iloc[0]}; rerun its command to check the current code.")
            continue
        theirs, mine = g["trained on"].iloc[0], g["retrained on"].iloc[0]
        where = (f"on the same kind of CPU as the study's run ({mine})" if theirs == mine
                 else f"on {mine}, the study's run on {theirs}")
        changed = g["test images predicted differently"] / g["test images"]
        if (g["difference"] == 0).all() and (changed == 0).all():
            out.append(f"{run}, retrained {where}, gave every accuracy and every test image's prediction of its "
                       f"{len(g)} output{'s' * (len(g) != 1)} unchanged: bit-reproduced.")
        else:
            out.append(f"{run}, retrained {where}, changed its accuracies by {num(g['difference'].abs().min())} "
                       f"to {num(g['difference'].abs().max())} points and its prediction on {changed.min():.1%} "
                       f"to {changed.max():.1%} of the test images: the same training, rounded otherwise, is a "
                       "different draw.")
    return " ".join(out)


def show_retrain_check():
    df = retrain_check()
    if df.empty:
        _md(f"**Nothing retrained elsewhere yet** (`results/{RETRAINED}/` is empty).")
        return
    _md(retrain_text(df))
    # a column that says nothing here: one profile throughout, or no retrained run with a note
    quiet = [c for c in ("profile",) if (df[c] == df[c].iloc[0]).all()] + (["note"] if (df["note"] == "").all() else [])
    show_table(df.drop(columns=quiet),
               f"Study runs retrained, against the study's own (results/{RETRAINED}/)", "repro")


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
        _md(study_text(study))


# --------------------------------------------------------------------------------------------
# Intro and limitations

def show_verdict_table():
    """The intro's one-screen table: each claim's verdict, why, where tested, and its section."""
    show_profile_note()
    prof = book_profile()
    if interim := interim_text():
        _md(interim)
    show_table(verdict_table(_cached_claims(), capacities(prof)),
               f"What the study found: each claim of the paper and the verdict our results support ("
               f"{_profile_words(prof)}; computed from the results when the book was built, by the preregistered "
               "rules). Each claim links its section of the claims page", "verdicts")
    bare = without_predictions(prof)
    if bare:
        _md(f"**These verdicts rest on runs that predate the preregistration** ({', '.join(bare)}: no per-image "
            "predictions, so their intervals cover the seeds only). The study is being recomputed under the "
            "preregistered design, and this table will then be computed from those runs "
            "(<a href=\"limitations.html\">limitations</a>).")


def show_paper_map():
    show_table(paper_map_table(), "The paper's tables and figures, the twin this book sets beside each, and "
               "its page", "map")


def limitations_text(profile: str | None = None) -> str:
    """The limitations page's list, every figure in it read from the results it describes."""
    profile = profile or book_profile()
    top = ceiling(profile)
    nets = backbones(profile)
    curves = curve_seeds()
    facts = [run_facts(sc, profile) for sc in nets]
    threads = sorted({t for f in facts for t in f["threads"]})
    meta = load_bench_meta() or {}
    untested = not_compared()
    bare = without_predictions(profile)
    out = []
    if len(top):
        best = top.set_index("twin")["best mean output %"]
        out.append("**Fashion-MNIST is near its ceiling.** The best mean output reaches "
                   + ", ".join(f"{v}% on {sc}" for sc, v in best.items())
                   + ": every method's accuracy is squeezed into a few points, so many comparisons cannot "
                     "separate methods (the claims page says which *could not have failed or passed*).")
    if nets:
        by_net: dict[str, list[str]] = {}
        for sc, n in nets.items():
            by_net.setdefault(n, []).append(sc)
        out.append("**Small backbones, not the paper's.** Our runs use "
                   + "; ".join(f"{n} ({', '.join(scs)})" for n, scs in by_net.items())
                   + ", where the paper trains WRN-32-4 (J1, H1, S1; S2: WRN-32-8) and ResNet-42 (J2, J3). "
                     "Only the cost page's timings use the paper's networks at full size.")
    out.append("**CPU timings against the paper's GPU.** Claim 4 is decided on "
               + (f"{meta.get('device')} ({str(meta.get('date', '?'))[:10]})" if meta else "a CPU (not measured in "
                  "this build)") + f", with ONNX Runtime at one thread; the paper timed a {PAPER_HARDWARE}. Times "
               "compare only as ratios, and ratios on a CPU need not match a GPU's.")
    if untested:
        out.append("**Not compared:** " + "; ".join(f"{p} ({why})" for p, why in untested.items())
                   + ". No number of ours is set against these.")
    if curves:
        few = max(curves.values())
        out.append(f"**Learning curves on {'one seed' if few == 1 else f'at most {few} seeds'}.** The training "
                   "budget behind every run comes from curves with "
                   + ", ".join(f"{n} seed{'s' * (n != 1)} on {sc}" for sc, n in curves.items())
                   + ("; it is chosen without an interval over seeds." if few == 1 else
                      "; its interval over so few seeds is wide."))
    if threads:
        machines = sorted({m for f in facts for m in f.get("machines", [])})
        out.append(f"**Bit-reproducible at the recorded thread count, on the same kind of CPU, only.** The runs' "
                   f"records say {' or '.join(map(str, threads))} torch thread{'s' * (threads != [1])} per run; at "
                   "another count, or on a CPU with other vector instructions (AVX-512 against AVX2), torch runs "
                   "other kernels, which round differently. " + retrain_text()
                   + (f" The current runs were trained on {len(machines)} kinds of machine ({'; '.join(machines)}), "
                      "each run's record naming its own: a comparison paired by seed then pairs two draws of "
                      "the same initialisation and batch order, not two identical trainings, which widens its "
                      "t interval rather than shifting it." if len(machines) > 1 else ""))
    if bare:
        out.append(f"**The committed study predates the preregistration.** Its runs of {', '.join(bare)} kept no "
                   "per-image predictions, so their comparisons rest on the t interval over seeds alone; the "
                   "study is being recomputed under the preregistered design (narrow capacity, J3's data sizes, "
                   "per-image predictions), and the verdicts will be recomputed from it.")
    return "\n".join(f"- {line}" for line in out)


def show_limitations():
    show_profile_note()
    _md(limitations_text())


def show_configuration(profile: str | None = None):
    """How the rendered profile's runs were configured, from their records."""
    profile = profile or book_profile()
    t = configuration_table(profile)
    if t.empty:
        _md(f"**No run records yet** for the {profile} profile.")
        return
    show_table(t, f"What the {profile} profile's runs recorded (each twin's run.json and per-run records): the "
               "configuration they actually ran, whatever the registry now says", "config")
