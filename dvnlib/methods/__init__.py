"""Training methods, by the ids the notebooks' ``methods`` parameter and ``metrics.csv`` use.

Each method is a function ``(ctx: train.RunContext) -> list[results.Row]`` that trains from
scratch for the profile's epochs with the shared loop (``train.fit``) and evaluates every output
it offers on each task's test data.
"""
from __future__ import annotations

from typing import Callable

from . import dvn

METHODS: dict[str, Callable] = {
    "dvn": dvn.dvn,
    # Ablations of DVN (the book's): one full-width BN per convolution shared by all outputs, and
    # the plain nested order 1..k for every task instead of the configuration rule.
    "dvn-shared-bn": dvn.dvn_shared_bn,
    "dvn-prefix": dvn.dvn_prefix,
}

# What each family compares by default (extended as the compared methods land).
FAMILY_METHODS: dict[str, tuple[str, ...]] = {
    "joint": ("dvn",),
    "hierarchical": ("dvn",),
    "sequential": (),
}


def get(name: str) -> Callable:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}")
    return METHODS[name]


def defaults(family: str) -> tuple[str, ...]:
    return FAMILY_METHODS[family]
