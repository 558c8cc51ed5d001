"""What the benchmark times: each level extracted and run under an inference engine, all levels
and engines interleaved in the same rounds (``timing.interleaved``), on the device's own clock."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch import nn

from .. import accounting
from .. import units as U
from ..layout import layout
from ..network import CompactNet, DVNNet
from ..timing import Timing, interleaved, wall_time

ORT = "onnxruntime"
ORT_INT8 = "onnxruntime-int8"


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


@dataclass(frozen=True)
class Engine:
    """How an extracted network is run; the same engine runs the full network and every level."""
    name: str
    fuse_bn: bool = False
    channels_last: bool = False
    onnx: bool = False  # CPU: exported to ONNX, run by ONNX Runtime (BN folded)
    int8: bool = False  # with onnx: statically quantised as deploy.export's int8 files are
    threads: int | None = None  # CPU threads while this engine runs (None: leave as set)
    bf16: bool = False  # CUDA: bf16 autocast
    compile: bool = False  # torch.compile


def cpu_engines(threads: int) -> list[Engine]:
    """Eager PyTorch as extracted, eager with its layout switches (BN folded, NHWC), ONNX Runtime
    in float32 and in int8 (``deploy.quantize``); the last is the eager switches at the other
    thread count of a 2-core machine."""
    other = 2 if threads == 1 else 1
    return [Engine("plain", threads=threads),
            Engine("fuse_bn+channels_last", fuse_bn=True, channels_last=True, threads=threads),
            Engine(ORT, fuse_bn=True, onnx=True, threads=threads),
            Engine(ORT_INT8, fuse_bn=True, onnx=True, int8=True, threads=threads),
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


def onnx_call(m: nn.Module, x: torch.Tensor, threads: int | None, int8: bool = False) -> Callable[[], torch.Tensor]:
    """``m`` exported to ONNX (in memory, at ``x``'s shape), with ``int8`` quantised as
    ``deploy.export``'s int8 files are (calibrated on ``x``: the ranges set the scales, not the
    speed), and run by an ONNX Runtime session on ``x``; the call returns the logits as a tensor."""
    from ..deploy import OPSET, quantize, session
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter (dynamo=False)
        torch.onnx.export(m, (x,), buf, input_names=["x"], output_names=["y"], opset_version=OPSET, dynamo=False)
    model = buf.getvalue()
    if int8:
        import onnx
        model = quantize(onnx.load_from_string(model), x.numpy()).SerializeToString()
    sess, feed = session(model, threads or 1), {"x": x.numpy()}
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
        return onnx_call(m.eval(), x, engine.threads, engine.int8), x, m
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
