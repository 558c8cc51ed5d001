"""The physical network and its deep virtual networks (Kim et al., CVPR 2019, Section 3).

``DVNNet`` holds one set of shared convolution weights whose feature maps are split into units in
every layer except the task-specific input layers. Output (task, level) runs the contiguous slice
of channels its units cover, in every layer, *by slicing the weights*: a level with a quarter of
the units does a sixteenth of the arithmetic, not a masked full-width pass. ``extract`` copies
that slice into ``CompactNet``, a plain, physically smaller ``nn.Module`` with the same outputs.

BatchNorm: by default every (task, level) has its own BN (affine parameters and running
statistics) after every split convolution, because a BN shared by sub-networks of different
widths sees different statistics at each width (the switchable-BN lesson of Slimmable Networks).
``bn="shared"`` keeps one full-width BN per convolution, sliced like the weights, for the ablation.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import units as U
from .backbones import BackboneSpec, BlockDef, ConvDef
from .layout import Layout, TaskIO, layout

BN_MODES = ("per_output", "shared")


def key(task: int, level: int) -> str:
    return f"t{task}l{level}"


class SplitConv(nn.Module):
    """A bias-free convolution split into units, followed by BN. ``forward`` runs the output
    channels ``out`` = (start, stop) on input channels ``inp``; ``x`` holds only those inputs."""

    def __init__(self, d: ConvDef, bn_widths: dict[str, int] | None):
        super().__init__()
        self.d = d
        self.weight = nn.Parameter(torch.empty(d.out_ch, d.in_ch, d.kernel, d.kernel))
        nn.init.xavier_uniform_(self.weight)
        if bn_widths is None:  # shared BN, sliced like the weights
            self.bn = nn.BatchNorm2d(d.out_ch)
        else:
            self.bns = nn.ModuleDict({k: nn.BatchNorm2d(w) for k, w in bn_widths.items()})

    def forward(self, x: torch.Tensor, k: str, out: tuple[int, int], inp: tuple[int, int]) -> torch.Tensor:
        w = self.weight[out[0]:out[1], inp[0]:inp[1]]
        y = F.conv2d(x, w, None, self.d.stride, self.d.padding)
        if hasattr(self, "bns"):
            return self.bns[k](y)
        bn, (a, b) = self.bn, out
        # Slices of the running buffers are views: batch_norm updates them in place.
        return F.batch_norm(y, bn.running_mean[a:b], bn.running_var[a:b], bn.weight[a:b], bn.bias[a:b],
                            self.training, bn.momentum, bn.eps)

    def bn_for(self, k: str, out: tuple[int, int]) -> nn.BatchNorm2d:
        """A standalone BN equal to what ``forward`` applies for output ``k``."""
        if hasattr(self, "bns"):
            return _copy_bn(self.bns[k])
        return _copy_bn(self.bn, slice(*out))


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


class SplitBlock(nn.Module):
    def __init__(self, d: BlockDef, bn_widths):
        super().__init__()
        self.d = d
        self.conv1 = SplitConv(d.conv1, bn_widths(d.conv1.out_ch))
        self.conv2 = SplitConv(d.conv2, bn_widths(d.conv2.out_ch))
        self.shortcut = SplitConv(d.shortcut, bn_widths(d.shortcut.out_ch)) if d.shortcut else None

    def forward(self, x, k: str, sl: dict[int, tuple[int, int]]) -> torch.Tensor:
        c1 = self.d.conv1
        inp = sl[c1.in_ch] if c1.in_split else (0, c1.in_ch)
        out = sl[c1.out_ch]
        h = F.relu(self.conv1(x, k, out, inp))
        h = self.conv2(h, k, out, out)
        if self.shortcut is not None:
            sc = self.shortcut(x, k, out, inp)
        elif c1.in_split:
            sc = x  # same units in and out: the identity
        else:
            # The block reads the full, unsplit input layer but writes only its units' maps: the
            # identity shortcut passes the input maps with the same channel indices.
            sc = x if out == (0, x.shape[1]) else _ChannelSlice.apply(x, *out)
        return F.relu(h + sc)


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
        # slices[(task, level)][channels] = (start, stop): the output's maps in a layer that wide.
        self.slices = {o: {c: U.channel_slice(c, self.unit_sizes, *U.unit_range(config, *o))
                           for c in spec.split_channels} for o in self.outputs}

        def bn_widths(channels: int):
            if bn == "shared":
                return None
            return {key(*o): self.slices[o][channels][1] - self.slices[o][channels][0] for o in self.outputs}

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
        self.blocks = nn.ModuleList(SplitBlock(b, bn_widths) for b in spec.plan())
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

    # None: run the input as given. ``torch.channels_last`` keeps every activation NHWC, which
    # the CPU kernels run much faster (the input layer's max-pool ~8x, BN ~3x; see
    # ``dvnlib.bench``); outputs agree to float rounding. Set it per instance.
    memory_format: torch.memory_format | None = None

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
        U.check_output(self.config, task, level)
        k, sl = key(task, level), self.slices[(task, level)]
        for block in self.blocks:
            h = block(h, k, sl)
        return self.heads[k](h.mean((2, 3)))

    def units(self, task: int, level: int) -> tuple[int, ...]:
        return U.level_units(self.config, task, level)

    @torch.no_grad()
    def extract(self, task: int, level: int) -> "CompactNet":
        """The (task, level) sub-network as a standalone, physically smaller module in eval mode:
        its convolutions hold only the slice of weights that output uses."""
        U.check_output(self.config, task, level)
        k, sl = key(task, level), self.slices[(task, level)]
        blocks = []
        for blk in self.blocks:
            c1 = blk.d.conv1
            inp = sl[c1.in_ch] if c1.in_split else (0, c1.in_ch)
            out = sl[c1.out_ch]
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
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        if self.shortcut is not None:
            sc = self.shortcut(x)
        elif self.sc_slice is not None:
            sc = x[:, self.sc_slice[0]:self.sc_slice[1]]
        else:
            sc = x
        return F.relu(h + sc)


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


def _copy_bn(bn: nn.BatchNorm2d, idx: slice = slice(None)) -> nn.BatchNorm2d:
    n = bn.weight[idx].numel()
    new = nn.BatchNorm2d(n, eps=bn.eps, momentum=bn.momentum)
    with torch.no_grad():
        new.weight.copy_(bn.weight[idx])
        new.bias.copy_(bn.bias[idx])
        new.running_mean.copy_(bn.running_mean[idx])
        new.running_var.copy_(bn.running_var[idx])
        new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def _copy_module(m: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(m)
