"""The one timer and the one speed-up statistic (``dvnlib.timing``), and that the benchmark and the
book's cost page, each through its own path, give the same speed-ups from the same rounds."""
import math
import random

import numpy as np
import pytest

from dvnlib import timing


def test_interleaved_warms_up_then_rotates_the_order_each_round():
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    t = timing.interleaved(fns, rounds=4, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # the warm-up round
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]
    assert all(len(t[n].samples) == 4 for n in fns)
    assert t["a"].min <= t["a"].median <= t["a"].max


def test_interleaved_records_what_the_timer_returns_in_round_order():
    ticks = iter(range(100))
    t = timing.interleaved({"x": lambda: None, "y": lambda: None}, rounds=3, warmup=2,
                           timer=lambda fn: (fn(), float(next(ticks)))[1])
    # round 0: x y; round 1: y x; round 2: x y -- sample i of each callable is from round i
    assert t["x"].samples == (0.0, 3.0, 4.0) and t["y"].samples == (1.0, 2.0, 5.0)


def test_speedup_is_the_ratio_of_medians_with_a_seeded_interval_around_it():
    full, level = [4.0, 5.0, 6.0, 40.0], [1.0, 1.1, 0.9, 1.0]
    s = timing.speedup(full, level)
    assert s.point == np.median(full) / np.median(level) == 5.5
    assert s.low <= s.point <= s.high and s.rounds == 4
    assert timing.speedup(full, level) == s  # seeded: the same figures on every rebuild
    one = timing.speedup([2.0], [1.0])
    assert one.point == 2.0 and math.isnan(one.low) and math.isnan(one.high)
    with pytest.raises(ValueError, match="same rounds"):
        timing.speedup([1.0, 2.0], [1.0])


def test_speedup_interval_resamples_whole_rounds():
    # Rounds where the machine was twice as slow for both: within a round the ratio is always 2,
    # so resampling whole rounds can only ever give 2; resampling each side on its own would not.
    load = [1.0, 2.0, 1.0, 2.0, 2.0, 1.0, 1.0]
    s = timing.speedup([2 * x for x in load], load)
    assert s.point == s.low == s.high == 2.0


def test_speedup_point_lies_inside_its_interval_on_unruly_rounds():
    rng = random.Random(3)
    for _ in range(200):  # bimodal machine load, few rounds: where a point was once outside
        n = rng.randint(2, 9)
        full = [rng.choice((1.0, 5.0)) * rng.uniform(0.9, 1.1) for _ in range(n)]
        level = [rng.choice((1.0, 3.0)) * rng.uniform(0.9, 1.1) for _ in range(n)]
        s = timing.speedup(full, level, resamples=500)
        assert s.low <= s.point <= s.high


def test_paired_ratio_is_the_median_of_the_ratios_within_rounds():
    assert timing.paired_ratio([2.0, 9.0, 3.0], [1.0, 3.0, 1.0]) == 3.0
    with pytest.raises(ValueError):
        timing.paired_ratio([1.0, 2.0], [1.0])
