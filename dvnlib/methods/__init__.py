"""Training methods, by the ids the notebooks' ``methods`` parameter and ``metrics.csv`` use.

Each method is a function ``(ctx: train.RunContext) -> list[results.Row]`` that trains from
scratch for the profile's epochs with the shared loop (``train.fit``) and evaluates every output
it offers on each task's test data. The README's "Methods" section says exactly what each does;
``common`` holds what they share (independent networks, parameter usage, freezing, rows).
``register`` adds a method from outside the package.
"""
from __future__ import annotations

import importlib
import re
from typing import Callable

from ..scenarios import FAMILY_METHODS  # noqa: F401 - what each family compares by default
# Each built-in method as "module:function" in this package, imported on first use (``get``): naming and
# checking methods needs no torch, so a wrong method or setting is refused before torch loads.
METHODS: dict[str, Callable | str] = {
    # DVN: joint (eq. 4) for joint and hierarchical scenarios, sequential (eq. 6) for sequential ones.
    "dvn": "dvn:dvn",
    "baseline": "baseline:baseline",
    "nestednet": "nestednet:nestednet",
    "packnet": "packnet:packnet",
    "feature_extraction": "sequential:feature_extraction",
    "lwf": "sequential:lwf",
    "dacnn": "sequential:dacnn",
    # Not family defaults: NestedNet's memory-efficient mode (Figure 5(b); one network per task)
    # and the full-width baselines alone (a subset of ``baseline``'s networks).
    "nestednet-me": "nestednet:nestednet_me",
    "baseline-full": "baseline:baseline_full",
    # Ablations of DVN (the book's): BN three ways (default per output; scale and shift shared
    # with statistics per output; one full-width BN shared by all outputs), the plain nested
    # order 1..k for every task instead of the configuration rule, and sequential DVN's level 2
    # left as initialised instead of grown function-preservingly from level 1.
    "dvn-shared-affine": "dvn:dvn_shared_affine",
    "dvn-shared-bn": "dvn:dvn_shared_bn",
    "dvn-prefix": "dvn:dvn_prefix",
    "dvn-random-expansion": "dvn:dvn_random_expansion",
    # LwF fine-tuning from the start, without its first stage (the new head alone).
    "lwf-no-head-stage": "sequential:lwf_no_head_stage",
}

BUILT_IN = frozenset(METHODS)


def register(name: str, fn: Callable) -> None:
    """Make ``fn`` (``(ctx: train.RunContext) -> list[results.Row]``) the method ``name``, for
    ``dvnlib.run(..., methods=[name])``. Its runs' code hash is its module's source and the
    ``dvnlib`` modules it imports (``provenance.code_version``): editing it makes its runs train
    again, and it changes no other method's. Registering a name again replaces the function; the
    built-in methods cannot be replaced."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ValueError(f"method name {name!r}: use letters, digits, '_', '-' and '.', starting with a letter or digit")
    if name in BUILT_IN:
        raise ValueError(f"method {name!r} is built in: register yours under another name")
    if not callable(fn):
        raise ValueError(f"method {name!r}: expected a function (ctx) -> list of rows, got {type(fn).__name__}")
    from ..provenance import code_version
    code_version(fn)  # raises now if its source cannot be found
    METHODS[name] = fn


def check(name: str) -> str:
    """``name``, if it is a method; else a ``ValueError`` that lists the valid ones. Imports nothing."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}: valid methods are {', '.join(METHODS)}")
    return name


def get(name: str) -> Callable:
    """The function of method ``name``, its module imported now if it was not yet."""
    fn = METHODS[check(name)]
    if isinstance(fn, str):
        module, function = fn.split(":")
        fn = METHODS[name] = getattr(importlib.import_module(f"{__name__}.{module}"), function)
    return fn


def defaults(family: str) -> tuple[str, ...]:
    return FAMILY_METHODS[family]
