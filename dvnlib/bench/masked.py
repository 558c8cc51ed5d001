"""What methods that mask compute, for the training step's comparison: the same outputs as a
``DVNNet``, by full-width passes with the channels outside an output's units zeroed."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .. import units as U
from ..network import DVNNet, key, residual


class MaskedDVN(nn.Module):
    """What methods that mask compute: every (task, level) runs the *full-width* network and zeroes
    the channels outside its units (a multiplication by a 0/1 mask after every BN), with one BN per
    output at full width. Built from a ``DVNNet`` it has the same outputs on every (task, level)
    (the units' channels see exactly the sliced computation); only the arithmetic differs."""

    def __init__(self, net: DVNNet):
        super().__init__()
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

    def mask(self, k: str, channels: int) -> torch.Tensor:
        return getattr(self, f"mask_{k}_{channels}")

    def trunk(self, h: torch.Tensor, task: int, level: int) -> torch.Tensor:
        U.check_output(self.config, task, level)
        k = key(task, level)

        def conv(i, d):  # the i-th convolution of the network (parameters in build order), masked
            return lambda v: self.bns[i][k](F.conv2d(v, self.weights[i], None, d.stride, d.padding)) * self.mask(k, d.out_ch)
        i = 0
        for d in self.plans:
            if d.shortcut is not None:
                sc = conv(i + 2, d.shortcut)
            elif d.conv1.in_split:
                sc = None
            else:  # the unsplit input layer: keep only the block's own channels, as the slice does
                sc = lambda v, m=self.mask(k, d.conv1.out_ch): v * m  # noqa: E731
            h = residual(h, conv(i, d.conv1), conv(i + 1, d.conv2), sc)
            i += 2 if d.shortcut is None else 3
        return self.heads[k](h.mean((2, 3)))
