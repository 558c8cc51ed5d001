"""What the compared methods share: independent single-task networks, parameter usage masks (the
exact N_O and N_T of a network whose outputs use only part of it), freezing of weight slices,
copying one output's sub-network into another network, training a fixed set of outputs with
cross-entropy, and result rows.

Conventions every method follows (the README's "Methods" section repeats them):

* ``params`` (a row's share of N_O) is every parameter the output touches: its input layer, the
  convolution weights between its input and output channels, the BN scale and shift it applies,
  and its head; for networks built here it is computed from the weights the output actually
  slices (``used_params``), which a test checks against ``accounting.output_cost``.
* ``params_total`` (N_T) counts what the method has to store for all of its outputs: the union of
  what its outputs touch, summed over all of its networks. Modules of the ``DVNNet`` container that
  no output of the method uses (it builds a BN and head for every (task, level) of its
  configuration) are never trained or evaluated and are not counted.
* ``density`` is ``params`` over the parameters of the task's full-width network, the same
  denominator DVN uses: the top level of that task in the scenario's DVN layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import torch
from torch import nn

from .. import accounting
from .. import units as U
from ..backbones import BackboneSpec, BlockDef, ConvDef
from ..layout import Layout
from ..network import DVNNet, io_slices, key
from ..results import Row
from ..train import RunContext, evaluate, predict, train_outputs

Output = tuple[int, int]


# ---------------------------------------------------------------------------------------------
# Independent networks with the architecture of one DVN output.

@dataclass(frozen=True)
class SlicedSpec(BackboneSpec):
    """A backbone whose layer plan is given explicitly: the plan of one (task, level) slice of a
    wider backbone, so that an independent network has exactly that output's architecture (same
    input layer, same shortcut types, that level's widths)."""
    block_plan: tuple[BlockDef, ...] = ()

    def plan(self) -> list[BlockDef]:
        return list(self.block_plan)


def independent_layout(lay: Layout, task: int, level: int) -> Layout:
    """A single-task, single-output layout whose one network is output (task, level) of ``lay``
    as a standalone network: its input layer, the widths of that level's units in every layer and
    its head. ``accounting.output_cost`` of the two is the same (a test checks it)."""
    spec, width = lay.spec, lay.widths(task, level)

    def conv(d: ConvDef | None) -> ConvDef | None:
        if d is None:
            return None
        return replace(d, in_ch=width[d.in_ch] if d.in_split else d.in_ch, out_ch=width[d.out_ch])

    plan = tuple(BlockDef(conv(b.conv1), conv(b.conv2), conv(b.shortcut)) for b in spec.plan())
    widths = tuple(width[w] for w in spec.widths)
    name = spec.name if widths == spec.widths else f"{spec.name} at widths {'/'.join(map(str, widths))}"
    sliced = SlicedSpec(name, spec.family, spec.stem_channels, widths, spec.blocks, spec.strides,
                        spec.maxpool, plan)
    return Layout(lay.scenario, sliced, (lay.tasks[task - 1],), ((1,),), (1,), lay.bn)


def init_seed(seed: int, *parts: int) -> int:
    """A distinct, reproducible initialisation seed for each network a method builds."""
    s = seed
    for p in parts:
        s = s * 1_000_003 + p
    return s % (2 ** 63)


def independent_network(ctx: RunContext, lay: Layout, task: int, level: int) -> tuple[DVNNet, Layout]:
    """Output (task, level) of ``lay`` as an independent network, trained from scratch with
    cross-entropy on task ``task`` alone for the profile's epochs. The stage is shared
    (``fit(shared=True)``) and named by its task and widths, so the baseline, and the sequential
    methods that start from an old network of the same architecture, train it once per seed."""
    ind = independent_layout(lay, task, level)
    torch.manual_seed(init_seed(ctx.seed, task, *ind.spec.widths))
    net = DVNNet.from_layout(ind).to(ctx.device)
    stage = f"independent-t{task}-w{'-'.join(map(str, ind.spec.widths))}" + ("" if lay.bn == "per_output" else f"-{lay.bn}")
    return train_outputs(ctx, stage, net, [(1, 1)], tasks=[task], shared=True), ind


# ---------------------------------------------------------------------------------------------
# Evaluation of a fixed set of outputs.

# ((correct, total) on test, the same on train, (predicted class, label) of every test image)
Accuracy = tuple[tuple[int, int], tuple[int, int], tuple[torch.Tensor, torch.Tensor]]


def accuracy(ctx: RunContext, net: nn.Module, outputs: Sequence[Output],
             tasks: Sequence[int] | None = None) -> dict[Output, Accuracy]:
    """Test and training accuracy of each output of ``net`` (net task i on scenario task
    ``tasks[i-1]``): the whole test split, image by image, and the fixed training subset of
    ``RunContext.train_eval_batches``, both in eval mode and unaugmented."""
    tasks = list(range(1, len(ctx.test_data) + 1) if tasks is None else tasks)
    used = [(i, t) for i, t in enumerate(tasks, 1) if any(o[0] == i for o in outputs)]
    test, train = ctx.test_batches([t for _, t in used]), ctx.train_eval_batches([t for _, t in used])
    on_test = predict(net, {i: test[t] for i, t in used}, outputs)
    on_train = evaluate(net, {i: train[t] for i, t in used}, outputs)
    return {o: ((int((on_test[o][0] == on_test[o][1]).sum()), len(on_test[o][1])), on_train[o], on_test[o])
            for o in outputs}


def full_params(ctx: RunContext) -> dict[int, int]:
    """Density's denominator: each task's full-width network, the top level of the scenario's DVN."""
    lay = ctx.layout()
    return {t: accounting.output_cost(lay, t, U.n_levels(lay.config, t))[0] for t in range(1, len(lay.tasks) + 1)}


def make_row(ctx: RunContext, method: str, task: int, level: int, units: str, params: int, total: int,
             acc: Accuracy, full: dict[int, int]) -> Row:
    (correct, n), (train_correct, train_n), per_image = acc
    ctx.predictions[(task, level)] = per_image  # the row's own (task, level), whatever network gave it
    return Row(method, ctx.seed, task, ctx.scenario.tasks[task - 1].name, level, units, int(params), int(total),
               params / full[task], 100.0 * correct / n, 100.0 * train_correct / train_n, n)


def units_str(units: Iterable[int]) -> str:
    return ",".join(map(str, units))


# ---------------------------------------------------------------------------------------------
# Which parameters an output uses.

def usage_masks(net: DVNNet, outputs: Iterable[Output]) -> dict[str, torch.Tensor]:
    """For every parameter of ``net``, a boolean mask of the elements that any of ``outputs``
    uses in its forward pass: its input layer, the weight slice from its input to its output
    channels in every split convolution, the BN scale and shift it applies, its head."""
    params = dict(net.named_parameters())
    masks = {n: torch.zeros(p.shape, dtype=torch.bool) for n, p in params.items()}
    for t, l in outputs:
        U.check_output(net.config, t, l)
        k, sl = key(t, l), net.slices[(t, l)]
        for n in masks:
            if n.startswith(f"stems.{t - 1}.") or n.startswith(f"heads.{k}."):
                masks[n][...] = True
        for i, blk in enumerate(net.blocks):
            for name, conv in blk.convs():
                prefix = f"blocks.{i}.{name}"
                (o0, o1), (i0, i1) = io_slices(sl, conv.d)
                masks[f"{prefix}.weight"][o0:o1, i0:i1] = True
                if conv.bn_mode == "per_output":
                    masks[f"{prefix}.bns.{k}.weight"][...] = True
                    masks[f"{prefix}.bns.{k}.bias"][...] = True
                else:  # one scale and shift per channel, shared by every output
                    masks[f"{prefix}.bn.weight"][o0:o1] = True
                    masks[f"{prefix}.bn.bias"][o0:o1] = True
    return masks


def used_params(net: DVNNet, outputs: Iterable[Output]) -> int:
    """The number of parameters the union of ``outputs`` uses: one output's count is its share of
    N_O, all of a method's outputs together its N_T."""
    return sum(int(m.sum()) for m in usage_masks(net, outputs).values())


class Freezer:
    """Keeps parameter elements bit-identical while ``net`` trains: those that ``outputs`` use
    and, with ``keep_unused_by``, those that none of those outputs uses (weights reserved for
    later tasks). ``zero_grads`` after backward removes their gradient, and ``restore`` after the
    optimiser step writes back their saved values, undoing what SGD's weight decay and momentum
    would otherwise move (a zero gradient does not stop either)."""

    def __init__(self, net: DVNNet, outputs: Iterable[Output], keep_unused_by: Iterable[Output] | None = None):
        self.params = dict(net.named_parameters())
        masks = usage_masks(net, outputs)
        if keep_unused_by is not None:
            used = usage_masks(net, keep_unused_by)
            masks = {n: m | ~used[n] for n, m in masks.items()}
        self.masks = {n: m.to(self.params[n].device) for n, m in masks.items() if m.any()}
        self.saved = {n: self.params[n].detach().clone() for n in self.masks}

    def zero_grads(self) -> None:
        for n, m in self.masks.items():
            g = self.params[n].grad
            if g is not None:
                g.masked_fill_(m, 0.0)

    @torch.no_grad()
    def restore(self) -> None:
        for n, m in self.masks.items():
            p = self.params[n]
            p.copy_(torch.where(m, self.saved[n], p))


@torch.no_grad()
def copy_output(src: DVNNet, src_output: Output, dst: DVNNet, dst_output: Output) -> None:
    """Copy the sub-network of ``src_output`` (input layer, weight slices, BN with its running
    statistics, head) into ``dst_output`` of ``dst``, whose architecture must be the same: the old
    network of sequential learning placed into the wider network that adds the new unit."""
    st, sk, ssl = src_output[0], key(*src_output), src.slices[src_output]
    dt, dk, dsl = dst_output[0], key(*dst_output), dst.slices[dst_output]
    dst.stems[dt - 1].load_state_dict(src.stems[st - 1].state_dict())
    dst.heads[dk].load_state_dict(src.heads[sk].state_dict())
    for sb, db in zip(src.blocks, dst.blocks, strict=True):
        if [n for n, _ in sb.convs()] != [n for n, _ in db.convs()]:
            raise ValueError("the two networks' blocks differ in their shortcuts")
        for (_, sc), (_, dc) in zip(sb.convs(), db.convs()):
            (so, si), (do, di) = io_slices(ssl, sc.d), io_slices(dsl, dc.d)
            dc.weight[do[0]:do[1], di[0]:di[1]] = sc.weight[so[0]:so[1], si[0]:si[1]]
            dc.load_bn(dk, do, sc.bn_for(sk, so))


@torch.no_grad()
def grow(net: DVNNet, old: Output, new: Output) -> None:
    """Function-preserving expansion (sequential learning, LwF's principle at n_h > 1): make
    output ``new`` compute exactly what ``old`` computes, ``old`` being a lower level of the same
    task (its channels a subset of ``new``'s in every layer). In every split convolution the
    weights from the channels ``new`` adds into ``old``'s channels are set to zero, ``new``'s BN
    takes ``old``'s values (running statistics included) on ``old``'s channels, and ``new``'s head
    is ``old``'s padded with zeros for the added channels. The added channels' own weights stay as
    initialised: they learn, while ``old``'s channels, and so the output, start unchanged."""
    if old[0] != new[0]:
        raise ValueError(f"grow needs two levels of one task: got outputs {old} and {new}")
    so, sn = net.slices[old], net.slices[new]
    ko, kn = key(*old), key(*new)
    for blk in net.blocks:
        for _, conv in blk.convs():
            (oo, oi), (no, ni) = io_slices(so, conv.d), io_slices(sn, conv.d)
            if not (no[0] <= oo[0] <= oo[1] <= no[1] and ni[0] <= oi[0] <= oi[1] <= ni[1]):
                raise ValueError(f"output {old}'s channels are not inside output {new}'s")
            rows = conv.weight[oo[0]:oo[1]]
            rows[:, ni[0]:oi[0]] = 0
            rows[:, oi[1]:ni[1]] = 0
            bn_old, bn_new = conv.bn_for(ko, oo), conv.bn_for(kn, no)
            a, b = oo[0] - no[0], oo[1] - no[0]
            for attr in ("weight", "bias", "running_mean", "running_var"):
                getattr(bn_new, attr)[a:b] = getattr(bn_old, attr)
            conv.load_bn(kn, no, bn_new)
    (oa, ob), (na, _) = so[net.spec.out_channels], sn[net.spec.out_channels]
    head_old, head_new = net.heads[ko], net.heads[kn]
    head_new.weight.zero_()
    head_new.weight[:, oa - na:ob - na] = head_old.weight
    head_new.bias.copy_(head_old.bias)


def new_head(in_features: int, num_classes: int, hidden: Sequence[int] = ()) -> nn.Module:
    """A new task's head: Xavier-initialised linear layers, ReLU between them, zero biases (as
    ``DVNNet``'s heads). ``hidden`` are the widths of additional fully connected layers."""
    layers: list[nn.Module] = []
    widths = [in_features, *hidden, num_classes]
    for a, b in zip(widths, widths[1:]):
        lin = nn.Linear(a, b)
        nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(lin.bias)
        layers += [lin, nn.ReLU(inplace=True)]
    return nn.Sequential(*layers[:-1])


# ---------------------------------------------------------------------------------------------
# How NestedNet and PackNet+ split the network.

def parameter_even_unit_sizes(k: int, scale: int = 1000) -> tuple[int, ...]:
    """Unit sizes whose first j units hold about j/k of a layer's weights: a prefix of a fraction
    f of the feature maps uses about f^2 of the weights between them, so the channel boundaries
    are at sqrt(j/k) (scaled by ``scale`` and rounded; boundaries round again per layer)."""
    b = [round(scale * math.sqrt(j / k)) for j in range(k + 1)]
    return tuple(b1 - b0 for b0, b1 in zip(b, b[1:]))


def nested_unit_sizes(scenario) -> tuple[int, ...]:
    """The unit sizes of NestedNet's and PackNet+'s nested groups, per the paper's text:

    * the scenario fixes unit sizes (J3, FJ3): those; the paper gives the compared methods the
      parameter ratios 4/16 : 9/16 : 1, which are units of sizes 2:1:1;
    * joint learning otherwise (J1, J2 and twins): parameters split almost evenly, "the first half
      and all of the parameters" (J1), 1/4 : 2/4 : 3/4 : 1 (J2) (``parameter_even_unit_sizes``);
    * hierarchical and sequential: the scenario's equal units, DVN's split. Table 3 puts
      NestedNet's coarse task at 1.8M parameters, one half-width unit of WRN-32-4, and Section 4.5
      gives the low level of NestedNet's two-level hierarchy no other size.
    """
    if scenario.unit_sizes is not None:
        return tuple(scenario.unit_sizes)
    if scenario.family == "joint":
        return parameter_even_unit_sizes(scenario.k)
    return tuple(scenario.units)


def nested_layout(ctx: RunContext) -> Layout:
    """The plain nested order 1..k for every task, with NestedNet's and PackNet+'s unit sizes."""
    return ctx.layout(rule="prefix", unit_sizes=nested_unit_sizes(ctx.scenario))


def check_one_unit_per_task(ctx: RunContext, method: str) -> None:
    if len(ctx.scenario.tasks) != ctx.scenario.k:
        raise ValueError(f"{method} gives task j the first j of k units: scenario {ctx.scenario.id} has "
                         f"{len(ctx.scenario.tasks)} tasks but k={ctx.scenario.k}")


def check_two_task_sequence(ctx: RunContext, method: str) -> None:
    if len(ctx.scenario.tasks) != 2:
        raise ValueError(f"{method} learns one old task and then one new task: scenario {ctx.scenario.id} "
                         f"has {len(ctx.scenario.tasks)} tasks")
