"""The physical network and its deep virtual networks (Kim et al., CVPR 2019, Section 3).

``DVNNet`` holds one set of shared convolution weights whose feature maps are split into units in
every layer except the task-specific input layers. Output (task, level) runs the contiguous slice
of channels its units cover, in every layer, *by slicing the weights*: a level with a quarter of
the units does a sixteenth of the arithmetic, not a masked full-width pass. ``extract`` copies
that slice into ``CompactNet``, a plain, physically smaller ``nn.Module`` with the same outputs.

BatchNorm: by default every (task, level) has its own BN (affine parameters and running
statistics) after every split convolution, because a BN shared by sub-networks of different
widths sees different statistics at each width (the switchable-BN lesson of Slimmable Networks).
``bn="shared_affine"`` shares the scale and shift (sliced like the weights) but keeps running
statistics per output; ``bn="shared"`` shares everything. Both are the book's ablations.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import units as U
from .backbones import BackboneSpec, BlockDef, ConvDef
from .layout import BN_MODES, Layout, TaskIO, layout

Slice = tuple[int, int]


def key(task: int, level: int) -> str:
    return f"t{task}l{level}"


def io_slices(sl: dict[int, Slice], d: ConvDef) -> tuple[Slice, Slice]:
    """(output channels, input channels) that convolution ``d`` uses for an output whose channel
    slices are ``sl`` (``Layout.slices``); a convolution reading the unsplit input layer reads all
    of its channels. The one place that turns an output's slices into a weight block: forward,
    ``extract``, parameter usage and copying between networks all go through it."""
    return sl[d.out_ch], (sl[d.in_ch] if d.in_split else (0, d.in_ch))


class SplitConv(nn.Module):
    """A bias-free convolution split into units, followed by BN (``layout.BN_MODES``).
    ``forward`` runs the output channels ``out`` = (start, stop) on input channels ``inp``; ``x``
    holds only those inputs."""

    def __init__(self, d: ConvDef, bn_mode: str, widths: dict[str, int]):
        super().__init__()
        self.d, self.bn_mode = d, bn_mode
        self.weight = nn.Parameter(torch.empty(d.out_ch, d.in_ch, d.kernel, d.kernel))
        nn.init.xavier_uniform_(self.weight)
        if bn_mode in ("shared", "shared_affine"):
            # One full-width BN, sliced like the weights; with shared_affine its running
            # statistics go unused (``track_running_stats=False``): each output keeps its own.
            self.bn = nn.BatchNorm2d(d.out_ch, track_running_stats=bn_mode == "shared")
        if bn_mode in ("per_output", "shared_affine"):
            affine = bn_mode == "per_output"
            self.bns = nn.ModuleDict({k: nn.BatchNorm2d(w, affine=affine) for k, w in widths.items()})

    def bn_parts(self, k: str, out: Slice):
        """(running mean, running var, weight, bias, BN module for momentum and eps) that output
        ``k`` with channels ``out`` applies. Slices are views: ``F.batch_norm`` in training mode
        updates a shared BN's running statistics in place."""
        a, b = out
        stats = self.bns[k] if self.bn_mode != "shared" else None
        if self.bn_mode == "per_output":
            return stats.running_mean, stats.running_var, stats.weight, stats.bias, stats
        affine = self.bn
        if self.bn_mode == "shared_affine":
            return stats.running_mean, stats.running_var, affine.weight[a:b], affine.bias[a:b], stats
        return affine.running_mean[a:b], affine.running_var[a:b], affine.weight[a:b], affine.bias[a:b], affine

    def forward(self, x: torch.Tensor, k: str, out: Slice, inp: Slice) -> torch.Tensor:
        stride = self.d.stride
        if self.d.kernel == 1 and self.d.padding == 0 and stride != 1:
            # A strided 1x1 convolution is the 1x1 convolution of every stride-th pixel. Taken that
            # way because oneDNN's strided 1x1 kernel (torch 2.13, NHWC, AVX2 CPUs) corrupts the
            # heap in its backward when a unit has fewer than 8 input channels (a narrow network's
            # shortcut): a crash, or worse, memory silently overwritten.
            x, stride = x[:, :, ::stride, ::stride], 1
        y = F.conv2d(x, self.weight[out[0]:out[1], inp[0]:inp[1]], None, stride, self.d.padding)
        mean, var, w, b, bn = self.bn_parts(k, out)
        return F.batch_norm(y, mean, var, w, b, self.training, bn.momentum, bn.eps)

    @torch.no_grad()
    def bn_for(self, k: str, out: Slice) -> nn.BatchNorm2d:
        """A standalone BN equal to what ``forward`` applies for output ``k`` in eval mode."""
        mean, var, w, b, bn = self.bn_parts(k, out)
        new = nn.BatchNorm2d(out[1] - out[0], eps=bn.eps, momentum=bn.momentum)
        for dst, src in ((new.weight, w), (new.bias, b), (new.running_mean, mean), (new.running_var, var)):
            dst.copy_(src)
        return new

    @torch.no_grad()
    def load_bn(self, k: str, out: Slice, bn: nn.BatchNorm2d) -> None:
        """Set what output ``k`` applies to ``bn``'s values (the inverse of ``bn_for``)."""
        for dst, src in zip(self.bn_parts(k, out)[:4], (bn.running_mean, bn.running_var, bn.weight, bn.bias)):
            dst.copy_(src)


class _ChannelSlice(torch.autograd.Function):
    """``x[:, a:b]`` whose gradient keeps ``x``'s memory format. Autograd's own slice backward
    allocates a contiguous (NCHW) gradient; with NHWC activations that made every backward kernel
    below it (the input layer's max-pool, BN, convolution) copy its operands, about a quarter
    of a joint step at the quick profile (see ``dvnlib.bench``)."""

    @staticmethod
    def forward(ctx, x, a: int, b: int):
        ctx.shape, ctx.stride, ctx.a, ctx.b = x.shape, x.stride(), a, b
        return x[:, a:b]

    @staticmethod
    def backward(ctx, g):
        gx = torch.empty_strided(ctx.shape, ctx.stride, dtype=g.dtype, device=g.device).zero_()
        gx[:, ctx.a:ctx.b] = g
        return gx, None, None


Layer = Callable[[torch.Tensor], torch.Tensor]


def residual(x: torch.Tensor, conv1: Layer, conv2: Layer, shortcut: Layer | None) -> torch.Tensor:
    """The basic residual block every network here runs: ``relu(conv2(relu(conv1(x))) + sc)``,
    each ``conv`` a convolution with its BN and ``sc`` ``shortcut(x)`` (None: ``x`` itself).
    ``SplitBlock`` passes its output's weight slices, ``CompactBlock`` plain layers, the
    benchmark's masked network masked full-width layers; the layers are called in that order
    (conv1, conv2, shortcut) so that every network does the same arithmetic in the same order."""
    h = F.relu(conv1(x))
    h = conv2(h)
    return F.relu(h + (x if shortcut is None else shortcut(x)))


class SplitBlock(nn.Module):
    def __init__(self, d: BlockDef, bn_mode: str, bn_widths):
        super().__init__()
        self.d = d
        self.conv1 = SplitConv(d.conv1, bn_mode, bn_widths(d.conv1.out_ch))
        self.conv2 = SplitConv(d.conv2, bn_mode, bn_widths(d.conv2.out_ch))
        self.shortcut = SplitConv(d.shortcut, bn_mode, bn_widths(d.shortcut.out_ch)) if d.shortcut else None

    def convs(self):
        """(name, SplitConv) of the block's convolutions, in the order their parameters are built."""
        return [(n, c) for n, c in (("conv1", self.conv1), ("conv2", self.conv2), ("shortcut", self.shortcut))
                if c is not None]

    def forward(self, x, k: str, sl: dict[int, Slice]) -> torch.Tensor:
        c1 = self.d.conv1
        out, inp = io_slices(sl, c1)
        if self.shortcut is not None:
            sc = lambda v: self.shortcut(v, k, out, inp)  # noqa: E731
        elif c1.in_split or out == (0, x.shape[1]):
            sc = None  # same units in and out: the identity
        else:
            # The block reads the full, unsplit input layer but writes only its units' maps: the
            # identity shortcut passes the input maps with the same channel indices.
            sc = lambda v: _ChannelSlice.apply(v, *out)  # noqa: E731
        return residual(x, lambda v: self.conv1(v, k, out, inp), lambda v: self.conv2(v, k, out, out), sc)


class DVNNet(nn.Module):
    """One physical network serving ``len(tasks)`` tasks through the unit configuration ``config``
    (``units.dvn_configuration`` for DVN, ``units.prefix_configuration`` for NestedNet and the
    rule's ablation). Call ``net(x, task, level)``; tasks and levels count from 1."""

    def __init__(self, spec: BackboneSpec, tasks: Sequence[TaskIO], config: U.Configuration,
                 unit_sizes: Sequence[int] | None = None, bn: str = "per_output"):
        super().__init__()
        if bn not in BN_MODES:
            raise ValueError(f"unknown BN mode {bn!r}: valid modes are {', '.join(BN_MODES)}")
        if len(config) != len(tasks):
            raise ValueError(f"the configuration has {len(config)} tasks but {len(tasks)} tasks were given")
        k = max(max(order) for order in config)
        self.spec, self.tasks, self.config, self.bn_mode = spec, tuple(tasks), config, bn
        self.unit_sizes = tuple(unit_sizes) if unit_sizes is not None else (1,) * k
        if len(self.unit_sizes) != k:
            raise ValueError(f"{len(self.unit_sizes)} unit sizes given for a configuration of {k} units")
        self.outputs = U.outputs(config)
        # (task, max_bytes, zoo) -> (level, precision): set by ``dvnlib.load`` for a kept model
        self.byte_budget = None
        self.layout = Layout("", spec, self.tasks, config, self.unit_sizes, bn)
        # slices[(task, level)][channels] = (start, stop): the output's maps in a layer that wide.
        self.slices = {o: self.layout.slices(*o) for o in self.outputs}

        def bn_widths(channels: int) -> dict[str, int]:
            return {key(*o): b - a for o in self.outputs for a, b in [self.slices[o][channels]]}

        c0 = spec.stem_channels
        self.stems = nn.ModuleList()
        for t in tasks:
            kernel = spec.stem_kernel(t.stride)
            conv = nn.Conv2d(t.in_channels, c0, kernel, t.stride, kernel // 2, bias=False)
            nn.init.xavier_uniform_(conv.weight)
            layers = [conv, nn.BatchNorm2d(c0), nn.ReLU(inplace=True)]
            if spec.maxpool:
                layers.append(nn.MaxPool2d(3, 2, 1))
            self.stems.append(nn.Sequential(*layers))
        self.blocks = nn.ModuleList(SplitBlock(b, bn, bn_widths) for b in spec.plan())
        self.heads = nn.ModuleDict()
        for t, l in self.outputs:
            a, b = self.slices[(t, l)][spec.out_channels]
            head = nn.Linear(b - a, tasks[t - 1].num_classes)
            nn.init.xavier_uniform_(head.weight)
            nn.init.zeros_(head.bias)
            self.heads[key(t, l)] = head

    @classmethod
    def from_layout(cls, lay: Layout) -> "DVNNet":
        return cls(lay.spec, lay.tasks, lay.config, lay.unit_sizes, lay.bn)

    @property
    def k(self) -> int:
        return len(self.unit_sizes)

    # ``torch.channels_last`` (the default) keeps every activation NHWC, which the CPU kernels run
    # much faster (the input layer's max-pool ~8x, BN ~3x; see ``dvnlib.bench``); None runs the
    # input as given (NCHW). Outputs agree to float rounding. Set it per instance.
    memory_format: torch.memory_format | None = torch.channels_last

    def forward(self, x: torch.Tensor, task: int, level: int) -> torch.Tensor:
        U.check_output(self.config, task, level)
        return self.trunk(self.stem(x, task), task, level)

    def stem(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Task ``task``'s input layer, which every level of that task reads in full."""
        if self.memory_format is not None:
            x = x.contiguous(memory_format=self.memory_format)
        return self.stems[task - 1](x)

    def trunk(self, h: torch.Tensor, task: int, level: int) -> torch.Tensor:
        """Everything after the input layer for output (task, level): its slice of every block,
        then its head. ``forward`` is ``trunk(stem(x, task), task, level)``."""
        return self.heads[key(task, level)](self.features(h, task, level))

    def features(self, h: torch.Tensor, task: int, level: int) -> torch.Tensor:
        """The pooled features that (task, level)'s head reads, from the input layer's output."""
        U.check_output(self.config, task, level)
        k, sl = key(task, level), self.slices[(task, level)]
        for block in self.blocks:
            h = block(h, k, sl)
        return h.mean((2, 3))

    def units(self, task: int, level: int) -> tuple[int, ...]:
        return U.level_units(self.config, task, level)

    def level_for(self, task: int, max_params: int | None = None, *, max_bytes: int | None = None, zoo=None):
        """With ``max_params``: the largest level of ``task`` whose parameters (as ``summary``
        counts them) fit; a budget below level 1 raises an error that lists every level.
        With ``max_bytes``, for a kept model (``dvnlib.load``, which gives it its ``byte_budget``:
        ``budget.choose`` over the files the zoo measured of that model; ``zoo`` a CSV path or its
        rows, by default the one beside the model's results): the ``(level, precision)`` whose
        exported file fits with the best measured accuracy. Deployment knowledge stays out of the
        network: what a byte costs is the zoo's, handed in by whoever loaded the model."""
        if (max_params is None) == (max_bytes is None):
            raise ValueError("give exactly one budget: max_params (parameters) or max_bytes (file bytes)")
        if max_bytes is not None:
            U.check_output(self.config, task, 1)
            if self.byte_budget is None:
                raise ValueError("a byte budget is decided by the zoo's measured files of a kept model: load it "
                                 "with dvnlib.load; for another network give max_params")
            return self.byte_budget(task, max_bytes, zoo)
        from .accounting import level_for
        return level_for(Layout("", self.spec, self.tasks, self.config, self.unit_sizes, self.bn_mode),
                         task, max_params)

    @torch.no_grad()
    def extract(self, task: int, level: int) -> "CompactNet":
        """The (task, level) sub-network as a standalone, physically smaller module in eval mode:
        its convolutions hold only the slice of weights that output uses."""
        U.check_output(self.config, task, level)
        k, sl = key(task, level), self.slices[(task, level)]
        blocks = []
        for blk in self.blocks:
            c1 = blk.d.conv1
            out, inp = io_slices(sl, c1)
            sc = None
            if blk.shortcut is not None:
                sc = nn.Sequential(_copy_conv(blk.shortcut, out, inp), blk.shortcut.bn_for(k, out))
            blocks.append(CompactBlock(
                _copy_conv(blk.conv1, out, inp), blk.conv1.bn_for(k, out),
                _copy_conv(blk.conv2, out, out), blk.conv2.bn_for(k, out),
                sc, None if (sc is not None or c1.in_split) else out))
        stem = _copy_module(self.stems[task - 1])
        head = _copy_module(self.heads[k])
        return CompactNet(stem, nn.Sequential(*blocks), head).eval()


def build(scenario, profile: str | None = None, **overrides) -> DVNNet:
    """The scenario's physical network, randomly initialised: at paper size, at ``profile``'s
    size, or with overrides (``depth``, ``width``, ``units``, ``unit_sizes``, ``rule``, ``bn``)."""
    return DVNNet.from_layout(layout(scenario, profile, **overrides))


class CompactBlock(nn.Module):
    def __init__(self, conv1, bn1, conv2, bn2, shortcut: nn.Module | None, sc_slice: tuple[int, int] | None):
        super().__init__()
        self.conv1, self.bn1, self.conv2, self.bn2, self.shortcut = conv1, bn1, conv2, bn2, shortcut
        self.sc_slice = sc_slice

    def forward(self, x):
        sc = self.shortcut
        if sc is None and self.sc_slice is not None:
            a, b = self.sc_slice
            sc = lambda v: v[:, a:b]  # noqa: E731
        return residual(x, lambda v: self.bn1(self.conv1(v)), lambda v: self.bn2(self.conv2(v)), sc)


class CompactNet(nn.Module):
    """A plain ResNet made of standard layers: one (task, level) of a ``DVNNet``, extracted."""

    def __init__(self, stem: nn.Sequential, blocks: nn.Sequential, head: nn.Linear):
        super().__init__()
        self.stem, self.blocks, self.head = stem, blocks, head

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))

    @torch.no_grad()
    def fuse_bn(self) -> "CompactNet":
        """A copy for inference with every BN folded into the convolution before it (same outputs
        to float rounding, one layer fewer per convolution). Uses the running statistics: eval only."""
        from torch.nn.utils.fusion import fuse_conv_bn_eval
        m = _copy_module(self).eval()
        stem = list(m.stem)
        m.stem = nn.Sequential(fuse_conv_bn_eval(stem[0], stem[1]), *stem[2:])
        for b in m.blocks:
            b.conv1, b.bn1 = fuse_conv_bn_eval(b.conv1, b.bn1), nn.Identity()
            b.conv2, b.bn2 = fuse_conv_bn_eval(b.conv2, b.bn2), nn.Identity()
            if b.shortcut is not None:
                b.shortcut = nn.Sequential(fuse_conv_bn_eval(b.shortcut[0], b.shortcut[1]))
        return m


def _copy_conv(conv: SplitConv, out, inp) -> nn.Conv2d:
    d = conv.d
    c = nn.Conv2d(inp[1] - inp[0], out[1] - out[0], d.kernel, d.stride, d.padding, bias=False)
    c.weight.copy_(conv.weight[out[0]:out[1], inp[0]:inp[1]])
    return c


def _copy_module(m: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(m)
