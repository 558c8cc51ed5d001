"""Parameter and arithmetic accounting per (task, level), computed from the layer plan alone.

What a (task, level) output counts (``params``), exactly the parameters of ``net.extract(task,
level)``:

* its task's input layer (convolution and its BN's scale and shift),
* in every split convolution, the weights from its input channels to its output channels: its
  units' own weights *and* the interconnections between them (footnote 4 of the paper),
* the BN scale and shift after each of those convolutions (running statistics are buffers, not
  parameters),
* the fully connected head of that level.

``density`` is ``params`` over the same task's top level. ``total_params`` (the paper's N_T) is
every parameter stored: all input layers, the full convolutions, every BN, every head. The paper
counts "a stand-alone unit" as 25% of WRN-32-4 for k = 2, i.e. it leaves the interconnections out
of the top level's share and quotes rounded figures; our counts include everything listed above.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import units as U
from .layout import Layout, layout


@dataclass(frozen=True)
class OutputCost:
    task: int
    level: int
    units: tuple[int, ...]
    params: int
    density: float
    macs: int  # multiply-accumulates for one image


def _conv_cost(in_w: int, out_w: int, kernel: int, hw: int) -> tuple[int, int]:
    weights = in_w * out_w * kernel * kernel
    return weights, weights * hw * hw


def output_cost(lay: Layout, task: int, level: int) -> tuple[int, int]:
    """(parameters, MACs per image) of output (task, level)."""
    spec, t = lay.spec, lay.tasks[task - 1]
    width = lay.widths(task, level)
    c0 = spec.stem_channels
    hw = t.input_size // t.stride
    p, m = _conv_cost(t.in_channels, c0, spec.stem_kernel(t.stride), hw)
    p += 2 * c0
    if spec.maxpool:
        hw = (hw + 1) // 2
    for b in spec.plan():
        c1 = b.conv1
        in_w = width[c1.in_ch] if c1.in_split else c1.in_ch
        out_w = width[c1.out_ch]
        hw_out = (hw + c1.stride - 1) // c1.stride
        for d, i_w, size in ((c1, in_w, hw_out), (b.conv2, out_w, hw_out), (b.shortcut, in_w, hw_out)):
            if d is None:
                continue
            dp, dm = _conv_cost(i_w, out_w, d.kernel, size)
            p, m = p + dp + 2 * out_w, m + dm
        hw = hw_out
    n = lay.tasks[task - 1].num_classes
    last_w = width[spec.out_channels]
    return p + last_w * n + n, m + last_w * n


def total_params(lay: Layout) -> int:
    """N_T: every parameter the physical network stores."""
    spec = lay.spec
    total = 0
    for t in lay.tasks:
        total += t.in_channels * spec.stem_channels * spec.stem_kernel(t.stride) ** 2 + 2 * spec.stem_channels
    outs = U.outputs(lay.config)
    widths = {o: lay.widths(*o) for o in outs}
    for b in spec.plan():
        for d in (b.conv1, b.conv2, b.shortcut):
            if d is None:
                continue
            total += d.in_ch * d.out_ch * d.kernel * d.kernel
            if lay.bn != "per_output":  # one scale and shift per channel, shared by every output
                total += 2 * d.out_ch
            else:
                total += sum(2 * widths[o][d.out_ch] for o in outs)
    for t, l in outs:
        n = lay.tasks[t - 1].num_classes
        total += widths[(t, l)][spec.out_channels] * n + n
    return total


def costs(lay: Layout) -> list[OutputCost]:
    out = []
    for t, l in U.outputs(lay.config):
        p, m = output_cost(lay, t, l)
        top, _ = output_cost(lay, t, U.n_levels(lay.config, t))
        out.append(OutputCost(t, l, U.level_units(lay.config, t, l), p, p / top, m))
    return out


def summary(scenario, profile: str | None = None, **overrides) -> dict:
    """What ``python -m dvnlib summary SCENARIO --json`` prints (see the README)."""
    lay = layout(scenario, profile, **overrides)
    return {
        "scenario": lay.scenario,
        "backbone": lay.spec.name,
        "k": lay.k,
        "unit_sizes": list(lay.unit_sizes),
        "total_params": total_params(lay),
        "outputs": [{"task": c.task, "level": c.level, "units": list(c.units), "params": c.params,
                     "density": c.density, "macs": c.macs} for c in costs(lay)],
    }


def search_resnet42(target: float = 29.8e6, classes: int = 50, k: int = 4,
                    minimum: tuple[int, ...] = (3, 4, 6, 3)) -> list[tuple[tuple[int, ...], int]]:
    """Every split of ResNet-42's 20 basic blocks over 4 stages that extends ResNet-34's
    (3, 4, 6, 3) (each stage at least as deep), with the top level's parameter count for J2,
    closest to ``target`` first: how ``RESNET_BLOCKS[42]`` was chosen."""
    from itertools import product

    from .backbones import BackboneSpec
    from .layout import TaskIO
    found = []
    for blocks in product(*(range(m, 21) for m in minimum)):
        if sum(blocks) != 20:
            continue
        spec = BackboneSpec("ResNet-42", "resnet", 64, (64, 128, 256, 512), blocks, (1, 2, 2, 2), True)
        lay = Layout("J2", spec, (TaskIO(3, classes, 2, 64),) * k, U.dvn_configuration(k), (1,) * k)
        found.append((blocks, output_cost(lay, 1, k)[0]))
    return sorted(found, key=lambda f: abs(f[1] - target))


def level_for(lay: Layout, task: int, max_params: int) -> int:
    """The largest level of ``task`` whose ``params`` (as ``summary`` counts them) is at most
    ``max_params``. A budget below the task's level 1 raises an error listing every level."""
    n = len(lay.tasks)
    if not (isinstance(task, int) and 1 <= task <= n):
        raise ValueError(f"unknown task {task!r}: scenario {lay.scenario or '?'} has tasks 1..{n}")
    levels = [(l, output_cost(lay, task, l)[0]) for l in range(1, U.n_levels(lay.config, task) + 1)]
    fits = [l for l, p in levels if p <= max_params]
    if not fits:
        listed = ", ".join(f"level {l}: {p:,}" for l, p in levels)
        raise ValueError(f"a budget of {max_params:,} parameters is below task {task}'s smallest level "
                         f"({listed} parameters)")
    return max(fits)
