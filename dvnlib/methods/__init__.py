"""Training methods, by the ids the notebooks' ``methods`` parameter and ``metrics.csv`` use.

Each method is a function ``(ctx: train.RunContext) -> list[results.Row]`` that trains from
scratch for the profile's epochs with the shared loop (``train.fit``) and evaluates every output
it offers on each task's test data. The README's "Methods" section says exactly what each does;
``common`` holds what they share (independent networks, parameter usage, freezing, rows).
"""
from __future__ import annotations

from typing import Callable

from . import baseline, dvn, nestednet, packnet, sequential

METHODS: dict[str, Callable] = {
    # DVN: joint (eq. 4) for joint and hierarchical scenarios, sequential (eq. 6) for sequential ones.
    "dvn": dvn.dvn,
    "baseline": baseline.baseline,
    "nestednet": nestednet.nestednet,
    "packnet": packnet.packnet,
    "feature_extraction": sequential.feature_extraction,
    "lwf": sequential.lwf,
    "dacnn": sequential.dacnn,
    # Not family defaults: NestedNet's memory-efficient mode (Figure 5(b); one network per task)
    # and the full-width baselines alone (a subset of ``baseline``'s networks).
    "nestednet-me": nestednet.nestednet_me,
    "baseline-full": baseline.baseline_full,
    # Ablations of DVN (the book's): BN three ways (default per output; scale and shift shared
    # with statistics per output; one full-width BN shared by all outputs), the plain nested
    # order 1..k for every task instead of the configuration rule, and sequential DVN's level 2
    # left as initialised instead of grown function-preservingly from level 1.
    "dvn-shared-affine": dvn.dvn_shared_affine,
    "dvn-shared-bn": dvn.dvn_shared_bn,
    "dvn-prefix": dvn.dvn_prefix,
    "dvn-random-expansion": dvn.dvn_random_expansion,
    # LwF fine-tuning from the start, without its first stage (the new head alone).
    "lwf-no-head-stage": sequential.lwf_no_head_stage,
}

# What each family compares by default: every method of the paper's tables for that family.
FAMILY_METHODS: dict[str, tuple[str, ...]] = {
    "joint": ("dvn", "baseline", "nestednet", "packnet"),
    "hierarchical": ("dvn", "baseline", "nestednet"),
    "sequential": ("dvn", "feature_extraction", "lwf", "dacnn", "nestednet"),
}


def get(name: str) -> Callable:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}")
    return METHODS[name]


def defaults(family: str) -> tuple[str, ...]:
    return FAMILY_METHODS[family]
