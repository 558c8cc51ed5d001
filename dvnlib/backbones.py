"""Backbone layouts as plain data: the layer plan that both the network (``network.py``) and the
parameter accounting (``accounting.py``) read, so the two cannot disagree.

Two families, as in the paper (Section 4.2):

* ``WRN-n-s``: the CIFAR ResNet layout with widths scaled by s (Zagoruyko & Komodakis): a 3x3
  input layer with 16 maps, then 3 stages of (n-2)/6 basic blocks with widths 16s, 32s, 64s and
  strides 1, 2, 2. WRN-32-4 is 3 x 5 blocks of 64/128/256 maps. A WRN's width is a whole widening
  factor, so WRN-n-1 is the narrowest it can be; ``base`` (default 16, the WRN's) scales the three
  stages below that, to b, 2b, 4b maps, and keeps the layout otherwise (the 16-map input layer,
  the block counts and strides): the study's capacity-limited twins need a network that narrow.
* ``ResNet-n``: the ImageNet-style ResNet of He et al. (7x7 input layer with 64 maps, 3x3 max-pool
  of stride 2, 4 stages of basic blocks with widths 64/128/256/512 and strides 1, 2, 2, 2). The
  paper's ResNet-42 does not give its block counts; ``RESNET_BLOCKS[42] = (3, 4, 9, 4)`` is the
  20-block split (2*20+2 = 42 layers) whose size is closest to Table 2's 29.8M (see
  ``accounting.search_resnet42`` and the book's method page).

Blocks are post-activation basic blocks, conv-BN-ReLU, conv-BN, add, ReLU: the paper puts "batch
normalization after each convolution". Where a block changes width or resolution the shortcut is
a 1x1 convolution with BN (ResNet option B); otherwise it is the identity.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConvDef:
    """One split convolution. ``in_split`` is False when its input is the (unsplit, task-specific)
    input layer, whose maps every level reads in full."""
    in_ch: int
    out_ch: int
    kernel: int
    stride: int
    in_split: bool = True

    @property
    def padding(self) -> int:
        return self.kernel // 2


@dataclass(frozen=True)
class BlockDef:
    conv1: ConvDef
    conv2: ConvDef
    shortcut: ConvDef | None  # None: identity (the slice of the input with the block's own channels)


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    family: str  # "wrn" or "resnet"
    stem_channels: int
    widths: tuple[int, ...]
    blocks: tuple[int, ...]
    strides: tuple[int, ...]
    maxpool: bool  # ImageNet-style 3x3/2 max-pool after the input layer

    def stem_kernel(self, stride: int) -> int:
        """Kernel of a task's input layer. ImageNet-style: 7x7 (He et al.). WRN: 3x3 at stride 1;
        for larger inputs a (2s+1)-wide kernel so that a stride-s layer still sees every pixel."""
        return 7 if self.family == "resnet" else 2 * stride + 1

    def plan(self) -> list[BlockDef]:
        blocks: list[BlockDef] = []
        in_ch, in_split = self.stem_channels, False
        for width, n, stride in zip(self.widths, self.blocks, self.strides):
            for b in range(n):
                s = stride if b == 0 else 1
                conv1 = ConvDef(in_ch, width, 3, s, in_split)
                conv2 = ConvDef(width, width, 3, 1, True)
                needs_proj = s != 1 or in_ch != width
                shortcut = ConvDef(in_ch, width, 1, s, in_split) if needs_proj else None
                blocks.append(BlockDef(conv1, conv2, shortcut))
                in_ch, in_split = width, True
        return blocks

    @property
    def out_channels(self) -> int:
        return self.widths[-1]

    @property
    def split_channels(self) -> tuple[int, ...]:
        """Every distinct width that is split into units."""
        return tuple(sorted(set(self.widths)))


# Block counts for ImageNet-style ResNets; 42 is this study's choice for the paper's ResNet-42.
RESNET_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    42: (3, 4, 9, 4),
}


WRN_BASE = 16  # maps of a WRN's first stage at widening factor 1


def wrn(depth: int = 32, width: int = 4, base: int = WRN_BASE) -> BackboneSpec:
    """WRN-depth-width: the ResNet-``depth`` CIFAR layout, (depth-2)/6 blocks per stage, its stages
    ``base`` x width, 2 x and 4 x that many maps."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"WRN depth must be 6n+2 with n >= 1 (8, 14, 20, 26, 32, ...): got {depth}")
    if width < 1:
        raise ValueError(f"WRN width factor must be a positive integer: got {width}")
    if base < 1:
        raise ValueError(f"WRN base width must be a positive number of maps: got {base}")
    n = (depth - 2) // 6
    name = f"WRN-{depth}-{width}" if base == WRN_BASE else f"WRN-{depth}-{width} (base {base} maps)"
    return BackboneSpec(name, "wrn", WRN_BASE, (base * width, 2 * base * width, 4 * base * width),
                        (n, n, n), (1, 2, 2), maxpool=False)


def resnet(depth: int = 42, width: int = 64) -> BackboneSpec:
    """ImageNet-style ResNet-``depth`` with basic blocks; ``width`` is the first stage's width."""
    if depth not in RESNET_BLOCKS:
        raise ValueError(f"ResNet depth must be one of {sorted(RESNET_BLOCKS)}: got {depth}")
    if width < 1:
        raise ValueError(f"ResNet width must be a positive integer: got {width}")
    name = f"ResNet-{depth}" if width == 64 else f"ResNet-{depth} (width {width})"
    return BackboneSpec(name, "resnet", width, (width, 2 * width, 4 * width, 8 * width),
                        RESNET_BLOCKS[depth], (1, 2, 2, 2), maxpool=True)


def backbone(family: str, depth: int, width: int, base: int | None = None) -> BackboneSpec:
    """``base``: a WRN's first-stage maps at width factor 1 (None: 16); a ResNet's ``width`` is
    already its base, so ``base`` must be None there."""
    if family == "wrn":
        return wrn(depth, width, WRN_BASE if base is None else base)
    if family == "resnet":
        if base is not None:
            raise ValueError("base_width is a WRN setting: a ResNet's width is already its first stage's maps")
        return resnet(depth, width)
    raise ValueError(f"unknown backbone family {family!r}: valid families are 'wrn', 'resnet'")
