"""DVN. Joint learning (eq. 4): every task at every level on that task's batch, one step.

Sequential learning (Section 3.3, eq. 6; ``dvn`` dispatches on the scenario's family): for S1/S2
(two tasks, k = 2) the old network is unit 1 alone, trained on the old task (task 1) with
cross-entropy for the profile's epochs: an independent network with the architecture of DVN's
output (1, 1) (``common.independent_network``; the paper: "k-1 units correspond to the old
tasks"). It is copied into unit 1 (its input layer, unit-1 weights, BN and head of output (1, 1))
of a fresh k-unit DVN whose other parameters are newly initialised, and unit 2 is added. Then, on
the new task's data only, for the profile's epochs, each step sums over the four outputs:
task 1 at levels 1 (unit 1) and 2 (units 1, 2) distilled against the old network's output on the
same new images (``train.distillation_loss``, Hinton's modified cross-entropy with T = 2, batch
mean, no T^2 factor; the old network has only one output, so both levels of the old task share
that target), and task 2 at levels 1 (unit 2) and 2 (units 2, 1) with cross-entropy; one backward
per output, so the gradient is eq. 7. BN is per (task, level) and in train mode throughout, so the
old task's BN statistics follow the new images, as in LwF.
"""
from __future__ import annotations

import torch

from .. import accounting
from ..network import DVNNet
from ..results import Row
from ..train import RunContext, evaluate
from . import common as C
from .sequential import train_distilled


def rows_for(ctx: RunContext, method: str, lay, net) -> list[Row]:
    """Evaluate every output of ``net`` and describe it with the layout's accounting."""
    acc = evaluate(net, ctx.test_batches())
    total, full = accounting.total_params(lay), C.full_params(ctx)
    return [C.make_row(ctx, method, c.task, c.level, C.units_str(c.units), c.params, total,
                       acc[(c.task, c.level)], full) for c in accounting.costs(lay)]


def train_joint(ctx: RunContext, stage: str, lay) -> DVNNet:
    """Train a DVNNet of layout ``lay`` on all its outputs jointly (eq. 4)."""
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    # An epoch is one pass over the largest task; smaller tasks start new passes as needed.
    return C.train_ce(ctx, stage, net, net.outputs)


def dvn(ctx: RunContext, method: str = "dvn", **layout_overrides) -> list[Row]:
    if ctx.scenario.family == "sequential":
        return dvn_sequential(ctx, method, **layout_overrides)
    lay = ctx.layout(**layout_overrides)
    net = train_joint(ctx, method, lay)
    return rows_for(ctx, method, lay, net)


def dvn_sequential(ctx: RunContext, method: str = "dvn", **layout_overrides) -> list[Row]:
    """Sequential DVN (eq. 6) for one old task and one new task (see the module docstring)."""
    C.check_two_task_sequence(ctx, method)
    lay = ctx.layout(**layout_overrides)
    old, _ = C.independent_network(ctx, lay, 1, 1)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    C.copy_output(old, (1, 1), net, (1, 1))
    old_outputs = [o for o in net.outputs if o[0] == 1]
    new_outputs = [o for o in net.outputs if o[0] == 2]
    net = train_distilled(ctx, method, net, old, old_outputs, new_outputs)
    return rows_for(ctx, method, lay, net)


def dvn_shared_bn(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-shared-bn", bn="shared")


def dvn_prefix(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-prefix", rule="prefix")
