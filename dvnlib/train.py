"""Training and evaluation shared by every method: the optimiser the paper fixes, the learning
rate schedule a profile sets, the unit of training length, the joint step of eq. 4, evaluation,
and the loop (``fit``) every method trains with.

**The unit of training length is the epoch: one pass over each task's training split.** Every
network, of every method, that learns a task makes the profile's number of passes over that task's
data ("until the same epoch number", Section 4). A joint step takes a batch from every task that is
due (``EpochPlan``): tasks smaller than the largest take fewer steps, spread evenly over the epoch,
so that a joint DVN on J3 gives STL-10 exactly the steps an independent STL-10 network takes.

**The fast path** (``output_losses``) is the default: activations are channels-last (NHWC, which
the CPU kernels run faster; ``DVNNet.memory_format``) and each task's input layer runs once per
step for all of that task's levels (they all read the same unsplit maps of the same batch). The
gradient is the same as running the input layer once per level (a test checks it against
``output_losses_per_level``, the previous path the benchmark times). What differs is the input
layer's BN running statistics: they are updated once per step with the task's batch, instead of
once per level with the same batch (which applied the momentum n_h times per step).
"""
from __future__ import annotations

import math
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .scenarios import Profile

Output = tuple[int, int]
Batches = Mapping[int, tuple[torch.Tensor, torch.Tensor]]  # task (1-based) -> (images, labels)


class Diverged(FloatingPointError):
    """A run that blew up: a non-finite loss, a loss that exploded far above where it started
    (``LossWatch``), or a run long enough to learn that ends at chance (``check_learned``). The
    run stops and nothing of it is written as a result (a diverged network arg-maxes to one class
    and would pass for chance accuracy)."""


EXPLODED = 100.0  # a loss window above this many times the stage's starting loss has blown up
LOSS_WINDOW = 10  # steps averaged, so that one noisy step never decides


class LossWatch:
    """Divergence judged by the loss, finite or not. A stage's loss starts near the sum over its
    outputs of ln(classes) (or lower, from a trained network) and falls as it learns. The rule:
    the mean of the last ``LOSS_WINDOW`` steps' losses above ``EXPLODED`` x the stage's first
    loss (at least 1 nat, so that a near-zero start cannot make noise look like an explosion).
    Weights that blow up pass it within steps (FJ1 smoke at lr 1000: 7.0 at the first step, 7e5
    at the second) while the loss stays finite; a run that learns never comes near. Reading the
    loss changes nothing that is computed."""

    def __init__(self, reference: float | None = None):
        self.reference = reference  # the stage's first loss: kept in its checkpoints
        self.recent: list[float] = []

    def exploded(self, loss: float) -> bool:
        if self.reference is None:
            self.reference = loss
        self.recent = [*self.recent[1 - LOSS_WINDOW:], loss]
        return sum(self.recent) / len(self.recent) > EXPLODED * max(self.reference, 1.0)


SGD_IMPLS = ("foreach", "loop", "fused")


def sgd(params, profile: Profile, lr: float | None = None, impl: str = "foreach") -> torch.optim.SGD:
    """SGD with Nesterov momentum 0.9 (Section 4.2) and the profile's lr and weight decay.
    ``impl``: how the update runs: ``foreach`` (the default: one kernel per parameter group),
    ``loop`` (one per tensor) or ``fused``; the same update, timed against each other in
    ``dvnlib.bench``."""
    if impl not in SGD_IMPLS:
        raise ValueError(f"unknown SGD implementation {impl!r}: valid are {', '.join(SGD_IMPLS)}")
    return torch.optim.SGD(params, lr=profile.lr if lr is None else lr, momentum=profile.momentum,
                           nesterov=True, weight_decay=profile.weight_decay,
                           foreach=impl == "foreach", fused=impl == "fused")


def lr_factor(profile: Profile, total_steps: int, warmup_steps: int = 0) -> Callable[[int], float]:
    """The learning rate at step s over the starting rate: a linear warm-up from 1/warmup to 1 over
    ``warmup_steps``, then multi-step decay (x gamma at each milestone, a fraction of all steps)."""
    milestones = sorted({max(1, round(m * total_steps)) for m in profile.milestones})

    def factor(step: int) -> float:
        warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
        return warm * profile.gamma ** sum(step >= m for m in milestones)
    return factor


# ---------------------------------------------------------------------------------------------
# The unit of training length

class EpochPlan:
    """Which task takes a batch at which step, so that an epoch is one pass over *each* task.

    An epoch has as many steps as the largest task has batches (S). A task with n batches per pass
    takes one at epoch step r when ``(r+1) n // S > r n // S``: n times per epoch, evenly spread,
    drawing its batches in order. Every task then makes the same number of passes; with equal
    tasks every step takes a batch from every task. Batches depend only on the step, so a resumed
    run sees the same data."""

    def __init__(self, streams: Sequence, tasks: Sequence[int]):
        if len(streams) != len(tasks):
            raise ValueError("one stream per task")
        self.streams, self.tasks = list(streams), list(tasks)
        self.steps_per_epoch = max(s.steps_per_pass for s in streams)

    def batches(self, step: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        epoch, r = divmod(step, self.steps_per_epoch)
        out = {}
        for t, s in zip(self.tasks, self.streams):
            n, S = s.steps_per_pass, self.steps_per_epoch
            lo, hi = r * n // S, (r + 1) * n // S
            if hi > lo:
                out[t] = s.batch(epoch * n + lo)
        return out

    def steps_per_task(self, epochs: int) -> dict[int, int]:
        return {t: epochs * s.steps_per_pass for t, s in zip(self.tasks, self.streams)}


# ---------------------------------------------------------------------------------------------
# Losses and steps

def by_task(batches: Batches | Sequence) -> Batches:
    return batches if isinstance(batches, Mapping) else dict(enumerate(batches, 1))


def cross_entropy(logits: torch.Tensor, y: torch.Tensor, task: int, level: int) -> torch.Tensor:
    return F.cross_entropy(logits, y)


def output_losses(net: nn.Module, batches: Batches, outputs: Iterable[Output],
                  loss_fn=cross_entropy) -> dict[Output, torch.Tensor]:
    """Backpropagate ``loss_fn`` of each (task, level) in ``outputs`` whose task has a batch,
    accumulating into ``.grad``; returns the detached losses. The sum of these gradients is the
    gradient of eq. 4 (eq. 5).

    Each task's input layer runs once; every level of that task backpropagates into a detached
    copy of its output, one level's graph alive at a time, and the summed gradient then goes
    through the input layer once. Networks without ``stem``/``trunk`` run whole, per output.
    ``batches`` maps tasks (1-based) to batches; a sequence is read as tasks 1, 2, ..."""
    batches = by_task(batches)
    outputs = [o for o in outputs if o[0] in batches]
    if not hasattr(net, "stem"):
        return output_losses_per_level(net, batches, outputs, loss_fn)
    losses = {}
    for t in dict.fromkeys(t for t, _ in outputs):
        x, y = batches[t]
        h0 = net.stem(x, t)
        h = h0.detach().requires_grad_()
        for tt, l in outputs:
            if tt == t:
                loss = loss_fn(net.trunk(h, t, l), y, t, l)
                loss.backward()
                losses[(t, l)] = loss.detach()
        if h.grad is not None:
            h0.backward(h.grad)
    return losses


def output_losses_per_level(net: nn.Module, batches: Batches, outputs: Iterable[Output],
                            loss_fn=cross_entropy) -> dict[Output, torch.Tensor]:
    """The previous path: each output runs the whole network, its input layer included. Kept as
    the reference the fast path is tested and benchmarked against."""
    batches, losses = by_task(batches), {}
    for t, l in outputs:
        if t not in batches:
            continue
        x, y = batches[t]
        loss = loss_fn(net(x, t, l), y, t, l)
        loss.backward()
        losses[(t, l)] = loss.detach()
    return losses


def joint_step(net, opt: torch.optim.Optimizer, batches: Batches | Sequence,
               outputs: Iterable[Output] | None = None) -> dict[Output, torch.Tensor]:
    """One step of eq. 4: every output whose task has a batch, one optimiser step. ``batches``
    maps tasks (1-based) to batches; a sequence is read as tasks 1, 2, ..."""
    opt.zero_grad(set_to_none=True)
    losses = output_losses(net, batches, net.outputs if outputs is None else outputs)
    opt.step()
    return losses


def total(losses: Mapping[Output, torch.Tensor]) -> torch.Tensor:
    """The sum of a step's detached losses (zero when no output had a batch)."""
    return torch.stack(list(losses.values())).sum() if losses else torch.zeros(())


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float = 2.0) -> torch.Tensor:
    """Hinton's modified cross-entropy as Learning without Forgetting uses it (Li & Hoiem, eq. 2;
    the paper's L_D of eq. 6): the cross-entropy between the teacher's and the student's
    distributions softened by temperature ``T``, ``-sum_c softmax(t/T)_c log softmax(s/T)_c``,
    averaged over the batch. No T^2 factor (LwF weights it by lambda_o = 1 instead); it differs
    from KL(teacher || student) by the teacher's entropy, a constant, so the gradient is the same."""
    p = F.softmax(teacher_logits.detach() / T, dim=1)
    return -(p * F.log_softmax(student_logits / T, dim=1)).sum(1).mean()


@torch.no_grad()
def predict(net, batches: Mapping[int, Iterable[tuple[torch.Tensor, torch.Tensor]]],
            outputs: Iterable[Output] | None = None) -> dict[Output, tuple[torch.Tensor, torch.Tensor]]:
    """(predicted class, true label) of every image, in batch order, for every (task, level) on
    its task's batches, in eval mode (each task's input layer once per batch, where the network
    has one). Per-image predictions let intervals resample test images, paired between methods."""
    outputs = list(net.outputs if outputs is None else outputs)
    was_training = net.training
    net.eval()
    found: dict[Output, tuple[list, list]] = {o: ([], []) for o in outputs}
    for t, task_batches in batches.items():
        levels = [l for (tt, l) in outputs if tt == t]
        if not levels:
            continue
        for x, y in task_batches:
            h = net.stem(x, t) if hasattr(net, "stem") else None
            for l in levels:
                logits = net.trunk(h, t, l) if h is not None else net(x, t, l)
                found[(t, l)][0].append(logits.argmax(1).cpu())
                found[(t, l)][1].append(y.cpu())
    net.train(was_training)
    return {o: (torch.cat(p) if p else torch.zeros(0, dtype=torch.long),
                torch.cat(y) if y else torch.zeros(0, dtype=torch.long)) for o, (p, y) in found.items()}


def evaluate(net, batches: Mapping[int, Iterable[tuple[torch.Tensor, torch.Tensor]]],
             outputs: Iterable[Output] | None = None) -> dict[Output, tuple[int, int]]:
    """(correct, total) of every (task, level) on its task's batches (``predict``)."""
    return {o: (int((p == y).sum()), len(y)) for o, (p, y) in predict(net, batches, outputs).items()}


# ---------------------------------------------------------------------------------------------
# The loop every method shares: epochs of steps, a checkpoint after every epoch, exact resume.

TRAIN_EVAL_IMAGES = 2000  # per task: the fixed training subset train_accuracy is measured on


LEARN_STEPS = 200  # a task trained for this many SGD steps should be well above chance
CHANCE_Z = 4.0  # standard errors above chance that a learned output must reach


def check_learned(ctx: RunContext, rows) -> None:
    """Raise ``Diverged`` if an output of a run long enough to learn ends at chance on its own
    training images: weights that blew up and settled at a finite loss (lr too high) stay there.
    "Long enough": the output's task took ``LEARN_STEPS`` steps or more over all stages (smoke and
    quick runs take fewer and are never judged); "at chance": training accuracy within
    ``CHANCE_Z`` binomial standard errors of 1/classes over the images it was measured on."""
    steps = ctx.steps_per_task()
    for r in rows:
        trained = sum(steps.get(r.task, {}).values())
        if trained < LEARN_STEPS:
            continue
        p = 1 / ctx.scenario.tasks[r.task - 1].num_classes
        n = min(TRAIN_EVAL_IMAGES, len(ctx.train_data[r.task - 1].y))
        bound = 100 * (p + CHANCE_Z * math.sqrt(p * (1 - p) / n))
        if r.train_accuracy <= bound:
            stage = list(steps[r.task])[-1]
            raise Diverged(
                f"{ctx.label} did not learn: output (task {r.task}, level {r.level}) ends at {r.train_accuracy:.1f}% "
                f"on {n} training images, chance {100 * p:.1f}% (at most {bound:.1f}% is chance), after {trained} "
                f"steps (stage {stage!r}, step {steps[r.task][stage]}), learning rate {ctx.profile.lr:.4g}. Nothing "
                f"of this run was written; lower the learning rate (overrides: {{lr: ...}}) and run it again")


class TrainContext:
    """What ``fit`` needs: the training settings (a ``Profile``), the seed, the device, each task's
    train and test data (``data.TaskData``), where to checkpoint and under which key. ``fit``
    records what it trained in ``stages``; a method leaves its final network in ``trained``.

    ``shared_lock(path, what)`` gives the context manager a shared stage is trained under, where
    several processes may want it at once; the scheduler that starts those processes passes its
    lock (``workers.py``), and training itself knows nothing of processes. Default: no lock."""

    def __init__(self, profile: Profile, seed: int, device, train_data, test_data, ckpt_dir, key: str,
                 progress: bool = True, label: str = "", shared_dir=None, shared_key: str | None = None,
                 shared_lock: Callable[[Path, str], AbstractContextManager] | None = None):
        self.profile, self.seed = profile, seed
        self.device = torch.device(device)
        self.train_data, self.test_data = list(train_data), list(test_data)
        self.ckpt_dir, self.key, self.progress = ckpt_dir, key, progress
        # Stages that several methods share (the old network of sequential learning) live here,
        # keyed by the configuration and seed but not the method, so they are trained once.
        self.shared_dir, self.shared_key = shared_dir or ckpt_dir, shared_key or key
        self.shared_lock = shared_lock or (lambda path, what: nullcontext())
        self.label = label or f"seed {seed}"
        self.train_seconds = 0.0
        # stage name -> {task: {"epochs": passes over its training split, "steps": batches}}
        self.stages: dict[str, dict[int, dict[str, int]]] = {}
        # name -> (trained network, its Layout): what a run keeps for deployment (``dvn``)
        self.trained: dict[str, tuple[nn.Module, object]] = {}
        # (task, level) of a result row -> (predicted class, true label) of every test image, in
        # the test split's order: kept beside the run's record (``results.write_predictions``)
        self.predictions: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

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

    def train_eval_batches(self, tasks: Sequence[int] | None = None) -> dict:
        """A fixed subset of each task's training split (the same for every seed and method),
        unaugmented: what ``train_accuracy`` is measured on."""
        from .data import subset, test_batches
        tasks = range(1, len(self.train_data) + 1) if tasks is None else tasks
        return {t: test_batches(subset(self.train_data[t - 1], TRAIN_EVAL_IMAGES), 256, self.device) for t in tasks}

    def epochs_per_task(self) -> dict[int, dict[str, int]]:
        """For each task, the passes over its training split made by each stage that learns it."""
        return _per_task(self.stages, "epochs")

    def steps_per_task(self) -> dict[int, dict[str, int]]:
        return _per_task(self.stages, "steps")


class RunContext(TrainContext):
    """What a training method is given: a ``TrainContext`` for the scenario at its profile.
    Methods return ``results.Row``s."""

    def __init__(self, scenario, profile_name: str, seed: int, device, train_data, test_data,
                 ckpt_dir, key: str, progress: bool = True, label: str = "",
                 shared_dir=None, shared_key: str | None = None, settings: Profile | None = None,
                 backbone=None, shared_lock: Callable[[Path, str], AbstractContextManager] | None = None):
        # the profile's settings and backbone as the run resolved them (``runs.Plan``); resolved
        # here from the scenario where a context is made by hand
        super().__init__(settings if settings is not None else scenario.profile(profile_name), seed, device,
                         train_data, test_data, ckpt_dir, key, progress, label or f"{scenario.id} seed {seed}",
                         shared_dir, shared_key, shared_lock)
        self.scenario, self.profile_name = scenario, profile_name
        self.backbone = backbone if backbone is not None else scenario.backbone(profile_name)

    def layout(self, **overrides):
        from .layout import layout
        return layout(self.scenario, self.profile_name, backbone=self.backbone, **overrides)


def _per_task(stages, field: str) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for stage, tasks in stages.items():
        for t, info in tasks.items():
            out.setdefault(t, {})[stage] = info[field]
    return dict(sorted(out.items()))


def fit(ctx: TrainContext, stage: str, model: nn.Module, step: Callable[[Batches], torch.Tensor],
        tasks: Sequence[int], params=None, epochs: int | None = None, shared: bool = False,
        finetune: bool = False, freezer=None) -> nn.Module:
    """Train ``model`` for ``epochs`` (default: the profile's) passes over each of ``tasks``'
    training data (``EpochPlan``). ``step(batches)`` computes the losses of one step from the
    batches of the tasks due and backpropagates them; it returns their sum (detached), which must
    be finite (else ``Diverged``). ``fit`` owns the optimiser (``sgd`` over ``params``, default
    every parameter) and the schedule (``lr_factor``): from scratch at the profile's rate, or,
    with ``finetune``, from a trained network at ``profile.finetune_lr_scale`` x that rate after
    a linear warm-up over ``profile.warmup`` of the stage's steps. ``freezer`` (optional) keeps
    some weights bit-identical: its ``zero_grads`` runs after backward, ``restore`` after the step.

    After every epoch the model, optimiser and schedule are checkpointed to
    ``<ckpt_dir>/<stage>.pt``; a rerun resumes from there, and a finished stage is not retrained.
    ``shared=True`` keeps the stage where every method of this seed finds it (``ctx.shared_dir``).
    Returns ``model`` reloaded from the final checkpoint: the checkpoint is the result."""
    from time import perf_counter

    from tqdm.auto import tqdm

    from .results import load_checkpoint, resume_checkpoint, save_checkpoint
    p = ctx.profile
    epochs = p.epochs if epochs is None else epochs
    plan = EpochPlan(ctx.streams(tasks), tasks)
    spe = plan.steps_per_epoch
    total = epochs * spe
    lr = p.lr * (p.finetune_lr_scale if finetune else 1.0)
    warmup = math.ceil(p.warmup * total) if finetune else 0
    opt = sgd(model.parameters() if params is None else params, p, lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(p, total, warmup))
    path = (ctx.shared_dir if shared else ctx.ckpt_dir) / f"{stage}.pt"
    key = ctx.shared_key if shared else ctx.key
    # A shared stage is wanted by several runs of a seed, which may run at once (worker processes,
    # cluster jobs): one trains it under its lock while the others wait, then read it back.
    held = ctx.shared_lock(path.with_suffix(".lock"), f"{ctx.label}: shared stage {stage}") if shared else nullcontext()
    with held:
        start, watch = 0, LossWatch()
        state = resume_checkpoint(path, map_location=ctx.device)  # None: none, or unreadable and moved aside
        if state is not None and state.get("key") == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["schedule"])
            start = int(state["epoch"])
            watch = LossWatch(state.get("loss_reference"))
        ctx.stages[stage] = {t: {"epochs": epochs, "steps": n} for t, n in plan.steps_per_task(epochs).items()}
        with tqdm(total=total, initial=start * spe, desc=f"{ctx.label}: {stage}", unit="step",
                  disable=not ctx.progress, leave=False, dynamic_ncols=True) as bar:
            for epoch in range(start, epochs):
                model.train()
                t0, images = perf_counter(), 0
                for i in range(spe):
                    s = epoch * spe + i
                    batches = plan.batches(s)
                    opt.zero_grad(set_to_none=True)
                    loss = step(batches)
                    value = float(loss)
                    if not math.isfinite(value) or watch.exploded(value):
                        why = "" if not math.isfinite(value) else (
                            f" (the mean of the last {len(watch.recent)} steps' losses is over {EXPLODED:g}x "
                            f"the stage's first, {watch.reference:.4g})")
                        raise Diverged(
                            f"{ctx.label} diverged: stage {stage!r}, step {s} of {total}, loss {value:.4g}{why}, "
                            f"learning rate {opt.param_groups[0]['lr']:.4g}. Nothing of this run was written; "
                            f"lower the learning rate (overrides: {{lr: ...}}) and run it again")
                    if freezer is not None:
                        freezer.zero_grads()
                    opt.step()
                    if freezer is not None:
                        freezer.restore()
                    sched.step()
                    images += sum(len(y) for _, y in batches.values())
                    bar.update(1)
                    if i % 10 == 0:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{value:.3f}",
                                        img_s=f"{images / max(perf_counter() - t0, 1e-9):.0f}")
                ctx.train_seconds += perf_counter() - t0
                save_checkpoint(path, {"key": key, "epoch": epoch + 1, "model": model.state_dict(),
                                       "optimizer": opt.state_dict(), "schedule": sched.state_dict(),
                                       "loss_reference": watch.reference})
        # Evaluate what was saved, not the object that trained: the checkpoint is the result.
        model.load_state_dict(load_checkpoint(path, map_location=ctx.device)["model"])
        return model


def train_outputs(ctx: TrainContext, stage: str, net: nn.Module, outputs: Sequence[Output],
                  tasks: Sequence[int] | None = None, shared: bool = False) -> nn.Module:
    """Train ``outputs`` of ``net`` jointly with the sum of their cross-entropies (eq. 4 restricted
    to those outputs; eq. 1 for a single task). Net task i reads the data of the context's task
    ``tasks[i-1]`` (default: the same index)."""
    tasks = list(range(1, len(ctx.train_data) + 1) if tasks is None else tasks)
    to_net = {t: i for i, t in enumerate(tasks, 1)}

    def step(batches: Batches) -> torch.Tensor:
        return total(output_losses(net, {to_net[t]: b for t, b in batches.items()}, outputs))

    return fit(ctx, stage, net, step, tasks, shared=shared)
