"""Sequential learning (Section 3.3; Tables 4 and 5): an old task is learned first, then a new task
with only the new task's data. The peers the paper compares, and the distilled training that
sequential DVN and sequential NestedNet share.

Every method here learns the old task (task 1) for the profile's epochs, then the new task (task 2)
for the profile's epochs. Feature Extraction, LwF and DA-CNN start from one old network: a
full-width independent network trained on task 1 with cross-entropy
(``common.independent_network``, a shared stage, trained once per seed and reused by all three).
The new task reads the old network's input layer (both tasks must have the same image format).
Old-task accuracy is the old head's after the new stage, with the backbone as the new stage left it.

* ``feature_extraction`` (Donahue et al., DeCAF): the old network frozen, parameters and BN running
  statistics (kept in eval mode), and a new linear head for the new task trained with
  cross-entropy on the frozen features.
* ``dacnn`` (Wang et al., "Growing a brain", as the DVN paper ran it): the old network frozen as
  above, and the new task's head made of two additional fully connected layers of the backbone's
  output width (ReLU after each) followed by the new linear classifier, trained with
  cross-entropy.
* ``lwf`` (Li & Hoiem), in LwF's two stages: first the new linear head alone on the frozen old
  network (as Feature Extraction trains it), for ``LWF_HEAD_SHARE`` of the new task's epochs; then
  the whole network is fine-tuned (BN in train mode, so its statistics follow the new data) for the
  rest. Loss per batch of new images x with labels y in that second stage:
  ``CE(new_head(f(x)), y) + distillation_loss(old_head(f(x)), old_network(x), T=2)``, where the
  targets are the frozen old network's outputs on the same new images (computed on the fly, in
  eval mode) and ``train.distillation_loss`` is Hinton's modified cross-entropy with T = 2, batch
  mean, no T^2 factor, weight lambda_o = 1. The two stages together make the profile's epochs over
  the new task, as every other method does. ``lwf-no-head-stage`` (an ablation) fine-tunes from the
  start with a head initialised at random.

``train_distilled`` is eq. 6 for a network of (task, level) outputs: on a batch of new images,
each old task's output is distilled against the old network's output on those images and each new
task's output gets cross-entropy, one backward per output (the gradient of eq. 7 accumulates).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import units as U
from ..network import DVNNet, key
from ..results import Row
from ..train import RunContext, distillation_loss, fit, output_losses, total
from . import common as C

TEMPERATURE = 2.0
DACNN_HIDDEN_LAYERS = 2  # additional fully connected layers, each as wide as the backbone's output
# LwF's first stage trains the new head alone "to convergence" before fine-tuning everything; a
# linear head on fixed features settles in a few epochs, so a quarter of the new task's epochs
# (4 of the study's 16), fixed in advance by the book's preregistration page.
LWF_HEAD_SHARE = 0.25


# ---------------------------------------------------------------------------------------------
# Eq. 6: distill the old tasks' outputs, cross-entropy on the new task's.

def frozen_copy(net: nn.Module) -> nn.Module:
    """The old network as a fixed teacher: a copy in eval mode without gradients."""
    return copy.deepcopy(net).eval().requires_grad_(False)


def sequential_losses(net: DVNNet, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
                      old_outputs: Sequence[C.Output], new_outputs: Sequence[C.Output],
                      teacher_output: C.Output = (1, 1), T: float = TEMPERATURE) -> dict:
    """Backpropagate eq. 6 on one batch (x, y) of the new task: ``distillation_loss`` of every
    old (task, level) in ``old_outputs`` against ``teacher(x, *teacher_output)``, the old
    network's output for the old task on the new images (the same target for every level of the
    old task: the old network has one output per old task), plus the cross-entropy of every
    (task, level) in ``new_outputs``. Returns the detached loss of each output."""
    with torch.no_grad():
        soft = teacher(x, *teacher_output)
    old_tasks = {t for t, _ in old_outputs}
    n_tasks = max(t for t, _ in [*old_outputs, *new_outputs])
    batches = [(x, soft) if t in old_tasks else (x, y) for t in range(1, n_tasks + 1)]

    def loss_fn(logits, target, task, level):
        return distillation_loss(logits, target, T) if task in old_tasks else F.cross_entropy(logits, target)

    return output_losses(net, batches, [*old_outputs, *new_outputs], loss_fn)


def train_distilled(ctx: RunContext, stage: str, net: DVNNet, old: nn.Module, old_outputs: Sequence[C.Output],
                    new_outputs: Sequence[C.Output]) -> DVNNet:
    """The new stage of sequential DVN and sequential NestedNet: eq. 6 on the new task's data
    (the last task) for the profile's epochs, from a trained network (``finetune``), ``old`` being
    the old network (its output (1, 1))."""
    teacher = frozen_copy(old)
    new_task = len(ctx.scenario.tasks)

    def step(batches) -> torch.Tensor:
        x, y = batches[new_task]
        return total(sequential_losses(net, teacher, x, y, old_outputs, new_outputs))

    return fit(ctx, stage, net, step, [new_task], finetune=True)


# ---------------------------------------------------------------------------------------------
# The old network with a head for the new task: Feature Extraction, DA-CNN, LwF.

class OldNetWithNewHead(nn.Module):
    """Task 1 is the old network's output; task 2 reads the old network's features (its input
    layer and backbone) through ``new_head``. With ``freeze_old`` the old network takes no
    gradient and stays in eval mode (BN statistics included) even while the model trains."""

    def __init__(self, old: DVNNet, head: nn.Module, freeze_old: bool):
        super().__init__()
        self.old, self.new_head = old, head
        self.outputs = [(1, 1), (2, 1)]
        self.freeze(freeze_old)

    def freeze(self, frozen: bool) -> "OldNetWithNewHead":
        """Freeze the old network (no gradient, eval mode) or let it train with the new head."""
        self.freeze_old = frozen
        self.old.requires_grad_(not frozen)
        return self.train()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_old:
            self.old.eval()
        return self

    def forward(self, x: torch.Tensor, task: int, level: int) -> torch.Tensor:
        if (task, level) not in self.outputs:
            raise ValueError(f"output ({task}, {level}) does not exist: outputs are {self.outputs}")
        if task == 1:
            return self.old(x, 1, 1)
        return self.new_head(self.old_features(x))

    def old_features(self, x: torch.Tensor) -> torch.Tensor:
        """The old network's pooled features, which both heads read."""
        return self.old.features(self.old.stem(x, 1), 1, 1)

    def old_head(self, f: torch.Tensor) -> torch.Tensor:
        return self.old.heads[key(1, 1)](f)


def old_full_network(ctx: RunContext, method: str) -> DVNNet:
    """The old network of Feature Extraction, LwF and DA-CNN: task 1 at full width, trained alone."""
    C.check_two_task_sequence(ctx, method)
    old_t, new_t = ctx.scenario.tasks
    if (old_t.in_channels, old_t.input_size) != (new_t.in_channels, new_t.input_size):
        raise ValueError(f"{method} feeds the new task through the old task's input layer: scenario "
                         f"{ctx.scenario.id}'s tasks have different image formats")
    lay = ctx.layout()
    old, _ = C.independent_network(ctx, lay, 1, U.n_levels(lay.config, 1))
    return old


def with_new_head(ctx: RunContext, old: DVNNet, hidden: Sequence[int], freeze_old: bool) -> OldNetWithNewHead:
    torch.manual_seed(C.init_seed(ctx.seed, 2))
    width = old.heads[key(1, 1)].in_features
    head = C.new_head(width, ctx.scenario.tasks[1].num_classes, hidden).to(ctx.device)
    return OldNetWithNewHead(old, head, freeze_old)


def train_new_head(ctx: RunContext, stage: str, model: OldNetWithNewHead,
                   epochs: int | None = None) -> OldNetWithNewHead:
    """Feature Extraction's and DA-CNN's new stage, and LwF's first: cross-entropy on the new task
    through the frozen old network; only the new head is given to the optimiser."""
    def step(batches) -> torch.Tensor:
        x, y = batches[2]
        loss = F.cross_entropy(model(x, 2, 1), y)
        loss.backward()
        return loss.detach()

    # A new head learns from scratch: the from-scratch learning rate, as for any new network.
    return fit(ctx, stage, model, step, [2], params=[p for p in model.parameters() if p.requires_grad],
               epochs=epochs)


def lwf_losses(model: OldNetWithNewHead, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
               T: float = TEMPERATURE) -> tuple[torch.Tensor, torch.Tensor]:
    """LwF's two terms on a batch of new images: (cross-entropy of the new head, distillation of
    the old head against the old network's outputs on the same images). The loss is their sum."""
    with torch.no_grad():
        soft = teacher(x, 1, 1)
    f = model.old_features(x)
    return F.cross_entropy(model.new_head(f), y), distillation_loss(model.old_head(f), soft, T)


def lwf_epochs(epochs: int) -> tuple[int, int]:
    """(head-only epochs, fine-tuning epochs) of LwF's new stage: ``LWF_HEAD_SHARE`` of ``epochs``,
    rounded half up, and the rest."""
    head = int(LWF_HEAD_SHARE * epochs + 0.5)
    return head, epochs - head


def train_lwf(ctx: RunContext, stage: str, model: OldNetWithNewHead, epochs: int | None = None) -> OldNetWithNewHead:
    teacher = frozen_copy(model.old)

    def step(batches) -> torch.Tensor:
        x, y = batches[2]
        ce, distill = lwf_losses(model, teacher, x, y)
        loss = ce + distill
        loss.backward()
        return loss.detach()

    # The whole old network trains on: the same reduced rate and warm-up as sequential DVN.
    return fit(ctx, stage, model, step, [2], finetune=True, epochs=epochs)


def _rows(ctx: RunContext, method: str, model: OldNetWithNewHead) -> list[Row]:
    """Task 1: the old network (backbone and old head); task 2: the backbone and the new head.
    Level 1 (each task has one output), no units."""
    count = lambda m: sum(p.numel() for p in m.parameters())
    old, head_old, head_new = count(model.old), count(model.old.heads[key(1, 1)]), count(model.new_head)
    full = C.full_params(ctx)
    acc = C.accuracy(ctx, model, model.outputs)
    total = old + head_new
    return [C.make_row(ctx, method, 1, 1, "", old, total, acc[(1, 1)], full),
            C.make_row(ctx, method, 2, 1, "", old - head_old + head_new, total, acc[(2, 1)], full)]


def feature_extraction(ctx: RunContext, method: str = "feature_extraction") -> list[Row]:
    model = with_new_head(ctx, old_full_network(ctx, method), (), freeze_old=True)
    return _rows(ctx, method, train_new_head(ctx, method, model))


def dacnn(ctx: RunContext, method: str = "dacnn") -> list[Row]:
    old = old_full_network(ctx, method)
    width = old.heads[key(1, 1)].in_features
    model = with_new_head(ctx, old, (width,) * DACNN_HIDDEN_LAYERS, freeze_old=True)
    return _rows(ctx, method, train_new_head(ctx, method, model))


def lwf(ctx: RunContext, method: str = "lwf") -> list[Row]:
    model = with_new_head(ctx, old_full_network(ctx, method), (), freeze_old=True)
    head, tune = lwf_epochs(ctx.profile.epochs)
    if head:
        model = train_new_head(ctx, f"{method}-head", model, epochs=head)
    return _rows(ctx, method, train_lwf(ctx, method, model.freeze(False), epochs=tune))


def lwf_no_head_stage(ctx: RunContext, method: str = "lwf-no-head-stage") -> list[Row]:
    model = with_new_head(ctx, old_full_network(ctx, method), (), freeze_old=False)
    return _rows(ctx, method, train_lwf(ctx, method, model))
