"""DVN: one method id, two algorithms, chosen by the scenario's family (``dvn`` dispatches).

**Joint** (``dvn_joint``; joint and hierarchical scenarios, eq. 4): one ``DVNNet`` whose every
(task, level) output is trained at once, each step summing the cross-entropy of every output on
its task's batch (one backward per output, input layer once per task: ``train.output_losses``).

**Sequential** (``dvn_sequential``; S1, S2, FS1, Section 3.3, eq. 6), one old task then one new
task, k = 2:

1. The old network is unit 1 alone trained on the old task (task 1) with cross-entropy for the
   profile's epochs: an independent network with the architecture of output (1, 1)
   (``common.independent_network``; the paper: "k-1 units correspond to the old tasks").
2. Expansion: it is copied into output (1, 1) of a fresh k-unit DVN (input layer, unit-1
   weights, BN, head), and level 2 of the old task is grown from it function-preservingly
   (``common.grow``: weights from unit 2 into unit 1 at zero, BN copied, the head padded with
   zeros), so that at step 0 every old-task output equals the old network, as LwF's network does
   at n_h = 1. ``dvn-random-expansion`` (the ablation) leaves level 2 as initialised.
3. On the new task's data only, for the profile's epochs, from the trained network's reduced
   learning rate (``fit(finetune=True)``, the same for LwF and sequential NestedNet): task 1's
   levels 1 and 2 distilled against the old network's output on the same new images
   (``train.distillation_loss``, T = 2, batch mean, no T^2; the old network has one output, so
   both levels share that target), task 2's levels with cross-entropy; one backward per output
   (eq. 7). BN is per (task, level) and in train mode, so the old task's BN statistics follow the
   new images, as in LwF.
"""
from __future__ import annotations

import torch

from .. import accounting
from ..network import DVNNet
from ..results import Row
from ..train import RunContext, train_outputs
from . import common as C
from .sequential import train_distilled


def rows_for(ctx: RunContext, method: str, lay, net) -> list[Row]:
    """Evaluate every output of ``net`` and describe it with the layout's accounting."""
    acc = C.accuracy(ctx, net, net.outputs)
    total, full = accounting.total_params(lay), C.full_params(ctx)
    return [C.make_row(ctx, method, c.task, c.level, C.units_str(c.units), c.params, total,
                       acc[(c.task, c.level)], full) for c in accounting.costs(lay)]


def dvn(ctx: RunContext, method: str = "dvn", **layout_overrides) -> list[Row]:
    """Joint learning (eq. 4) for joint and hierarchical scenarios, sequential (eq. 6) otherwise."""
    if ctx.scenario.family == "sequential":
        return dvn_sequential(ctx, method, **layout_overrides)
    return dvn_joint(ctx, method, **layout_overrides)


def dvn_joint(ctx: RunContext, method: str = "dvn", **layout_overrides) -> list[Row]:
    lay = ctx.layout(**layout_overrides)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    net = train_outputs(ctx, method, net, net.outputs)
    ctx.trained[method] = (net, lay)
    return rows_for(ctx, method, lay, net)


def dvn_sequential(ctx: RunContext, method: str = "dvn", expansion: str = "preserving",
                   **layout_overrides) -> list[Row]:
    """Sequential DVN (eq. 6) for one old task and one new task (see the module docstring).
    ``expansion``: ``"preserving"`` (``common.grow``) or ``"random"`` (the ablation)."""
    C.check_two_task_sequence(ctx, method)
    lay = ctx.layout(**layout_overrides)
    old, _ = C.independent_network(ctx, lay, 1, 1)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    C.copy_output(old, (1, 1), net, (1, 1))
    old_outputs = [o for o in net.outputs if o[0] == 1]
    new_outputs = [o for o in net.outputs if o[0] == 2]
    if expansion == "preserving":
        for lower, upper in zip(old_outputs, old_outputs[1:]):
            C.grow(net, lower, upper)
    elif expansion != "random":
        raise ValueError(f"unknown expansion {expansion!r}: valid are preserving, random")
    net = train_distilled(ctx, method, net, old, old_outputs, new_outputs)
    ctx.trained[method] = (net, lay)
    return rows_for(ctx, method, lay, net)


# Ablations (the book's): BN three ways, the unit order, and the sequential expansion.
def dvn_shared_affine(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-shared-affine", bn="shared_affine")


def dvn_shared_bn(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-shared-bn", bn="shared")


def dvn_prefix(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-prefix", rule="prefix")


def dvn_random_expansion(ctx: RunContext) -> list[Row]:
    if ctx.scenario.family != "sequential":
        raise ValueError(f"dvn-random-expansion is an ablation of sequential DVN: scenario {ctx.scenario.id} "
                         f"is {ctx.scenario.family}")
    return dvn_sequential(ctx, "dvn-random-expansion", expansion="random")
