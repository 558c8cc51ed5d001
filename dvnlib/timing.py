"""Timing callables side by side, and the speed-up statistic every timed comparison reports.

Both the benchmark (``dvnlib.bench``) and the book's cost page (``dvnlib.report``) use this
module, and the deployment zoo times its outputs with ``interleaved``; it imports neither torch
nor pandas, so that the book's light environment can import it.

**Timing.** ``interleaved`` runs warm-up rounds first, then timed rounds; every round calls every
compared callable once, in an order rotated by one from round to round, so that each of them sees
the same machine load (the machine is shared) and sample ``i`` of every callable comes from the
same round ``i``.

**Speed-up.** ``speedup(full, level)``: the ratio of medians, median(full) / median(level), over
the rounds, with a 95% percentile-bootstrap interval that resamples whole rounds (a level and the
full network timed side by side stay together), seeded so that a rebuild gives the same figures.
The point is the statistic the interval bootstraps, so it lies inside its interval, and it is the
figure the benchmark writes: the benchmark and the book compute it here, from the same numbers.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

BOOTSTRAP = 4000  # resamples of the rounds for a speed-up's interval
CONFIDENCE = 0.95


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass(frozen=True)
class Timing:
    """Seconds per call, one sample per timed round."""
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def wall_time(fn: Callable[[], object]) -> float:
    """Seconds ``fn()`` took on the wall clock: the timer of work that has finished when the call
    returns (the CPU; ONNX Runtime)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved(fns: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                timer: Callable[[Callable[[], object]], float] = wall_time) -> dict[str, Timing]:
    """Time every callable in ``rounds`` rounds after ``warmup`` untimed ones; each round calls
    all of them once, in an order rotated by one each round. ``timer(fn)`` returns the seconds of
    one call (``wall_time``, or a device's own clock for work that runs asynchronously)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        shift = r % len(names)
        for n in names[shift:] + names[:shift]:
            samples[n].append(timer(fns[n]))
    return {n: Timing(tuple(s)) for n, s in samples.items()}


# ---------------------------------------------------------------------------------------------
# The speed-up statistic


@dataclass(frozen=True)
class Speedup:
    """median(full) / median(level) over ``rounds`` rounds, and its interval (NaN with one round)."""
    point: float
    low: float
    high: float
    rounds: int



def speedup(full: Sequence[float], level: Sequence[float], confidence: float = CONFIDENCE,
            resamples: int = BOOTSTRAP) -> Speedup:
    """The level's speed-up over the full network from their times in the same rounds (``full[i]``
    and ``level[i]`` timed in round ``i``; any unit, the same for both)."""
    f, lv = np.asarray(full, dtype=float), np.asarray(level, dtype=float)
    if f.shape != lv.shape or f.ndim != 1 or len(f) == 0:
        raise ValueError(f"speedup needs one time per round for both, in the same rounds: got {f.shape} "
                         f"and {lv.shape} times")
    point = float(np.median(f) / np.median(lv))
    if len(f) < 2:
        return Speedup(point, math.nan, math.nan, 1)
    ratios = speedup_resamples(f, lv, resamples)
    tail = 100 * (1 - confidence) / 2
    return Speedup(point, float(np.percentile(ratios, tail)), float(np.percentile(ratios, 100 - tail)), len(f))


def speedup_resamples(full: Sequence[float], level: Sequence[float], resamples: int = BOOTSTRAP) -> np.ndarray:
    """The resampled ratios of medians behind ``speedup``'s interval: whole rounds drawn with
    replacement, seeded (a test of the speed-up against a value reads its tails)."""
    f, lv = np.asarray(full, dtype=float), np.asarray(level, dtype=float)
    idx = np.random.default_rng(0).integers(0, len(f), size=(resamples, len(f)))
    return np.median(f[idx], axis=1) / np.median(lv[idx], axis=1)


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """The median over rounds of num[i] / den[i]: a diagnostic printed beside a speed-up (less
    exposed to load that changes between rounds), never a figure the book or a target judges by."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))
