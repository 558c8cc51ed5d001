"""Statistics over seeds: means with exact Student-t intervals, differences paired by seed, and
the smallest difference a comparison could have detected.

Every interval is two-sided at 95% with the exact t quantile for its degrees of freedom
(``scipy.stats.t``), for any number of seeds. Two methods of one scenario share seeds and data (a
seed fixes the initialisation and the batch order; the images are the same for every seed), so
they are compared seed by seed: the interval is the t interval of the per-seed differences.
Samples that share fewer than two seeds fall back to Welch's interval, with its fractional
degrees of freedom.

"Detectable" (``mdd``) is a power-based minimal detectable difference: the smallest true
difference that the same test (two-sided, 5%) would find with 80% power, given the observed
seed-to-seed spread, from the noncentral t distribution. It is larger than the interval's
half-width, which is the difference detected with only 50% power.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import optimize
from scipy import stats as st

from .sources import KEYS

LEVEL = 0.95  # two-sided confidence of every interval
POWER = 0.80  # power of the minimal detectable difference


def t_quantile(dof: float, q: float = 0.5 + LEVEL / 2) -> float:
    """The exact Student-t quantile (0.975 by default: a two-sided 95% interval); NaN without a
    positive, finite number of degrees of freedom."""
    if dof != dof or dof <= 0 or math.isinf(dof):
        return math.nan
    return float(st.t.ppf(q, dof))


def mdd(se: float, dof: float, power: float = POWER, level: float = LEVEL) -> float:
    """The smallest true difference a two-sided t test at ``1 - level`` detects with probability
    ``power``, for a standard error ``se`` on ``dof`` degrees of freedom (noncentral t)."""
    if se != se or dof != dof or dof <= 0:
        return math.nan
    if se == 0:
        return 0.0
    c = t_quantile(dof, 0.5 + level / 2)

    def shortfall(nc: float) -> float:
        # P(T > c) + P(T < -c); the lower tail as P(T' > c) at -nc, by symmetry (scipy's nct.cdf
        # returns NaN far in that tail)
        return float(st.nct.sf(c, dof, nc) + st.nct.sf(c, dof, -nc)) - power
    hi = c + 1.0
    while shortfall(hi) < 0:  # power grows with the noncentrality: widen until it brackets
        hi *= 2
    nc = optimize.brentq(shortfall, 0.0, hi, xtol=1e-10)
    return float(nc * se)


@dataclass(frozen=True)
class Estimate:
    """A mean over seeds (or of per-seed differences) with its 95% half-width, sample size and
    minimal detectable difference; ``paired`` says how a difference was formed."""
    mean: float
    half: float
    n: int
    mdd: float = math.nan
    paired: bool = True

    def __iter__(self):  # ``mean, half, n = mean_ci(x)``
        return iter((self.mean, self.half, self.n))


def mean_ci(values) -> Estimate:
    """Mean, exact 95% t half-width (NaN for one value), count and detectable difference."""
    v = pd.Series(values, dtype=float).dropna()
    n = len(v)
    if n == 0:
        return Estimate(math.nan, math.nan, 0)
    if n == 1:
        return Estimate(float(v.iloc[0]), math.nan, 1)
    se = float(v.std(ddof=1)) / math.sqrt(n)
    return Estimate(float(v.mean()), t_quantile(n - 1) * se, n, mdd(se, n - 1))


def welch_ci(a, b) -> Estimate:
    """Difference of means a - b with Welch's 95% interval (independent samples)."""
    a, b = pd.Series(a, dtype=float).dropna(), pd.Series(b, dtype=float).dropna()
    diff = float(a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return Estimate(diff, math.nan, min(len(a), len(b)), paired=False)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Estimate(diff, 0.0, min(len(a), len(b)), 0.0, paired=False)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return Estimate(diff, t_quantile(dof) * se, min(len(a), len(b)), mdd(se, dof), paired=False)


def compare(a: pd.Series, b: pd.Series) -> Estimate:
    """a - b, where ``a`` and ``b`` are indexed by seed: paired by seed over the seeds both have
    (at least two), otherwise Welch's interval."""
    a, b = pd.Series(a, dtype=float).dropna(), pd.Series(b, dtype=float).dropna()
    shared = a.index.intersection(b.index)
    if len(shared) >= 2:
        return mean_ci(a[shared] - b[shared])
    return welch_ci(a, b)


def diff_ci(a, b) -> tuple[float, float]:
    """``compare`` as (difference, half-width)."""
    e = compare(a, b)
    return e.mean, e.half


def per_seed(df: pd.DataFrame, method: str, task: int, level: int, column: str = "accuracy") -> pd.Series:
    """One output's ``column`` indexed by seed."""
    d = df[(df["method"] == method) & (df["task"] == task) & (df["level"] == level)]
    return d.set_index("seed")[column].astype(float)


def aggregate(df: pd.DataFrame) -> pd.DataFrame:
    """Per (method, task, level): parameters, density, mean test accuracy over seeds with its 95%
    half-width (``ci95``) and, where the file has it, mean train accuracy (``train_accuracy``,
    ``train_ci95``; NaN for files written before it existed)."""
    df = df.copy()
    df["units"] = df["units"].fillna("").astype(str)
    has_train = "train_accuracy" in df.columns
    rows = []
    for key, g in df.groupby(KEYS, sort=False, dropna=False):
        test = mean_ci(g["accuracy"])
        train = mean_ci(g["train_accuracy"]) if has_train else Estimate(math.nan, math.nan, 0)
        rows.append({**dict(zip(KEYS, key)), "params": g["params"].iloc[0], "density": g["density"].iloc[0],
                     "params_total": g["params_total"].iloc[0], "accuracy": test.mean, "ci95": test.half,
                     "seeds": g["seed"].nunique(), "train_accuracy": train.mean, "train_ci95": train.half})
    return pd.DataFrame(rows, columns=[*KEYS, "params", "density", "params_total", "accuracy", "ci95", "seeds",
                                       "train_accuracy", "train_ci95"])


def fmt_ci(mean: float, half: float, digits: int = 1, sign: bool = False) -> str:
    if mean != mean:
        return "–"
    m = f"{mean:+.{digits}f}" if sign else f"{mean:.{digits}f}"
    return f"{m} ± {half:.{digits}f}" if half == half else m


def fmt_mdd(e: Estimate, digits: int = 1) -> str:
    """The detectable difference of a comparison, and how its interval was formed."""
    how = f"paired, {e.n} seeds" if e.paired else f"Welch, {e.n}+ seeds"
    return f"{e.mdd:.{digits}f} ({how})" if e.mdd == e.mdd else f"– ({how})"
