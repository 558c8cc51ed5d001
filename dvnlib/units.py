"""Units and the configuration rule of Kim et al., CVPR 2019 (Section 3.2, eq. 3 and eq. 5).

A *unit* is one of k disjoint groups of feature maps, taken in every split layer. Unit i owns
channels ``[b[i-1], b[i])`` of a layer with boundaries ``b``. Each task j owns a *deep virtual
network*: a hierarchy of n_h = k levels, level l using the first l units of the task's order.

Everything here is plain Python (no torch) so that scenarios, accounting and the book can use it
cheaply. Tasks, levels and units are numbered from 1, as in the paper.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

Configuration = tuple[tuple[int, ...], ...]
"""``config[j-1]`` is task j's unit order: level l uses the units ``config[j-1][:l]``."""


def unit_order(task: int, k: int) -> tuple[int, ...]:
    """Eq. 3: the order in which task ``task`` adds units, for k units.

    (i) unit j is task j's lowest level; (ii) the hierarchy grows by coupling an adjacent unit
    that is not yet coupled; (iii) when both neighbours are free, the lower index wins.
    """
    if not 1 <= task <= k:
        raise ValueError(f"task {task} is out of range: valid tasks are 1..{k}")
    lo = hi = task
    order = [task]
    while len(order) < k:
        if lo > 1:  # the lower neighbour is preferred whenever it exists (rule iii)
            lo -= 1
            order.append(lo)
        else:
            hi += 1
            order.append(hi)
    return tuple(order)


def dvn_configuration(k: int, n_tasks: int | None = None) -> Configuration:
    """The configuration rule for every task. DVN has as many tasks as units (k = n_tasks)."""
    n_tasks = k if n_tasks is None else n_tasks
    if n_tasks != k:
        raise ValueError(f"the DVN rule needs one unit per task: got {n_tasks} tasks for k={k}")
    return tuple(unit_order(j, k) for j in range(1, k + 1))


def prefix_configuration(k: int, n_tasks: int) -> Configuration:
    """The plain nested order 1, 2, ..., k for every task (NestedNet; the rule's ablation)."""
    return tuple(tuple(range(1, k + 1)) for _ in range(n_tasks))


def level_units(config: Configuration, task: int, level: int) -> tuple[int, ...]:
    """Units used by (task, level), in the order the hierarchy adds them."""
    check_output(config, task, level)
    return config[task - 1][:level]


def unit_range(config: Configuration, task: int, level: int) -> tuple[int, int]:
    """(first, last) unit of (task, level). The rule only ever adds an adjacent unit, so the set
    is contiguous; this is what lets a sub-network be a channel *slice* rather than a mask."""
    units = level_units(config, task, level)
    lo, hi = min(units), max(units)
    if hi - lo + 1 != len(units):
        raise ValueError(f"units {units} of task {task}, level {level} are not contiguous")
    return lo, hi


def S(config: Configuration, unit: int, task: int) -> int:
    """Eq. 5's S(i, j): the level at which unit i joins task j's hierarchy (inf if it never does)."""
    order = config[task - 1]
    return order.index(unit) + 1 if unit in order else float("inf")  # type: ignore[return-value]


def n_levels(config: Configuration, task: int) -> int:
    return len(config[task - 1])


def check_output(config: Configuration, task: int, level: int) -> None:
    n_tasks = len(config)
    if not isinstance(task, int) or not 1 <= task <= n_tasks:
        raise ValueError(f"task {task!r} is out of range: valid tasks are 1..{n_tasks}")
    n = n_levels(config, task)
    if not isinstance(level, int) or not 1 <= level <= n:
        raise ValueError(f"level {level!r} is out of range for task {task}: valid levels are 1..{n}")


def outputs(config: Configuration) -> list[tuple[int, int]]:
    """Every (task, level) pair, task-major."""
    return [(t, l) for t in range(1, len(config) + 1) for l in range(1, n_levels(config, t) + 1)]


def boundaries(channels: int, unit_sizes: Sequence[int]) -> tuple[int, ...]:
    """Channel boundaries ``b_0=0 < b_1 < ... < b_k=channels`` splitting a layer of ``channels``
    feature maps in proportion to ``unit_sizes`` (equal units: ``(1,)*k``)."""
    if not unit_sizes or any(s <= 0 for s in unit_sizes):
        raise ValueError(f"unit sizes must be positive: got {tuple(unit_sizes)}")
    total = sum(unit_sizes)
    cum, b = 0, [0]
    for s in unit_sizes:
        cum += s
        b.append(round(Fraction(channels * cum, total)))
    if any(b1 <= b0 for b0, b1 in zip(b, b[1:])):
        raise ValueError(
            f"{channels} channels cannot be split into units of sizes {tuple(unit_sizes)}: "
            "some unit would be empty; use a wider network or fewer units")
    return tuple(b)


def channel_slice(channels: int, unit_sizes: Sequence[int], first: int, last: int) -> tuple[int, int]:
    """Channels [start, stop) of units first..last in a layer of ``channels`` feature maps."""
    b = boundaries(channels, unit_sizes)
    return b[first - 1], b[last]
