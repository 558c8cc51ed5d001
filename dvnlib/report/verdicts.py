"""The preregistered decision rules (``book/preregistration.md``), as code: one comparison's verdict,
Holm's correction over a family, density matching, and a claim's verdict over its comparisons.

Which comparisons each claim makes is ``claims``; the statistics (both intervals, p-values,
detectable differences) are ``stats``. The rules, each with the section of the page that fixes it
(``RULES``, linked from every verdict the book shows):

* a comparison tests DVN − other (or claim 4's speed-up) against a boundary b in the claim's
  direction: b = 0 for "beats", minus the margin for "matches" and "comparable", the paper's
  value for claim 4. Its p-value is the larger of the t test's and the bootstrap's;
* within a family (a claim at one capacity; claim 4's six comparisons), the p-values are corrected
  by Holm's step-down procedure at a family-wise 5%;
* **supported**: the corrected test rejects in the claim's direction; **contradicted**: it rejects
  in the other; **not distinguishable**: neither, shown with the detectable difference at the
  comparison's Holm-adjusted level; where that exceeds the margin, the comparison **could not
  have failed or passed**;
* a claim or part over several comparisons is supported when all are, contradicted when any is,
  partly supported when some are supported and none contradicted, not distinguishable otherwise;
* DVN is represented by its largest level whose parameters are at most the other output's times
  ``DENSITY_SLACK``; when none fits, the comparison is not made and is in no count.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from .numbers import interval, num, p_value
from .stats import ALPHA, LEVEL, Difference, holm

SUPPORTED, CONTRADICTED, NOT_DISTINGUISHABLE = "supported", "contradicted", "not distinguishable"
PARTLY = "partly supported"
VERDICTS = (SUPPORTED, CONTRADICTED, NOT_DISTINGUISHABLE)  # of one comparison
CLAIM_VERDICTS = (SUPPORTED, CONTRADICTED, PARTLY, NOT_DISTINGUISHABLE)  # of a claim or a part
NOT_TESTED = "not tested"
COULD_NOT = "could not have failed or passed"
NO_FIT = "no DVN level fits"
DENSITY_SLACK = 1.02  # DVN may exceed the other output's parameters by rounding only, at most 2%
MATCH_MARGIN = 1.0  # points: claim 2's margin, and claim 3's "comparable" and "matches"
DETECTABLE = "detectable (80% power, Holm level)"

PREREGISTRATION = "preregistration.html"
RULES = {  # rule -> (anchor of its section on the preregistration page, words)
    "1": ("claim-1-k-x-n-h-working-classifiers-from-one-training-run", "claim 1's rule"),
    "2": ("claim-2-a-stand-alone-unit-loses-little", "claim 2's rule"),
    "3": ("claim-3-at-matched-density-dvn-beats-nestednet-and-packnet-and-matches-the-baselines",
          "claim 3's table"),
    "4": ("claim-4-lower-levels-run-faster", "claim 4's rule"),
    "5": ("claim-5-hierarchical-and-sequential-learning", "claim 5's rule"),
    "words": ("verdict-words", "the verdict words"),
    "density": ("density-matching", "density matching"),
    "intervals": ("how-a-difference-is-estimated", "how a difference is estimated"),
}


def rule_link(rule: str, text: str | None = None) -> str:
    """An HTML link to the section of the preregistration page that fixes ``rule``."""
    anchor, words = RULES[rule]
    return f'<a href="{PREREGISTRATION}#{anchor}">{text or words}</a>'


@dataclass
class Comparison:
    """One preregistered comparison and, once ``decide`` has run over its family, its verdict.
    ``diff`` is None when the comparison is not made (``note`` says why: ``NO_FIT``, a missing
    output); it is then in no count. ``condition`` is claim 1's second test, the DVN output's own
    interval against chance: "above", "inside" or "below". ``counted`` is False for what the page
    shows beside a claim without counting it (the negative control, ablations)."""
    claim: str  # "1", "2", "3a", ..., "5c"
    capacity: str
    family: str  # Holm's family
    twin: str
    what: str
    diff: Difference | None
    margin: float | None = None  # points, for the rules with one
    counted: bool = True
    note: str = ""
    condition: str | None = None
    columns: dict = field(default_factory=dict)  # what a table shows beside the statistics
    versus: str = ""  # the other method, where there is one
    p_holm: float = math.nan
    p_holm_floor: float = 0.0  # what a Holm-adjusted p of 0 stands for (``Difference.p_floor``)
    level: float = math.nan  # the two-sided confidence of its Holm-adjusted test
    detectable: float = math.nan
    verdict: str = ""

    @property
    def made(self) -> bool:
        return self.diff is not None

    @property
    def could_not(self) -> bool:
        """Not distinguishable, and the detectable difference exceeds the margin."""
        return (self.verdict == NOT_DISTINGUISHABLE and self.margin is not None
                and not self.detectable <= self.margin)


def verdict(diff: Difference, p_holm: float, condition: str | None = None) -> str:
    """One comparison's verdict from its Holm-adjusted p-value and the side of the boundary its
    estimate lies on; claim 1's ``condition`` (the output's interval against chance) must also be
    "above" for it to be supported, and "below" contradicts it."""
    if condition == "below":
        return CONTRADICTED
    if p_holm <= ALPHA:
        if diff.mean < diff.boundary:
            return CONTRADICTED
        if diff.mean > diff.boundary and condition in (None, "above"):
            return SUPPORTED
    return NOT_DISTINGUISHABLE


def decide(comparisons: list[Comparison]) -> list[Comparison]:
    """Holm's correction within each family, then each made comparison's verdict and detectable
    difference (at its Holm-adjusted level); a comparison not made keeps its note as verdict."""
    families: dict[str, list[Comparison]] = {}
    for c in comparisons:
        if c.made:
            families.setdefault(c.family, []).append(c)
        else:
            c.verdict = c.note or NO_FIT
    for fam in families.values():
        adjusted, levels = holm([c.diff.p for c in fam])
        # the bound a p of 0 stands for, carried through the same correction (shown, never decided by)
        floors, _ = holm([max(c.diff.p, c.diff.p_floor) for c in fam])
        for c, p, a, f in zip(fam, adjusted, levels, floors):
            c.p_holm, c.p_holm_floor = p, f
            c.level = 1 - a if a == a else LEVEL
            c.detectable = c.diff.detectable(c.level)
            c.verdict = verdict(c.diff, p, c.condition)
    return comparisons


def combine(verdicts) -> str:
    """A claim's (or part's) verdict over its comparisons' verdicts."""
    v = [x for x in verdicts if x in VERDICTS]
    if not v:
        return NOT_TESTED
    if CONTRADICTED in v:
        return CONTRADICTED
    if all(x == SUPPORTED for x in v):
        return SUPPORTED
    return PARTLY if SUPPORTED in v else NOT_DISTINGUISHABLE


def counted(comparisons, capacity: str | None = None, claim: str | None = None) -> list[Comparison]:
    """The made, counted comparisons (of one capacity and claim or part, where given): the ones a
    claim's verdict and counts rest on. A part ("3a") is selected by its own name, a claim ("3")
    by its number."""
    return [c for c in comparisons if c.made and c.counted and (capacity is None or c.capacity == capacity)
            and (claim is None or c.claim == claim or c.claim.rstrip("abcde") == claim)]


def counts(comparisons) -> dict[str, int]:
    """How many of ``comparisons`` got each verdict word."""
    v = [c.verdict for c in comparisons]
    return {w: v.count(w) for w in VERDICTS}


def matched_level(dvn: pd.DataFrame, other_params: float):
    """DVN's largest level (a row of ``dvn``, one task's levels with ``params``) whose parameter
    count does not exceed ``other_params`` times ``DENSITY_SLACK``; None if no level fits."""
    fits = dvn[dvn["params"] <= other_params * DENSITY_SLACK]
    return None if fits.empty or not other_params > 0 else fits.loc[fits["params"].idxmax()]


# --------------------------------------------------------------------------------------------
# As a table

def _num(x: float, unit: str = "") -> str:
    return num(x, unit=unit) if unit else num(x, signed=True)


def _interval(low: float, high: float, unit: str = "") -> str:
    return interval(low, high, unit=unit, signed=not unit)


def verdict_text(c: Comparison) -> str:
    """A comparison's verdict as the page shows it, with what qualifies it."""
    if not c.made:
        return f"not made: {c.verdict}"
    words = c.verdict + (f" ({COULD_NOT})" if c.could_not else "")
    if not c.counted:
        words += f" ({c.note or 'shown, not counted'})" if c.claim == "4" else " (shown, not counted)"
    return words


def rule_of(c: Comparison) -> str:
    """The rule that decided a comparison, as a link to its section of the preregistration."""
    if not c.made and c.verdict == NO_FIT:
        return rule_link("density")
    return rule_link(c.claim[0] if c.claim[0] in "12345" else "1")


def comparisons_table(comparisons: list[Comparison], unit: str = "") -> pd.DataFrame:
    """Every comparison in a row: what was compared, the difference (``unit`` "x" for a ratio),
    both intervals, the p-values, the detectable difference, the verdict and its rule."""
    rows = []
    for c in comparisons:
        d = c.diff
        row = {"capacity": c.capacity, "part": c.claim, "twin": c.twin, "comparison": c.what, **c.columns}
        if d is None:
            row.update({"difference": "—", "95% t, seeds": "—", "95% bootstrap": "—", "p, larger → Holm": "—",
                        DETECTABLE: "—"})
        else:
            row.update({"difference": _num(d.mean, unit), "95% t, seeds": _interval(d.t_low, d.t_high, unit),
                        "95% bootstrap": _interval(d.boot_low, d.boot_high, unit) if d.has_bootstrap
                        else f"— ({c.note})" if c.note and c.claim != "4" else "—",
                        "p, larger → Holm": f"{p_value(d.p, d.p_floor)} → {p_value(c.p_holm, c.p_holm_floor)}",
                        DETECTABLE: _num(c.detectable, unit).lstrip("+")})
        row.update({"verdict": verdict_text(c), "rule": rule_of(c)})
        rows.append(row)
    out = pd.DataFrame(rows).fillna("—")
    if unit == "x":  # claim 4: its batch and level columns already say what "comparison" would
        out = out.drop(columns="comparison").rename(columns={"difference": "speed-up"})
    for col in ("capacity", "part", "95% t, seeds"):  # drop what says nothing here
        if col in out and (out[col].nunique() <= 1 and col != "95% t, seeds" or (out[col] == "—").all()):
            out = out.drop(columns=col)
    return out
