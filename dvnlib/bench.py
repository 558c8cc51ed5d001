"""The cost benchmark: is a level with fewer units really cheaper to run and to train?

``python -m dvnlib bench [--quick] [--json] [--out DIR]`` measures, in one process so that every
figure is a ratio of timings taken side by side:

* **inference**: the extracted sub-network (``DVNNet.extract``) of every level of J2's ResNet-42
  (64 px) and J1's WRN-32-4 (32 px), task 1, at batch 1 and batch 128 (``--quick``: batch 16),
  against the full network. ``speedup`` is the full network's median time over the level's;
  ``mac_ratio`` the full network's MACs over the level's (``accounting.costs``); ``paper_speedup``
  Table 2's figure (Kim et al., CVPR 2019) where it has one.
* **training**: one joint DVN step (``train.joint_step``, all k x n_h passes of eq. 4) of J2 at the
  quick profile's width, against the *ideal* (the full network's step time scaled by the MACs of
  all passes over those of one full pass) and against a *masked* implementation (``MaskedDVN``:
  full-width passes with the channels outside the output's units zeroed, as methods that mask
  compute).
* **data**: the share of a quick-profile training step (FJ2) spent producing its batches
  (``data.TrainStream`` on synthetic uint8 images of the quick profile's size).
* **switches**: what each setting buys (channels_last with BN folded into the convolutions,
  ONNX Runtime, the number of threads), measured in the same run.

Timings: warm-up rounds first, then ``repeats`` rounds; every round runs every contender once, in
an order rotated from round to round, so that a level and the full network see the same machine
load (the machine is shared). Medians give the ratios; min and max are reported beside them. On
CUDA the same loop is timed with CUDA events.

Inference engines (``Engine``), applied alike to the full network and to every level, all on
public APIs: ``plain`` is the extracted ``CompactNet`` as it is, in eager PyTorch;
``fuse_bn+channels_last`` folds BN into the convolutions (``CompactNet.fuse_bn``) and runs NHWC;
``onnxruntime`` (CPU) is the BN-folded level exported to ONNX (TorchScript exporter, opset
``deploy.OPSET``) and run by ONNX Runtime's CPU provider with full graph optimisation, what
``dvnlib.deploy`` ships. Every level is timed under every engine in the same rounds; the headline
rows (``inference``) are the headline engine's, ONNX Runtime's and the fastest eager engine's, on
every scenario. Timings of
the top level and the full network are the same measurement.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import accounting
from . import scenarios as S
from . import train as T
from . import units as U
from .layout import layout
from .network import CompactNet, DVNNet, key
from .paper import paper_speedups
from .timing import Timing, interleaved, paired_ratio, speedup, wall_time

# Paper targets (Table 2) and the issue's own: a level's speed-up at batch 1 and 128 at least the
# paper's, at the large batch at least 60% of its MAC ratio; a joint step within 1.2x of its
# arithmetic; 1.6x faster than masking; data under 10% of a step.
MAC_SHARE_TARGET = 0.6
ORT_MAC_SHARE_TARGET = 0.85  # the deployment issue's (issue 10) target for ONNX Runtime
ORT = "onnxruntime"
RATIO_TO_IDEAL_TARGET = 1.2
MASKED_TARGET = 1.6
ENGINE_TARGET = 1.7  # the training step train.py takes over the previous default (issue 9)
DATA_TARGET = 0.10


# ---------------------------------------------------------------------------------------------
# Timing


def measure(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
            device: torch.device | str = "cpu") -> dict[str, Timing]:
    """``timing.interleaved`` on ``device``'s clock: CUDA events on a GPU, the wall clock on the CPU."""
    device = torch.device(device)
    return interleaved(fns, repeats, warmup, cuda_time if device.type == "cuda" else wall_time)


def cuda_time(fn: Callable[[], object]) -> float:
    """Seconds of GPU work ``fn()`` queued, on CUDA events (the call returns before the work ends)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000


# ---------------------------------------------------------------------------------------------
# Inference engines


@dataclass(frozen=True)
class Engine:
    """How an extracted network is run; the same engine runs the full network and every level."""
    name: str
    fuse_bn: bool = False
    channels_last: bool = False
    onnx: bool = False  # CPU: exported to ONNX, run by ONNX Runtime (BN folded)
    threads: int | None = None  # CPU threads while this engine runs (None: leave as set)
    bf16: bool = False  # CUDA: bf16 autocast
    compile: bool = False  # torch.compile


def cpu_engines(threads: int) -> list[Engine]:
    """Eager PyTorch as extracted, eager with its layout switches (BN folded, NHWC), ONNX Runtime;
    the last is the eager switches at the other thread count of a 2-core machine."""
    other = 2 if threads == 1 else 1
    return [Engine("plain", threads=threads),
            Engine("fuse_bn+channels_last", fuse_bn=True, channels_last=True, threads=threads),
            Engine(ORT, fuse_bn=True, onnx=True, threads=threads),
            Engine(f"fuse_bn+channels_last@{other}threads", fuse_bn=True, channels_last=True, threads=other)]


def cuda_engines() -> list[Engine]:
    return [Engine("plain"), Engine("channels_last", channels_last=True),
            Engine("fuse_bn+channels_last", fuse_bn=True, channels_last=True),
            Engine("fuse_bn+channels_last+bf16", fuse_bn=True, channels_last=True, bf16=True),
            Engine("fuse_bn+channels_last+bf16+compile", fuse_bn=True, channels_last=True, bf16=True,
                   compile=True)]


def onnxruntime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def onnx_call(m: nn.Module, x: torch.Tensor, threads: int | None) -> Callable[[], torch.Tensor]:
    """``m`` exported to ONNX (in memory, at ``x``'s shape) and run by an ONNX Runtime session on
    ``x``; the call returns the logits as a tensor."""
    import io
    import warnings

    from .deploy import OPSET, session
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter (dynamo=False)
        torch.onnx.export(m, (x,), buf, input_names=["x"], output_names=["y"], opset_version=OPSET, dynamo=False)
    sess, feed = session(buf.getvalue(), threads or 1), {"x": x.numpy()}
    return lambda: torch.from_numpy(sess.run(None, feed)[0])


def prepare(sub: CompactNet, engine: Engine, input_shape: Sequence[int],
            device: torch.device | str = "cpu") -> tuple[Callable[[], object], torch.Tensor, nn.Module]:
    """(a call that runs ``sub`` under ``engine`` on a fixed random input, that input, the module
    it runs)."""
    device = torch.device(device)
    x = torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(0)).to(device)
    m: nn.Module = sub.fuse_bn() if engine.fuse_bn else sub
    if engine.onnx:
        if device.type != "cpu":
            raise ValueError("the ONNX Runtime engine runs on the CPU")
        return onnx_call(m.eval(), x, engine.threads), x, m
    m = m.to(device).eval()
    if engine.channels_last:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    run = torch.compile(m) if engine.compile else m
    threads = engine.threads

    def call():
        if threads is not None:
            torch.set_num_threads(threads)
        with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=engine.bf16):
            return run(x)
    return call, x, m


@dataclass
class LevelTiming:
    scenario: str
    network: str
    task: int
    level: int
    units: tuple[int, ...]
    params: int
    macs: int
    batch: int
    engine: Engine
    timing: Timing  # seconds per call (a batch)


def time_levels(scenario: str, batch: int, engines: Sequence[Engine], repeats: int, warmup: int = 1,
                task: int = 1, device: torch.device | str = "cpu", profile: str | None = None,
                net: DVNNet | None = None, **overrides) -> list[LevelTiming]:
    """Every level of ``task`` extracted and run under every engine, all interleaved."""
    lay = layout(scenario, profile, **overrides)
    net = net if net is not None else DVNNet.from_layout(lay)
    net.eval()
    cost = {(c.task, c.level): c for c in accounting.costs(lay)}
    t = lay.tasks[task - 1]
    shape = (batch, t.in_channels, t.input_size, t.input_size)
    levels = range(1, U.n_levels(lay.config, task) + 1)
    subs = {l: net.extract(task, l) for l in levels}
    fns, meta = {}, {}
    for e in engines:
        for l in levels:
            fns[(e.name, l)] = prepare(subs[l], e, shape, device)[0]
            meta[(e.name, l)] = e
    timings = measure({f"{n}|{l}": f for (n, l), f in fns.items()}, repeats, warmup, device)
    out = []
    for (n, l), e in meta.items():
        c = cost[(task, l)]
        out.append(LevelTiming(lay.scenario, lay.spec.name, task, l, c.units, c.params, c.macs, batch, e,
                               timings[f"{n}|{l}"]))
    return out


# ---------------------------------------------------------------------------------------------
# The masked comparison


class MaskedDVN(nn.Module):
    """What methods that mask compute: every (task, level) runs the *full-width* network and zeroes
    the channels outside its units (a multiplication by a 0/1 mask after every BN), with one BN per
    output at full width. Built from a ``DVNNet`` it has the same outputs on every (task, level)
    (the units' channels see exactly the sliced computation); only the arithmetic differs."""

    def __init__(self, net: DVNNet):
        super().__init__()
        import copy
        self.spec, self.tasks, self.config, self.outputs = net.spec, net.tasks, net.config, net.outputs
        self.slices, self.memory_format = net.slices, net.memory_format
        self.stems = copy.deepcopy(net.stems)
        self.plans = [blk.d for blk in net.blocks]
        self.weights = nn.ParameterList()
        self.bns = nn.ModuleList()
        for blk in net.blocks:
            for conv in (blk.conv1, blk.conv2, blk.shortcut):
                if conv is None:
                    continue
                self.weights.append(nn.Parameter(conv.weight.detach().clone()))
                bns = nn.ModuleDict()
                for o in net.outputs:
                    a, b = net.slices[o][conv.d.out_ch]
                    bn = nn.BatchNorm2d(conv.d.out_ch)
                    with torch.no_grad():
                        src = conv.bn_for(key(*o), (a, b))
                        for name in ("weight", "bias", "running_mean", "running_var"):
                            getattr(bn, name)[a:b].copy_(getattr(src, name))
                    bns[key(*o)] = bn
                self.bns.append(bns)
        self.heads = nn.ModuleDict()
        c = net.spec.out_channels
        for o in net.outputs:
            a, b = net.slices[o][c]
            src = net.heads[key(*o)]
            head = nn.Linear(c, src.out_features)
            with torch.no_grad():
                head.weight.zero_()
                head.weight[:, a:b].copy_(src.weight)
                head.bias.copy_(src.bias)
            self.heads[key(*o)] = head
        for o in net.outputs:
            for ch in net.spec.split_channels:
                a, b = net.slices[o][ch]
                m = torch.zeros(1, ch, 1, 1)
                m[:, a:b] = 1
                self.register_buffer(f"mask_{key(*o)}_{ch}", m, persistent=False)

    # The input layers are the same as DVNNet's; only the trunk masks instead of slicing.
    forward = DVNNet.forward
    stem = DVNNet.stem

    def trunk(self, h: torch.Tensor, task: int, level: int) -> torch.Tensor:
        U.check_output(self.config, task, level)
        k = key(task, level)
        i = 0

        def conv(inp, d):
            nonlocal i
            y = F.conv2d(inp, self.weights[i], None, d.stride, d.padding)
            y = self.bns[i][k](y) * getattr(self, f"mask_{k}_{d.out_ch}")
            i += 1
            return y
        for d in self.plans:  # the parameters' order: conv1, conv2, shortcut, as built
            y1 = F.relu(conv(h, d.conv1))
            y2 = conv(y1, d.conv2)
            if d.shortcut is not None:
                sc = conv(h, d.shortcut)
            elif d.conv1.in_split:
                sc = h
            else:  # the unsplit input layer: keep only the block's own channels, as the slice does
                sc = h * getattr(self, f"mask_{k}_{d.conv1.out_ch}")
            h = F.relu(y2 + sc)
        return self.heads[k](h.mean((2, 3)))


# ---------------------------------------------------------------------------------------------
# Training and data


def _random_batches(lay, batch: int, device, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for t in lay.tasks:
        x = torch.randn(batch, t.in_channels, t.input_size, t.input_size, generator=g)
        y = torch.randint(0, t.num_classes, (batch,), generator=g)
        out.append((x.to(device), y.to(device)))
    return out


def per_level_step(net, opt, batches, outputs=None):
    """The previous default training step: ``train.joint_step`` with every output running the
    whole network, its task's input layer included (``train.output_losses_per_level``)."""
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


# The previous default path (NCHW, input layer once per level) and the one ``train.py`` takes.
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
                    "masked_step_ms_max": 1000 * m.max, "speedup_vs_masked": m.median / j.median,
                    # the same ratios within each round, then their median: less exposed to the
                    # machine's load changing between rounds
                    "ratio_to_ideal_paired": statistics.median(
                        a / (b * mac_passes) for a, b in zip(j.samples, f.samples)),
                    "speedup_vs_masked_paired": statistics.median(
                        b / a for a, b in zip(j.samples, m.samples)),
                    "speedup_vs_first": statistics.median(b / a for a, b in zip(j.samples, first.samples)),
                    "repeats": repeats})
    return out


def time_data(scenario: str = "FJ2", profile: str = "quick", repeats: int = 5, warmup: int = 1,
              channels_last: bool = True, threads: int | None = None, images: int | None = None,
              device: torch.device | str = "cpu", seed: int = 0, **overrides) -> dict:
    """The batches of one training step (every task's ``TrainStream.batch``) against the joint
    step they feed, on synthetic uint8 images of the profile's size."""
    from .data import TaskData, TrainStream
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


# ---------------------------------------------------------------------------------------------
# The whole benchmark


@dataclass(frozen=True)
class Plan:
    """What one run measures. ``QUICK`` keeps it under about a minute on a 2-core CPU."""
    batches: tuple[int, ...] = (1, 128)
    rounds: tuple[int, ...] = (30, 5)  # timed rounds at each batch
    warmup: int = 2
    inference: tuple[str, ...] = ("J2", "J1")
    sweep: str = "J2"  # the scenario every engine is timed on; the others run the headline only
    sweep_engines: tuple[str, ...] | None = None  # None: every engine
    train_repeats: int = 7
    # always "previous" and "default" (engine_speedup), then these switches
    train_settings: tuple[str, ...] = ("nchw", "per_level", "loop", "fused", "threads")
    data_repeats: int = 9
    probe_threads: bool = True
    # Sizes (the issue's; tests shrink them): inference at paper size (None) or a profile's,
    # training (J2) and data (FJ2) at a profile's width, batch and images.
    inference_profile: str | None = None
    train_profile: str = "quick"
    train_batch: int | None = None
    data_images: int | None = None


FULL = Plan()
QUICK = Plan(batches=(1, 16), rounds=(10, 3), warmup=1,
             sweep_engines=("fuse_bn+channels_last", ORT), train_repeats=3,
             train_settings=(), data_repeats=3, probe_threads=False)


def ms_per_image(lt: LevelTiming) -> list[float]:
    """A level's rounds in milliseconds per image: what ``inference.csv`` holds, and what every
    ratio of the run is computed from, so that the book recomputes the same figures from the CSV."""
    return [1000 * s / lt.batch for s in lt.timing.samples]


def level_rows(timings: Sequence[LevelTiming], paper: dict | None = None) -> list[dict]:
    """The JSON ``inference`` entries: per level, time per image and the ratios to the top level
    of the same (scenario, task, batch, engine). ``speedup`` is ``timing.speedup`` (the ratio of
    medians, with its interval in ``speedup_low``, ``speedup_high``); ``speedup_paired`` the
    median over rounds of the ratio within a round."""
    paper = paper_speedups() if paper is None else paper
    top = {}
    for lt in timings:
        g = (lt.scenario, lt.task, lt.batch, lt.engine.name)
        if g not in top or lt.level > top[g].level:
            top[g] = lt
    rows = []
    for lt in timings:
        f = top[(lt.scenario, lt.task, lt.batch, lt.engine.name)]
        ms, full_ms = ms_per_image(lt), ms_per_image(f)
        sp = speedup(full_ms, ms)
        mac_ratio = f.macs / lt.macs
        rows.append({"scenario": lt.scenario, "network": lt.network, "task": lt.task, "level": lt.level,
                     "units": list(lt.units), "params": lt.params, "macs": lt.macs, "batch": lt.batch,
                     "engine": lt.engine.name, "threads": lt.engine.threads,
                     "ms_per_image": statistics.median(ms), "ms_per_image_min": min(ms),
                     "ms_per_image_max": max(ms), "repeats": len(ms), "speedup": sp.point,
                     "speedup_low": sp.low, "speedup_high": sp.high,
                     "speedup_paired": paired_ratio(full_ms, ms),
                     "mac_ratio": mac_ratio, "share_of_mac_ratio": sp.point / mac_ratio,
                     "paper_speedup": paper.get((lt.scenario, lt.level))})
    return rows


def targets(inference: Sequence[dict], training: dict | None, data: dict | None,
            large_batch: int) -> list[dict]:
    """Every target of the issue with its measured value and whether it is met."""
    out = []
    tops = {}
    for r in inference:
        tops[r["scenario"]] = max(tops.get(r["scenario"], 0), r["level"])
    for r in inference:
        if r["level"] == tops[r["scenario"]]:
            continue
        where = f"{r['engine']}: {r['scenario']} level {r['level']} at batch {r['batch']}"
        share = ORT_MAC_SHARE_TARGET if r["engine"] == ORT else MAC_SHARE_TARGET
        if r["paper_speedup"] is not None:  # shown, as the book's claim 4 judges it: the interval above
            out.append({"target": f"{where}: speed-up's 95% lower bound >= paper's {r['paper_speedup']:g}x "
                                  f"(speed-up {r['speedup']:.2f}x)",
                        "value": r["speedup_low"], "threshold": r["paper_speedup"],
                        "met": r["speedup_low"] >= r["paper_speedup"]})
        if r["batch"] == large_batch:
            out.append({"target": f"{where}: speed-up >= {share:.0%} of the MAC ratio "
                                  f"({r['mac_ratio']:.2f}x)",
                        "value": r["share_of_mac_ratio"], "threshold": share,
                        "met": r["share_of_mac_ratio"] >= share})
    if training:
        out.append({"target": f"training ({training['scenario']}): engine_speedup >= {ENGINE_TARGET}",
                    "value": training["engine_speedup"], "threshold": ENGINE_TARGET,
                    "met": training["engine_speedup"] >= ENGINE_TARGET})
        out.append({"target": f"training ({training['scenario']}): ratio_to_ideal <= {RATIO_TO_IDEAL_TARGET}",
                    "value": training["ratio_to_ideal"], "threshold": RATIO_TO_IDEAL_TARGET,
                    "met": training["ratio_to_ideal"] <= RATIO_TO_IDEAL_TARGET})
        out.append({"target": f"training ({training['scenario']}): speedup_vs_masked >= {MASKED_TARGET}",
                    "value": training["speedup_vs_masked"], "threshold": MASKED_TARGET,
                    "met": training["speedup_vs_masked"] >= MASKED_TARGET})
    if data:
        out.append({"target": f"data ({data['scenario']}): fraction_of_step < {DATA_TARGET:.0%}",
                    "value": data["fraction_of_step"], "threshold": DATA_TARGET,
                    "met": data["fraction_of_step"] < DATA_TARGET})
    return out


def environment(device: torch.device, threads: int | None) -> dict:
    from . import provenance as P
    hw = P.hardware(str(device))
    if threads is not None:
        hw["torch_threads"] = threads
    name = hw.get("gpu") if device.type == "cuda" else f"{hw['cpu']} ({hw['cpu_count']} cores)"
    return {"device": f"{device.type}: {name}", "hardware": hw, "versions": P.versions(),
            "git": P.git_state(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node()}


def threads_probe(threads: int, rounds: int = 5, net: DVNNet | None = None, profile: str | None = None) -> dict:
    """J2's level 2 (BN folded, NHWC) at batch 8, at ``threads`` and at the other count of a
    2-core machine, interleaved: whether more threads help on this machine right now (on a
    shared machine OpenMP threads wait on each other whenever another process holds a core)."""
    other = 2 if threads == 1 else 1
    net = net if net is not None else DVNNet.from_layout(layout("J2", profile))
    sub = net.eval().extract(1, 2)
    fns = {n: prepare(sub, Engine(f"t{n}", fuse_bn=True, channels_last=True, threads=n), (8, 3, 64, 64))[0]
           for n in (threads, other)}
    t = measure(fns, rounds, 1)
    return {"threads": threads, "other": other, "ms": {str(n): 1000 * t[n].median for n in fns},
            "other_faster": t[other].median < 0.9 * t[threads].median}


def run(quick: bool = False, device: str = "cpu", threads: int | None = 1, engine: str | None = None,
        plan: Plan | None = None, log: Callable[[str], None] | None = None) -> dict:
    """The whole benchmark; returns the JSON object (``public`` drops the raw timings).

    The headline engine (``engine``; default: the engine under which the sweep's full network
    ran fastest at the largest batch, so that no level is flattered by a slow full network) gives
    the ``inference`` entries and the targets; every engine's figures are under ``switches``."""
    dev = torch.device(device)
    plan = plan or (QUICK if quick else FULL)
    log = log or (lambda s: None)
    saved_threads = torch.get_num_threads()
    t_start = time.perf_counter()
    try:
        if dev.type == "cuda":
            threads = None
            engines = cuda_engines()
        else:
            threads = threads or 1
            engines = [e for e in cpu_engines(threads) if onnxruntime_available() or not e.onnx]
        probe = None
        nets = {plan.sweep: DVNNet.from_layout(layout(plan.sweep, plan.inference_profile))}
        if plan.probe_threads and dev.type == "cpu":
            log("threads probe")
            probe = threads_probe(threads, net=nets[plan.sweep] if plan.sweep == "J2" else None,
                                  profile=plan.inference_profile)
        if dev.type == "cpu" and not (probe and probe["other_faster"]):
            engines = [e for e in engines if e.threads == threads]  # the other thread count: see the probe
        by_name = {e.name: e for e in engines}
        if engine is not None and engine not in by_name:
            raise ValueError(f"unknown engine {engine!r}: valid engines are {', '.join(by_name)}")
        sweep = [e for e in engines if plan.sweep_engines is None or e.name in plan.sweep_engines
                 or e.name == engine]
        timings: list[LevelTiming] = []
        for b, rounds in zip(plan.batches, plan.rounds):
            log(f"inference {plan.sweep} batch {b}: {len(sweep)} engines, {rounds} rounds")
            timings += time_levels(plan.sweep, b, sweep, rounds, plan.warmup, device=dev, net=nets[plan.sweep],
                                   profile=plan.inference_profile)
        del nets
        rows = level_rows(timings)
        large = max(plan.batches)
        full = {r["engine"]: r["ms_per_image"] for r in rows
                if r["scenario"] == plan.sweep and r["batch"] == large and r["level"] == max(
                    x["level"] for x in rows if x["scenario"] == plan.sweep)}
        if engine is None:
            engine = min(full, key=full.get)
        # The headline rows: the headline engine's, ONNX Runtime's (the deployment engine) and the
        # fastest PyTorch engine's, so that every scenario has ONNX Runtime beside eager PyTorch.
        eager = min((e for e in full if e != ORT), key=full.get, default=None)
        shown = list(dict.fromkeys(e for e in (engine, ORT, eager) if e in by_name))
        for sc in plan.inference:
            if sc == plan.sweep:
                continue
            net = DVNNet.from_layout(layout(sc, plan.inference_profile))
            for b, rounds in zip(plan.batches, plan.rounds):
                log(f"inference {sc} batch {b}: engines {', '.join(shown)}, {rounds} rounds")
                timings += time_levels(sc, b, [by_name[e] for e in shown], rounds, plan.warmup, device=dev,
                                       net=net, profile=plan.inference_profile)
            del net
        rows = level_rows(timings)
        head_rows = [r for r in rows if r["engine"] in shown]

        log("training")
        settings = {"previous": replace(PREVIOUS, threads=threads), "default": replace(DEFAULT, threads=threads),
                    "nchw": TrainSetting("NCHW, input layer per task", False, threads),
                    "per_level": TrainSetting("channels_last, input layer per level", True, threads, False),
                    "loop": TrainSetting("default with SGD's per-tensor loop", True, threads, optimizer="loop"),
                    "fused": TrainSetting("default with fused SGD", True, threads, optimizer="fused")}
        if probe and probe["other_faster"]:
            settings["threads"] = TrainSetting(f"default @ {probe['other']} threads", True, probe["other"])
        # the previous default first: every setting's speedup_vs_first is over it
        chosen = [settings["previous"], settings["default"],
                  *(settings[n] for n in plan.train_settings if n in settings)]
        train_rows = time_training("J2", plan.train_profile, plan.train_repeats, plan.warmup, chosen, device=dev,
                                   batch=plan.train_batch)
        headline = {**train_rows[1], "engine_speedup": train_rows[1]["speedup_vs_first"],
                    "engine_speedup_of_medians": train_rows[0]["step_ms"] / train_rows[1]["step_ms"]}
        log("data")
        try:
            data = time_data("FJ2", plan.train_profile, plan.data_repeats, plan.warmup, channels_last=True,
                             threads=threads, images=plan.data_images, device=dev)
        except ImportError:
            data = None
        env = environment(dev, threads)
        return {
            "device": env["device"],
            "inference": head_rows,
            "training": headline,
            "data": data,
            "targets": targets(head_rows, headline, data, large),
            "switches": {"inference": switch_summary(rows, plan.sweep), "training": train_rows,
                         "threads_probe": probe},
            "engine": asdict(by_name[engine]),
            "quick": plan == QUICK,
            "plan": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(plan).items()},
            **{k: env[k] for k in ("hardware", "versions", "git", "date", "host")},
            "wall_seconds": time.perf_counter() - t_start,
            "_timings": timings,
        }
    finally:
        torch.set_num_threads(saved_threads)


def switch_summary(rows: Sequence[dict], scenario: str) -> list[dict]:
    """Per engine and batch on the sweep scenario: the full network's time per image and every
    level's speed-up, so that what each switch buys can be read side by side."""
    out = []
    groups: dict = {}
    for r in rows:
        if r["scenario"] == scenario:
            groups.setdefault((r["batch"], r["engine"]), []).append(r)
    for (b, e), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["level"])
        out.append({"scenario": scenario, "batch": b, "engine": e, "threads": rs[0]["threads"],
                    "full_ms_per_image": rs[-1]["ms_per_image"],
                    "ms_per_image": {str(r["level"]): r["ms_per_image"] for r in rs},
                    "speedup": {str(r["level"]): r["speedup"] for r in rs[:-1]},
                    "share_of_mac_ratio": {str(r["level"]): r["share_of_mac_ratio"] for r in rs[:-1]}})
    return out


# ---------------------------------------------------------------------------------------------
# Output: table, CSV, JSON


def public(result: dict) -> dict:
    """The JSON object without the raw timing objects."""
    return {k: v for k, v in result.items() if not k.startswith("_")}


def _f(x, nd=2):
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{nd}f}"


def table(result: dict) -> str:
    lines = [f"Benchmark on {result['device']} (torch {result['versions'].get('torch')}, "
             f"threads {result['hardware'].get('torch_threads')}, engine {result['engine']['name']}), "
             f"{result['date']}", ""]
    lines.append("Inference: extracted level vs full network (medians; speed-up = full / level)")
    lines.append(f"{'engine':<24}{'scen':<5}{'net':<20}{'batch':>6}{'level':>6}{'MMACs':>8}{'ms/img':>9}"
                 f"{'[min':>8}{'max]':>8}{'speedup':>9}{'MACx':>7}{'share':>7}{'paper':>7}")
    for r in result["inference"]:
        lines.append(f"{r['engine']:<24}{r['scenario']:<5}{r['network']:<20}{r['batch']:>6}{r['level']:>6}"
                     f"{r['macs'] / 1e6:>8.1f}"
                     f"{r['ms_per_image']:>9.3f}{r['ms_per_image_min']:>8.3f}{r['ms_per_image_max']:>8.3f}"
                     f"{r['speedup']:>8.2f}x{r['mac_ratio']:>6.2f}x{100 * r['share_of_mac_ratio']:>6.0f}%"
                     f"{_f(r['paper_speedup'], 1):>7}")
    sw = result["switches"]["inference"]
    if sw:
        lines += ["", f"Switches ({sw[0]['scenario']}): full network ms/image and level speed-ups"]
        for s in sw:
            sp = " ".join(f"L{l} {v:.2f}x" for l, v in s["speedup"].items())
            lines.append(f"  batch {s['batch']:>4} {s['engine']:<40} full {s['full_ms_per_image']:8.3f} ms/img  {sp}")
    p = result["switches"].get("threads_probe")
    if p:
        lines.append(f"  threads probe (J2 level 2, batch 8): " + ", ".join(f"{n} thread(s) {v:.1f} ms"
                                                                            for n, v in p["ms"].items()))
    lines += ["", "Training: one joint step (every task and level) vs ideal and masked"]
    for t in result["switches"]["training"]:
        lines.append(f"  {t['setting']:<36} step {t['step_ms']:7.1f} ms  full {t['full_step_ms']:6.1f} ms  "
                     f"ideal {t['ideal_ms']:7.1f} ms  ratio {t['ratio_to_ideal']:.2f} (paired "
                     f"{t['ratio_to_ideal_paired']:.2f})  masked {t['masked_step_ms']:7.1f} ms  "
                     f"vs masked {t['speedup_vs_masked']:.2f}x (paired {t['speedup_vs_masked_paired']:.2f}x)")
    d = result.get("data")
    if d:
        lines += ["", f"Data ({d['scenario']} {d['profile']}): {d['data_ms']:.2f} ms of batches per "
                      f"{d['step_ms']:.1f} ms step = {100 * d['fraction_of_step']:.1f}% of a step"]
    lines += ["", "Targets"]
    for t in result["targets"]:
        lines.append(f"  [{'met ' if t['met'] else 'MISS'}] {t['target']}: {t['value']:.3f}")
    return "\n".join(lines)


CSV_COLUMNS = ("scenario", "network", "task", "level", "units", "params", "macs", "batch_size", "engine",
               "threads", "repeat", "ms_per_image", "device", "hardware", "torch", "commit", "date")


def timing_rows(result: dict, engines: Sequence[str] | None = None) -> list[dict]:
    """One row per timed repeat of the headline engine and ONNX Runtime (the engines of the
    ``inference`` rows): the schema ``report.load_bench`` reads."""
    engines = set(engines or {r["engine"] for r in result["inference"]})
    hw = result["hardware"]
    common = {"device": result["device"].split(":")[0], "hardware": hw.get("gpu") or hw.get("cpu"),
              "torch": result["versions"].get("torch"), "commit": (result["git"] or {}).get("commit"),
              "date": result["date"]}
    rows = []
    for lt in result["_timings"]:
        if lt.engine.name not in engines:
            continue
        for i, s in enumerate(lt.timing.samples):
            rows.append({"scenario": lt.scenario, "network": lt.network, "task": lt.task, "level": lt.level,
                         "units": ",".join(map(str, lt.units)), "params": lt.params, "macs": lt.macs,
                         "batch_size": lt.batch, "engine": lt.engine.name, "threads": lt.engine.threads,
                         "repeat": i, "ms_per_image": 1000 * s / lt.batch, **common})
    return rows


def _csv_text(rows: Iterable[dict], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (",".join(map(str, v)) if isinstance(v, list) else v) for k, v in r.items()})
    return buf.getvalue()


def inference_csv(result: dict) -> str:
    """The text of ``inference.csv``: ``timing_rows`` as CSV."""
    return _csv_text(timing_rows(result), CSV_COLUMNS)


def write(result: dict, out: str | os.PathLike) -> list[Path]:
    """``out/inference.csv`` (one row per timed repeat, headline engine and ONNX Runtime: what the
    book's cost page reads), ``out/bench.json`` (everything) and ``out/tables/*.csv`` (per level with ratios and the
    paper's figure, every engine, training, targets), each written atomically."""
    from . import results as R
    out = Path(out)
    meta = {"device": result["device"], "torch": result["versions"].get("torch"),
            "commit": (result["git"] or {}).get("commit"), "date": result["date"]}
    paths = []

    def put(path: Path, text: str):
        path.parent.mkdir(parents=True, exist_ok=True)
        R.atomic_write_text(path, text)
        paths.append(path)
    put(out / "inference.csv", inference_csv(result))
    levels = [{**r, **meta} for r in level_rows(result["_timings"])]
    put(out / "tables" / "levels.csv", _csv_text(levels, list(levels[0])))
    train = [{**t, **meta} for t in result["switches"]["training"]]
    put(out / "tables" / "training.csv", _csv_text(train, list(train[0])))
    if result.get("data"):
        put(out / "tables" / "data.csv", _csv_text([{**result["data"], **meta}], [*result["data"], *meta]))
    put(out / "tables" / "targets.csv", _csv_text([{**t, **meta} for t in result["targets"]],
                                                  ["target", "value", "threshold", "met", *meta]))
    R.write_json(out / "bench.json", public(result))
    paths.append(out / "bench.json")
    return paths
