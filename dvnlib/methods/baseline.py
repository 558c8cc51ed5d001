"""Baseline: an independent network per task (and, for the density curves, per density).

``baseline`` trains, for every task t and every level l of task t's deep virtual network, an
independent single-task network whose architecture is exactly DVN's (t, l) sub-network: the same
input layer, that level's width in every layer (``common.independent_layout``), its own head. So
its points lie at exactly DVN's densities, and ``level`` in its rows is the DVN level whose
density it copies (``units`` is empty: it has no units). Level k is the classic full-width
baseline (Table 1's "two independent networks", Table 3's WRN-32-4 column; level 1 of k = 2 is
Table 3's WRN-32-2). Each network is trained from scratch with cross-entropy on its task alone, for
the profile's epochs, with its own initialisation: no parameter is shared.

Cost: k x tasks trainings, each on one task, i.e. about the forward-backward work of one joint DVN
run. ``params_total`` (N_T) is the sum over all these networks; Table 1's N_T (the full-width
networks only) is the sum of ``params`` over the level-k rows. ``baseline-full`` trains only the
full-width networks (not a family default; its networks are the same stages as ``baseline``'s, so
whichever runs second reuses the other's training).
"""
from __future__ import annotations

from .. import accounting
from .. import units as U
from ..network import DVNNet
from ..results import Row
from ..train import RunContext
from . import common as C


def train_networks(ctx: RunContext, top_only: bool = False) -> list[tuple[int, int, DVNNet, int]]:
    """(task, DVN level, trained independent network, its parameter count) for every network."""
    lay = ctx.layout()
    trained = []
    for t in range(1, len(lay.tasks) + 1):
        n = U.n_levels(lay.config, t)
        for l in ([n] if top_only else range(1, n + 1)):
            net, ind = C.independent_network(ctx, lay, t, l)
            trained.append((t, l, net, accounting.total_params(ind)))
    return trained


def baseline(ctx: RunContext, method: str = "baseline", top_only: bool = False) -> list[Row]:
    trained = train_networks(ctx, top_only)
    full = C.full_params(ctx)
    total = sum(p for *_, p in trained)
    rows = []
    for t, l, net, params in trained:
        acc = C.accuracy(ctx, net, [(1, 1)], tasks=[t])[(1, 1)]
        rows.append(C.make_row(ctx, method, t, l, "", params, total, acc, full))
    return rows


def baseline_full(ctx: RunContext) -> list[Row]:
    return baseline(ctx, "baseline-full", top_only=True)
