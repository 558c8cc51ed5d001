"""The training side of the benchmark: one joint DVN step (eq. 4) against its ideal and against
masking, under several settings, and the share of a step spent producing its batches."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .. import accounting
from .. import scenarios as S
from .. import train as T
from .. import units as U
from ..layout import layout
from ..network import DVNNet
from ..timing import Timing, paired_ratio, speedup
from .engines import measure
from .masked import MaskedDVN


def _random_batches(lay, batch: int, device, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in lay.tasks:
        x = torch.randn(batch, t.in_channels, t.input_size, t.input_size, generator=g)
        y = torch.randint(0, t.num_classes, (batch,), generator=g)
        out.append((x.to(device), y.to(device)))
    return out


def per_level_step(net, opt, batches, outputs=None):
    """The joint step with every output running the whole network, its task's input layer
    included (``train.output_losses_per_level``): what the shared input layer saves is measured
    against it."""
    opt.zero_grad(set_to_none=True)
    losses = T.output_losses_per_level(net, T.by_task(batches), net.outputs if outputs is None else outputs)
    opt.step()
    return losses


@dataclass(frozen=True)
class TrainSetting:
    """One way to run the joint step. ``shared_stem``: each task's input layer once per step
    (``train.joint_step``, the default) rather than once per level (``per_level_step``);
    ``optimizer``: SGD's ``foreach`` (the default), ``loop`` (one update per tensor) or ``fused``."""
    name: str
    channels_last: bool = True
    threads: int | None = None
    shared_stem: bool = True
    optimizer: str = "foreach"


# The step ``train.py`` takes (DEFAULT) and the slowest combination of its switches (PREVIOUS: NCHW,
# input layer once per level, SGD's per-tensor loop), which the engine speed-up is measured against;
# the names are the labels of the committed ``training.csv``.
PREVIOUS = TrainSetting("previous default: NCHW, input layer per level", channels_last=False,
                        shared_stem=False, optimizer="loop")
DEFAULT = TrainSetting("default: channels_last, input layer per task")


def time_training(scenario: str = "J2", profile: str = "quick", repeats: int = 5, warmup: int = 1,
                  settings: Sequence[TrainSetting] = (PREVIOUS, DEFAULT),
                  device: torch.device | str = "cpu", batch: int | None = None, seed: int = 0,
                  **overrides) -> list[dict]:
    """For each setting: the joint DVN step (every (task, level) of eq. 4, one optimiser step),
    the full network's step (one pass of task 1's top level, one optimiser step) and the masked
    joint step, all interleaved. One dict per setting; ``ideal_ms`` is the full step scaled by the
    MACs of all passes over one full pass; ``speedup_vs_first`` is the first setting's joint step
    over this one's (the median of the ratios within a round)."""
    device = torch.device(device)
    lay = layout(scenario, profile, **overrides)
    prof = S.get(scenario).profile(profile)
    batch = batch or prof.batch_size
    cost = {(c.task, c.level): c.macs for c in accounting.costs(lay)}
    k = U.n_levels(lay.config, 1)
    batches = _random_batches(lay, batch, device, seed)
    mac_passes = sum(cost.values()) / cost[(1, k)]
    full_calls = max(1, round(mac_passes))

    def on(threads, f):
        def call():
            if threads is not None:
                torch.set_num_threads(threads)
            return f()
        return call
    fns = {}
    for s in settings:
        torch.manual_seed(seed)
        net = DVNNet.from_layout(lay).to(device).train()
        masked = MaskedDVN(net).to(device).train()
        net.memory_format = masked.memory_format = torch.channels_last if s.channels_last else None
        opt, opt_m = T.sgd(net.parameters(), prof, impl=s.optimizer), T.sgd(masked.parameters(), prof, impl=s.optimizer)
        step = T.joint_step if s.shared_stem else per_level_step
        fns[f"{s.name}|joint"] = on(s.threads, lambda st=step, n=net, o=opt: st(n, o, batches))
        fns[f"{s.name}|masked"] = on(s.threads, lambda st=step, m=masked, o=opt_m: st(m, o, batches))
        # As many full steps per timed sample as the joint step does full passes' worth of MACs,
        # so that both samples last about as long and see the same machine load.
        fns[f"{s.name}|full"] = on(s.threads, lambda st=step, n=net, o=opt:
                                   [st(n, o, batches, [(1, k)]) for _ in range(full_calls)])
    timings = measure(fns, repeats, warmup, device)
    first = timings[f"{settings[0].name}|joint"]
    out = []
    for s in settings:
        j, m = timings[f"{s.name}|joint"], timings[f"{s.name}|masked"]
        f = Timing(tuple(x / full_calls for x in timings[f"{s.name}|full"].samples))
        ideal = f.median * mac_passes
        out.append({"scenario": lay.scenario, "profile": profile, "network": lay.spec.name, "setting": s.name,
                    "channels_last": s.channels_last, "threads": s.threads, "shared_stem": s.shared_stem,
                    "optimizer": s.optimizer,
                    "batch": batch, "passes": len(cost), "mac_passes": mac_passes, "full_steps_per_sample": full_calls,
                    "masked_mac_ratio": len(cost) / mac_passes,
                    "step_ms": 1000 * j.median, "step_ms_min": 1000 * j.min, "step_ms_max": 1000 * j.max,
                    "full_step_ms": 1000 * f.median, "ideal_ms": 1000 * ideal,
                    "ratio_to_ideal": j.median / ideal,
                    "masked_step_ms": 1000 * m.median, "masked_step_ms_min": 1000 * m.min,
                    "masked_step_ms_max": 1000 * m.max,
                    "speedup_vs_masked": speedup(m.samples, j.samples).point,
                    # the same ratios within each round, then their median: less exposed to the
                    # machine's load changing between rounds
                    "ratio_to_ideal_paired": paired_ratio(j.samples, [b * mac_passes for b in f.samples]),
                    "speedup_vs_masked_paired": paired_ratio(m.samples, j.samples),
                    "speedup_vs_first": paired_ratio(first.samples, j.samples),
                    "repeats": repeats})
    return out


def time_data(scenario: str = "FJ2", profile: str = "quick", repeats: int = 5, warmup: int = 1,
              channels_last: bool = True, threads: int | None = None, images: int | None = None,
              device: torch.device | str = "cpu", seed: int = 0, **overrides) -> dict:
    """The batches of one training step (every task's ``TrainStream.batch``) against the joint
    step they feed, on synthetic uint8 images of the profile's size."""
    from ..data import TaskData, TrainStream
    device = torch.device(device)
    lay = layout(scenario, profile, **overrides)
    prof = S.get(scenario).profile(profile)
    n = images or prof.train_per_task or 3000
    g = torch.Generator().manual_seed(seed)
    streams = []
    for i, t in enumerate(lay.tasks):
        x = torch.randint(0, 256, (n, t.in_channels, t.input_size, t.input_size), generator=g, dtype=torch.uint8)
        y = torch.randint(0, t.num_classes, (n,), generator=g)
        data = TaskData(x=x, y=y, mean=(0.5,) * t.in_channels, std=(0.25,) * t.in_channels)
        streams.append(TrainStream(data, prof.batch_size, device, seed=seed, task_index=i))
    torch.manual_seed(seed)
    net = DVNNet.from_layout(lay).to(device).train()
    net.memory_format = torch.channels_last if channels_last else None
    opt = T.sgd(net.parameters(), prof)
    step = {"i": 0}
    batches = [s.batch(0) for s in streams]

    def data():
        if threads is not None:
            torch.set_num_threads(threads)
        step["i"] += 1
        return [s.batch(step["i"]) for s in streams]

    def compute():
        if threads is not None:
            torch.set_num_threads(threads)
        return T.joint_step(net, opt, batches)
    t = measure({"data": data, "step": compute}, repeats, warmup, device)
    d, c = t["data"].median, t["step"].median
    return {"scenario": lay.scenario, "profile": profile, "batch": prof.batch_size, "tasks": len(lay.tasks),
            "images_per_task": n, "data_ms": 1000 * d, "data_ms_min": 1000 * t["data"].min,
            "data_ms_max": 1000 * t["data"].max, "step_ms": 1000 * c, "fraction_of_step": d / (d + c),
            "repeats": repeats}


