"""DVN, joint learning (eq. 4): every task at every level on that task's batch, one step."""
from __future__ import annotations

import torch

from .. import accounting
from ..network import DVNNet
from ..results import Row
from ..train import RunContext, evaluate, fit, joint_step, schedule, sgd


def rows_for(ctx: RunContext, method: str, lay, net, full_params: dict[int, int] | None = None) -> list[Row]:
    """Evaluate every output of ``net`` and describe it with the layout's accounting.
    ``full_params[t]``: the parameters of task t's full-width network (density's denominator);
    by default the layout's own top level."""
    acc = evaluate(net, ctx.test_batches())
    total = accounting.total_params(lay)
    rows = []
    for c in accounting.costs(lay):
        correct, n = acc[(c.task, c.level)]
        denom = full_params[c.task] if full_params else c.params / c.density
        rows.append(Row(method, ctx.seed, c.task, ctx.scenario.tasks[c.task - 1].name, c.level,
                        ",".join(map(str, c.units)), c.params, total, c.params / denom,
                        100.0 * correct / n, n))
    return rows


def train_joint(ctx: RunContext, stage: str, lay) -> DVNNet:
    """Train a DVNNet of layout ``lay`` on all its outputs jointly (eq. 4)."""
    torch.manual_seed(ctx.seed)
    net = DVNNet.from_layout(lay).to(ctx.device)
    streams = ctx.streams()
    # An epoch is one pass over the largest task; smaller tasks start new passes as needed.
    steps = max(s.steps_per_pass for s in streams)
    opt = sgd(net.parameters(), ctx.profile)
    sched = schedule(opt, ctx.profile, steps)

    def step(i: int) -> int:
        batches = [s.batch(i) for s in streams]
        joint_step(net, opt, batches)
        return sum(len(y) for _, y in batches)

    return fit(ctx, stage, net, opt, sched, step, steps)


def dvn(ctx: RunContext, method: str = "dvn", **layout_overrides) -> list[Row]:
    lay = ctx.layout(**layout_overrides)
    net = train_joint(ctx, method, lay)
    return rows_for(ctx, method, lay, net)


def dvn_shared_bn(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-shared-bn", bn="shared")


def dvn_prefix(ctx: RunContext) -> list[Row]:
    return dvn(ctx, "dvn-prefix", rule="prefix")
