"""Training and evaluation shared by every method: the optimiser the paper fixes, the learning
rate schedule a profile sets, the joint DVN step of eq. 4 and evaluation of every output."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

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


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 2.0) -> torch.Tensor:
    """Hinton's modified cross-entropy as Learning without Forgetting uses it (Li & Hoiem, eq. 2;
    the paper's L_D of eq. 6): the cross-entropy between the teacher's and the student's
    distributions softened by temperature ``T``, ``-sum_c softmax(t/T)_c log softmax(s/T)_c``,
    averaged over the batch. No T^2 factor (LwF weights it by lambda_o = 1 instead); it differs
    from KL(teacher || student) by the teacher's entropy, a constant, so the gradient is the same."""
    p = F.softmax(teacher_logits.detach() / T, dim=1)
    return -(p * F.log_softmax(student_logits / T, dim=1)).sum(1).mean()


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


# ---------------------------------------------------------------------------------------------
# The loop every method shares: epochs of steps, a checkpoint after every epoch, exact resume.

class RunContext:
    """What a training method is given: the scenario at its profile, the seed, the device, each
    task's train and test data, and where to checkpoint. Methods return ``results.Row``s."""

    def __init__(self, scenario, profile_name: str, seed: int, device, train_data, test_data,
                 ckpt_dir, key: str, progress: bool = True, label: str = "",
                 shared_dir=None, shared_key: str | None = None):
        self.scenario, self.profile_name, self.seed = scenario, profile_name, seed
        self.profile = scenario.profile(profile_name)
        self.device = torch.device(device)
        self.train_data, self.test_data = list(train_data), list(test_data)
        self.ckpt_dir, self.key, self.progress = ckpt_dir, key, progress
        # Stages that several methods share (the old network of sequential learning) live here,
        # keyed by the configuration and seed but not the method, so they are trained once.
        self.shared_dir, self.shared_key = shared_dir or ckpt_dir, shared_key or key
        self.label = label or f"{scenario.id} seed {seed}"
        self.train_seconds = 0.0

    def layout(self, **overrides):
        from .layout import layout
        return layout(self.scenario, self.profile_name, **overrides)

    def streams(self, tasks: Sequence[int] | None = None):
        """Resumable training batches for the given tasks (1-based; default all)."""
        from .data import TrainStream
        tasks = range(1, len(self.train_data) + 1) if tasks is None else tasks
        return [TrainStream(self.train_data[t - 1], self.profile.batch_size, self.device, self.seed, t - 1)
                for t in tasks]

    def test_batches(self, tasks: Sequence[int] | None = None) -> dict:
        from .data import test_batches
        tasks = range(1, len(self.test_data) + 1) if tasks is None else tasks
        return {t: test_batches(self.test_data[t - 1], 256, self.device) for t in tasks}


def fit(ctx: RunContext, stage: str, model: nn.Module, opt: torch.optim.Optimizer, sched,
        step: "Callable[[int], int]", steps_per_epoch: int, epochs: int | None = None,
        shared: bool = False) -> nn.Module:
    """Train ``model`` for ``epochs`` (default: the profile's) epochs of ``steps_per_epoch`` calls
    of ``step(global_step)``, which returns the number of images it used. After every epoch the
    model, optimiser and schedule are checkpointed to ``<ckpt_dir>/<stage>.pt``; a rerun resumes
    from there (batches depend only on the step, so the resumed run sees the same data), and a
    finished stage is not retrained. ``shared=True`` keeps the stage where every method of this
    seed finds it (``ctx.shared_dir``). Returns ``model`` reloaded from the final checkpoint."""
    from time import perf_counter

    from tqdm.auto import tqdm

    from .results import load_checkpoint, save_checkpoint
    epochs = ctx.profile.epochs if epochs is None else epochs
    path = (ctx.shared_dir if shared else ctx.ckpt_dir) / f"{stage}.pt"
    key = ctx.shared_key if shared else ctx.key
    start = 0
    if path.exists():
        state = load_checkpoint(path, map_location=ctx.device)
        if state.get("key") == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["schedule"])
            start = int(state["epoch"])
    total = epochs * steps_per_epoch
    with tqdm(total=total, initial=start * steps_per_epoch, desc=f"{ctx.label}: {stage}", unit="step",
              disable=not ctx.progress, leave=False, dynamic_ncols=True) as bar:
        for epoch in range(start, epochs):
            model.train()
            t0, images = perf_counter(), 0
            for i in range(steps_per_epoch):
                images += step(epoch * steps_per_epoch + i)
                sched.step()
                bar.update(1)
                if i % 10 == 0:
                    bar.set_postfix(epoch=epoch + 1, img_s=f"{images / max(perf_counter() - t0, 1e-9):.0f}")
            ctx.train_seconds += perf_counter() - t0
            save_checkpoint(path, {"key": key, "epoch": epoch + 1, "model": model.state_dict(),
                                   "optimizer": opt.state_dict(), "schedule": sched.state_dict()})
    # Evaluate what was saved, not the object that trained: the checkpoint is the result.
    model.load_state_dict(load_checkpoint(path, map_location=ctx.device)["model"])
    return model
