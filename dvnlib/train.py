"""Training and evaluation shared by every method: the optimiser the paper fixes, the learning
rate schedule a profile sets, the joint DVN step of eq. 4 and evaluation of every output."""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .scenarios import Profile


def sgd(params, profile: Profile) -> torch.optim.SGD:
    """SGD with Nesterov momentum 0.9 (Section 4.2) and the profile's lr and weight decay."""
    return torch.optim.SGD(params, lr=profile.lr, momentum=profile.momentum, nesterov=True,
                           weight_decay=profile.weight_decay)


def schedule(opt: torch.optim.Optimizer, profile: Profile, steps_per_epoch: int):
    """Step-wise multi-step decay: lr x gamma at each milestone (a fraction of all steps)."""
    total = profile.epochs * steps_per_epoch
    milestones = sorted({max(1, round(m * total)) for m in profile.milestones})
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=profile.gamma)


def output_losses(net: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
                  outputs: Iterable[tuple[int, int]], loss_fn=None) -> dict[tuple[int, int], torch.Tensor]:
    """Backpropagate the loss of each (task, level) in ``outputs`` on its task's batch, one
    output at a time so that only one graph is alive, accumulating into ``.grad``. Returns the
    detached losses. The sum of these gradients is the gradient of eq. 4 (eq. 5)."""
    loss_fn = loss_fn or (lambda logits, y, task, level: F.cross_entropy(logits, y))
    losses = {}
    for t, l in outputs:
        x, y = batches[t - 1]
        loss = loss_fn(net(x, t, l), y, t, l)
        loss.backward()
        losses[(t, l)] = loss.detach()
    return losses


def joint_step(net, opt: torch.optim.Optimizer, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
               outputs: Iterable[tuple[int, int]] | None = None) -> dict[tuple[int, int], torch.Tensor]:
    """One step of eq. 4: every task at every level on that task's batch, one optimiser step."""
    opt.zero_grad(set_to_none=True)
    losses = output_losses(net, batches, net.outputs if outputs is None else outputs)
    opt.step()
    return losses


@torch.no_grad()
def evaluate(net, test_batches: Mapping[int, Iterable[tuple[torch.Tensor, torch.Tensor]]],
             outputs: Iterable[tuple[int, int]] | None = None) -> dict[tuple[int, int], tuple[int, int]]:
    """(correct, total) of every (task, level) on its task's test batches, in eval mode."""
    outputs = list(net.outputs if outputs is None else outputs)
    was_training = net.training
    net.eval()
    counts: dict[tuple[int, int], list] = {o: [0, 0] for o in outputs}
    for t, batches in test_batches.items():
        levels = [l for (tt, l) in outputs if tt == t]
        if not levels:
            continue
        for x, y in batches:
            for l in levels:
                c = counts[(t, l)]
                c[0] += int((net(x, t, l).argmax(1) == y).sum())
                c[1] += len(y)
    net.train(was_training)
    return {o: (c[0], c[1]) for o, c in counts.items()}
