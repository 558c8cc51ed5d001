"""NestedNet (Kim, Ahn, Oh, CVPR 2018) with channel pruning, as the DVN paper compares it.

One nested hierarchy with the plain unit order 1, 2, ..., k on the same backbone as DVN (a
``DVNNet`` with ``rule="prefix"``): level l uses the first l units, so every level's weights are a
prefix of the next level's. Tasks keep their own input layers, per-(task, level) BN and heads, as
in DVN. Unit sizes: ``common.nested_unit_sizes`` (joint: parameters split almost evenly, channel
boundaries at sqrt(j/k); J3: the scenario's 2:1:1; hierarchical and sequential: equal units).

``nestednet`` dispatches on the scenario's family:

* joint and hierarchical (multi-task mode, Table 1, Figure 5(a), Figure 6, Table 3): task j is
  the output (j, j), using the first j units; all tasks are trained jointly, each step summing the
  cross-entropy of every task's output on that task's batch (eq. 4 restricted to those outputs).
  Rows: one per task, ``level`` = j (the number of units it uses), ``units`` "1,...,j".
* sequential (Tables 4, 5): the low level (unit 1) is the old task, the high level (all units) the
  new task. The old network is unit 1 alone trained on the old task (``common.independent_network``,
  the same stage as sequential DVN's old network when the unit sizes agree) and copied into
  unit 1; then, on the new task's data only, the loss is the new task's cross-entropy at the high
  level (a new input layer, units 1..k, a new head) plus the distillation loss of the old task's
  low level against the old network's outputs on the new images (``train.distillation_loss``,
  T = 2, the loss LwF and sequential DVN use). Rows: old task level 1, new task level k.

``nestednet-me`` (memory-efficient mode, Figure 5(b); not a family default, it costs one training
per task): one nested network per task, trained separately on its own task with the sum of the
cross-entropies of its k levels (eq. 1), with DVN's unit sizes so that its levels have DVN's
densities. N_T is the sum of the per-task networks.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from .. import accounting
from .. import units as U
from ..network import DVNNet
from ..results import Row
from ..train import RunContext, train_outputs
from . import common as C
from .sequential import train_distilled


def nestednet(ctx: RunContext, method: str = "nestednet") -> list[Row]:
    """Multi-task mode for joint and hierarchical scenarios, the sequential variant otherwise."""
    if ctx.scenario.family == "sequential":
        return nestednet_sequential(ctx, method)
    return nestednet_joint(ctx, method)


def nestednet_joint(ctx: RunContext, method: str = "nestednet") -> list[Row]:
    C.check_one_unit_per_task(ctx, method)
    lay = C.nested_layout(ctx)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    outputs = [(j, j) for j in range(1, len(lay.tasks) + 1)]
    net = train_outputs(ctx, method, net, outputs)
    return _rows(ctx, method, lay, net, outputs)


def nestednet_sequential(ctx: RunContext, method: str = "nestednet") -> list[Row]:
    C.check_two_task_sequence(ctx, method)
    lay = C.nested_layout(ctx)
    k = lay.k
    old, _ = C.independent_network(ctx, lay, 1, 1)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    C.copy_output(old, (1, 1), net, (1, 1))
    outputs = [(1, 1), (2, k)]
    net = train_distilled(ctx, method, net, old, old_outputs=[(1, 1)], new_outputs=[(2, k)])
    return _rows(ctx, method, lay, net, outputs)


def _rows(ctx, method, lay, net, outputs) -> list[Row]:
    full = C.full_params(ctx)
    total = C.used_params(net, outputs)
    acc = C.accuracy(ctx, net, outputs)
    return [C.make_row(ctx, method, t, l, C.units_str(U.level_units(lay.config, t, l)),
                       accounting.output_cost(lay, t, l)[0], total, acc[(t, l)], full) for t, l in outputs]


def single_task_nested_layout(ctx: RunContext, task: int):
    """Task ``task`` alone on a nested network with the plain order and DVN's unit sizes."""
    lay = ctx.layout()
    return replace(lay, tasks=(lay.tasks[task - 1],), config=U.prefix_configuration(lay.k, 1))


def nestednet_me(ctx: RunContext, method: str = "nestednet-me") -> list[Row]:
    full = C.full_params(ctx)
    trained = []
    for t in range(1, len(ctx.scenario.tasks) + 1):
        lay = single_task_nested_layout(ctx, t)
        torch.manual_seed(C.init_seed(ctx.seed, t))
        net = DVNNet.from_layout(lay).to(ctx.device)
        net = train_outputs(ctx, f"task{t}", net, net.outputs, tasks=[t])
        trained.append((t, lay, net))
    total = sum(accounting.total_params(lay) for _, lay, _ in trained)
    rows = []
    for t, lay, net in trained:
        acc = C.accuracy(ctx, net, net.outputs, tasks=[t])
        for _, l in net.outputs:
            rows.append(C.make_row(ctx, method, t, l, C.units_str(U.level_units(lay.config, 1, l)),
                                   accounting.output_cost(lay, 1, l)[0], total, acc[(1, l)], full))
    return rows
