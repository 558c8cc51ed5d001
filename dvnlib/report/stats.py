"""Statistics over seeds and test images: means with exact Student-t intervals, differences
paired by seed, the paired two-stage bootstrap over seeds and test images, Holm's correction, and
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

A ``Difference`` carries both intervals the preregistration asks for (``book/preregistration.md``,
"How a difference is estimated"): the exact t interval over seeds and the paired two-stage
bootstrap (``paired_bootstrap``), each with its p-value at a boundary; the wider interval and the
larger p are the ones a verdict uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as st

from .numbers import ACCURACY_DECIMALS, DECIMALS, ci, num
from .sources import KEYS

LEVEL = 0.95  # two-sided confidence of every interval
POWER = 0.80  # power of the minimal detectable difference
ALPHA = 1 - LEVEL  # family-wise error rate of Holm's procedure
RESAMPLES = 10_000  # bootstrap resamples (the preregistered number)
BOOTSTRAP_SEED = 0  # fixed, so that a rebuild gives the same intervals


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


def t_half(values) -> float:
    """The exact 95% t half-width of the mean of ``values`` (NaN under two values)."""
    v = np.asarray(values, dtype=float)
    return t_quantile(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v)) if len(v) > 1 else math.nan


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
                     # the seeds the mean is over: those with a number, never the rows' count
                     "seeds": g.loc[g["accuracy"].notna(), "seed"].nunique(),
                     "train_accuracy": train.mean, "train_ci95": train.half})
    return pd.DataFrame(rows, columns=[*KEYS, "params", "density", "params_total", "accuracy", "ci95", "seeds",
                                       "train_accuracy", "train_ci95"])


# --------------------------------------------------------------------------------------------
# Seeds and test images together

def paired_bootstrap(parts, weights=None, resamples: int = RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """Resampled values of ``sum_k weights[k] * mean(parts[k])``, where each part is a (seeds x
    images) array of a paired per-image difference (one part per task; every part has the same
    seeds, in the same order). Each resample draws the seeds with replacement, once for all parts,
    then each part's test images with replacement, one draw shared by every seed: the seeds share
    one test set, so an image's sampling error is common to them all.

    A resample's value depends on the images only through how many of each value the drawn seeds'
    mean takes, so the draw is made per distinct seed draw (at most 126 of them for 5 seeds), over
    the images grouped by that value (at most 11 groups for a difference of two outputs), instead
    of over every image: the same distribution, drawn from a few hundred thousand counts. The
    counts are Poisson, normalised by their total: independent Poisson counts given their total are
    multinomial, so this is the image bootstrap with a sample size that varies by about
    sqrt(images)."""
    parts = [np.asarray(p, dtype=float) for p in parts]
    weights = [1.0] * len(parts) if weights is None else list(weights)
    n_seeds = parts[0].shape[0]
    if any(p.ndim != 2 or p.shape[0] != n_seeds or p.shape[1] == 0 for p in parts):
        raise ValueError(f"paired_bootstrap needs (seeds x images) arrays with the same seeds, got shapes "
                         f"{[p.shape for p in parts]}")
    rng = np.random.default_rng(seed)
    seed_n = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=resamples)  # R x S
    draws, which = np.unique(seed_n, axis=0, return_inverse=True)  # the distinct seed draws
    which = which.ravel()
    total = np.zeros(resamples)
    for part, w in zip(parts, weights):
        columns, counts = np.unique(part.T, axis=0, return_counts=True)  # P x S, P
        value = columns @ draws.T / n_seeds  # P x D: an image's mean over each seed draw
        for d in range(len(draws)):
            rows = np.flatnonzero(which == d)
            levels, group = np.unique(value[:, d], return_inverse=True)
            n = rng.poisson(np.bincount(group.ravel(), weights=counts), size=(len(rows), len(levels)))
            total[rows] += w * (n @ levels) / np.maximum(n.sum(axis=1), 1)
    return total


def bootstrap_p(samples: np.ndarray, boundary: float) -> float:
    """Twice the smaller tail fraction of the resamples at ``boundary`` (at most 1)."""
    s = np.asarray(samples, dtype=float)
    return float(min(1.0, 2 * min(np.mean(s <= boundary), np.mean(s >= boundary))))


def t_test_p(values, boundary: float) -> float:
    """The two-sided one-sample t test of mean(values) = ``boundary`` (NaN under two values)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return math.nan
    se = float(v.std(ddof=1)) / math.sqrt(len(v))
    if se == 0:
        return 1.0 if v.mean() == boundary else 0.0
    return float(2 * st.t.sf(abs((v.mean() - boundary) / se), len(v) - 1))


@dataclass(frozen=True)
class Difference:
    """A difference (points, or a ratio for claim 4) with both preregistered 95% intervals and
    their p-values at ``boundary``: the exact t interval over the ``n`` seeds, and the paired
    bootstrap over seeds and test images (NaN where there are no per-image predictions)."""
    mean: float
    n: int
    boundary: float
    t_low: float = math.nan
    t_high: float = math.nan
    t_p: float = math.nan
    boot_low: float = math.nan
    boot_high: float = math.nan
    boot_p: float = math.nan
    dof: float = math.nan  # of the spread behind the detectable difference; NaN: n - 1
    boot_resamples: int = 0  # behind boot_p

    def __post_init__(self):
        if self.dof != self.dof:
            object.__setattr__(self, "dof", self.n - 1)

    @property
    def has_bootstrap(self) -> bool:
        return self.boot_low == self.boot_low

    @property
    def wider(self) -> tuple[float, float, str]:
        """(low, high, which) of the wider of the two intervals: the one a verdict uses."""
        t_w, b_w = self.t_high - self.t_low, self.boot_high - self.boot_low
        if b_w == b_w and not b_w <= t_w:  # a t interval that is NaN (one seed) loses too
            return self.boot_low, self.boot_high, "bootstrap"
        return self.t_low, self.t_high, "t"

    @property
    def p(self) -> float:
        """The larger of the two p-values (the one a verdict uses)."""
        ps = [p for p in (self.t_p, self.boot_p) if p == p]
        return max(ps) if ps else math.nan

    @property
    def p_floor(self) -> float:
        """What a p-value of 0 stands for: no bootstrap resample reached the boundary, so the
        two-sided p is below 2 / resamples (0 where there was no bootstrap)."""
        return 2 / self.boot_resamples if self.boot_resamples else 0.0

    @property
    def se(self) -> float:
        """The standard error behind the wider interval: its half-width over the t quantile."""
        low, high, _ = self.wider
        return (high - low) / 2 / t_quantile(self.dof)

    def detectable(self, level: float = LEVEL) -> float:
        """``mdd`` at a two-sided test of ``1 - level`` (a Holm-adjusted level), on ``se``."""
        return mdd(self.se, self.dof, level=level)


def difference(per_seed_values, parts=None, weights=None, boundary: float = 0.0) -> Difference:
    """The mean of ``per_seed_values`` (each seed's difference over the whole test set) with its
    t interval, and, given the per-image ``parts`` (``paired_bootstrap``), the bootstrap interval;
    both p-values at ``boundary``. With one seed the t interval is unbounded and its p is 1."""
    v = np.asarray(per_seed_values, dtype=float)
    v = v[~np.isnan(v)]
    mean, half = (float(v.mean()) if len(v) else math.nan), t_half(v)
    t = dict(t_low=mean - half, t_high=mean + half, t_p=t_test_p(v, boundary))
    if len(v) == 1:
        # one seed says nothing of the seed-to-seed spread: its t interval is unbounded (the t
        # quantile on no degrees of freedom), so the wider interval is that one and p is 1, and
        # the image bootstrap alone can never decide a comparison
        t = dict(t_low=-math.inf, t_high=math.inf, t_p=1.0)
    boot = {}
    if parts is not None:
        s = paired_bootstrap(parts, weights)
        lo, hi = np.percentile(s, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
        boot = dict(boot_low=float(lo), boot_high=float(hi), boot_p=bootstrap_p(s, boundary),
                    boot_resamples=len(s))
    return Difference(mean, len(v), boundary, **t, **boot)


def holm(p_values) -> tuple[list[float], list[float]]:
    """Holm's step-down procedure at family-wise ``ALPHA``: each p-value's adjusted p-value (it is
    rejected when that is at most ``ALPHA``) and the level its test ran at, ``ALPHA / (m - rank)``
    (rank 0 for the smallest p). NaN p-values are not in the family and stay NaN."""
    ps = list(p_values)
    idx = sorted((i for i, p in enumerate(ps) if p == p), key=lambda i: ps[i])
    m = len(idx)
    adjusted, levels = [math.nan] * len(ps), [math.nan] * len(ps)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i], levels[i] = running, ALPHA / (m - rank)
    return adjusted, levels


def fmt_ci(mean: float, half: float, digits: int | None = None, sign: bool = False) -> str:
    """``numbers.ci``: an accuracy to one decimal, a signed difference to ``numbers.DECIMALS``."""
    return ci(mean, half, digits if digits is not None else DECIMALS if sign else ACCURACY_DECIMALS, sign)


def fmt_mdd(e: Estimate, digits: int = DECIMALS) -> str:
    """The detectable difference of a comparison, and how its interval was formed."""
    how = f"paired, {e.n} seeds" if e.paired else f"Welch, {e.n}+ seeds"
    return f"{num(e.mdd, digits)} ({how})"
