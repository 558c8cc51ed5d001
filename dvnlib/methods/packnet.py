"""PackNet+: the grouped variant of PackNet (Mallya & Lazebnik, CVPR 2018) that the DVN paper
compares in joint learning (Table 1, Figures 5(a) and 6).

The feature maps of every split layer are divided into k nested groups with the plain order (the
same ``DVNNet`` with ``rule="prefix"`` and the same unit sizes as NestedNet,
``common.nested_unit_sizes``). Tasks are learned in turn, task j for the profile's epochs on its
own data, using groups 1..j: its output is (j, j). While task j trains, every weight that an earlier
task uses is frozen, and so is every weight task j does not use (the groups reserved for later
tasks), which SGD's weight decay and momentum would otherwise shrink before their task starts. In a layer with group boundaries b, task j-1 uses ``W[:b_{j-1}, :b_{j-1}]``
(``W[:b_{j-1}, :]`` where the layer reads the unsplit input layer); that block is frozen, while
the weights from old input channels to new output channels and from new input channels to old
output channels are not used by any earlier task and train with task j. Freezing is exact
(``common.Freezer``): the frozen elements' gradients are zeroed after backward and their saved
values are written back after every optimiser step, which undoes SGD's weight decay and momentum
(both move a weight whose gradient is zero). BN and heads are per (task, level), i.e. per task
here, and input layers are per task, so no earlier task's BN, head or input layer is ever touched.
Pruning is not needed: the groups are fixed in advance, which is what makes PackNet+'s sub-networks
physically smaller, like DVN's.

Rows: one per task, ``level`` = j (the number of groups it uses), ``units`` "1,...,j".
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .. import accounting
from .. import units as U
from ..network import DVNNet
from ..results import Row
from ..train import RunContext, fit
from . import common as C


def train_task(ctx: RunContext, stage: str, net: DVNNet, task: int) -> DVNNet:
    """Train output (task, task) on task ``task``'s data. Only what this task uses and no earlier
    task uses moves: the weights earlier tasks use are frozen, and so are those reserved for
    later tasks (their gradient is zero, but weight decay and momentum would still shrink them,
    by about e^-14 at paper size before their task starts)."""
    frozen = C.Freezer(net, [(j, j) for j in range(1, task)], keep_unused_by=[(task, task)])

    def step(batches) -> torch.Tensor:
        x, y = batches[task]
        loss = F.cross_entropy(net(x, task, task), y)
        loss.backward()
        return loss.detach()

    return fit(ctx, stage, net, step, [task], freezer=frozen)


def packnet(ctx: RunContext, method: str = "packnet") -> list[Row]:
    C.check_one_unit_per_task(ctx, method)
    lay = C.nested_layout(ctx)
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    n = len(lay.tasks)
    for j in range(1, n + 1):
        net = train_task(ctx, f"task{j}", net, j)
    outputs = [(j, j) for j in range(1, n + 1)]
    full = C.full_params(ctx)
    total = C.used_params(net, outputs)
    acc = C.accuracy(ctx, net, outputs)
    return [C.make_row(ctx, method, j, j, C.units_str(U.level_units(lay.config, j, j)),
                       accounting.output_cost(lay, j, j)[0], total, acc[(j, j)], full) for j in range(1, n + 1)]
