"""What a user asks ``runner.run`` for, checked before any data is read or any network built.

``check`` is the one validation path: ``dvnlib.run``, the notebooks (which only pass their
parameters on) and ``python -m dvnlib run`` all go through it. It accepts what a user naturally
types, from Python, papermill (``-p methods dvn``, ``-p seeds 0,1,2``) or the shell, and turns it
into plain typed values; anything else raises a ``ValueError`` that says what was wrong and what
is valid:

* ``methods``: a list of ids, one id, or a comma-separated string (``"dvn,lwf"``); None: the
  family's defaults;
* ``seeds``: a list of integers in [0, 2**63), one integer, or a string such as ``"0,1,2"``; None:
  the profile's;
* ``overrides``: profile settings by name (``Profile``'s fields), each checked for type and range;
  numbers may come as strings (YAML reads ``1e-3`` as one);
* ``device``: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, and usable on this machine;
* ``download``: True or False, or ``"true"``/``"false"`` in any case (papermill's ``-p download
  true``); None: False;
* the results folder: created and written to now, not after the first epoch.
"""
from __future__ import annotations

import math
import operator
import re
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from . import methods as M
from . import results as R
from . import scenarios as S

DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
# Seeds reach torch.manual_seed, which takes a signed or unsigned 64-bit integer, and numpy's
# SeedSequence: [0, 2**63) is what both accept whatever the sign convention.
SEED_LIMIT = 2 ** 63

# Range of each numeric Profile field: (test, what is expected). Fields not listed must be >= 1
# (ints) or finite (floats).
_RANGES: dict[str, tuple[typing.Callable[[float], bool], str]] = {
    "lr": (lambda v: v > 0, "a learning rate above 0"),
    "weight_decay": (lambda v: v >= 0, "a weight decay of 0 or more"),
    "gamma": (lambda v: v > 0, "a learning-rate factor above 0"),
    "momentum": (lambda v: 0 <= v < 1, "a momentum in [0, 1)"),
    "milestones": (lambda v: 0 < v < 1, "fractions of training strictly between 0 and 1"),
    "seeds": (lambda v: 0 <= v < SEED_LIMIT, "integers in [0, 2**63)"),
    "warmup": (lambda v: 0 <= v < 1, "a fraction of the stage's steps in [0, 1)"),
    "finetune_lr_scale": (lambda v: v > 0, "a factor above 0"),
}


@dataclass(frozen=True)
class Request:
    """A checked request: the scenario with the overrides applied, and plain values."""
    scenario: S.Scenario
    profile: str
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    overrides: dict
    device: str
    out: Path  # <out_dir>/<scenario>/<profile>, known to be writable
    download: bool = False  # fetch missing datasets before the runs start (``workers.execute``)


def check(scenario, profile="smoke", methods=None, seeds=None, overrides=None, device=None,
          out_dir="results", family=None, *, probe_out: bool = True, download=False) -> Request:
    s = S.get(scenario)
    if family is not None and s.family != family:
        same = [x.id for x in S.SCENARIOS.values() if x.family == family]
        raise ValueError(f"scenario {s.id} is {s.family}, not {family}: run it with notebooks/{s.family}.ipynb "
                         f"({family} scenarios are {', '.join(same)})")
    s.profile(profile)  # raises with the valid profiles
    clean = check_overrides(overrides, s, profile)
    if clean:
        s = S.with_profile(s, profile, **clean)
    out = Path(out_dir) / s.id / profile
    if probe_out:
        R.check_writable(out)
    return Request(s, profile, parse_methods(methods, s.family), parse_seeds(seeds, s.profile(profile).seeds),
                   clean, check_device(device), out, parse_download(download))


def parse_download(value) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"download must be True (fetch missing datasets first; needs the network) or False: "
                     f"got {value!r}")


def _items(value, what: str) -> list:
    """A list from a list/tuple, a single value, or a string of comma- or space-separated items."""
    if isinstance(value, str):
        return [x for x in re.split(r"[,\s]+", value.strip()) if x]
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            out += _items(v, what) if isinstance(v, str) else [v]
        return out
    return [value]


def parse_methods(value, family: str) -> tuple[str, ...]:
    names = list(M.defaults(family)) if value is None else _items(value, "methods")
    if not names:
        raise ValueError(f"no methods given: valid methods are {', '.join(M.METHODS)}")
    for m in names:
        if not isinstance(m, str):
            raise ValueError(f"methods must be method ids: got {m!r}; valid methods are {', '.join(M.METHODS)}")
        M.check(m)  # raises with the valid ids
    return tuple(dict.fromkeys(names))  # each once, in the order given


def parse_seeds(value, default=(0,)) -> tuple[int, ...]:
    items = list(default) if value is None else _items(value, "seeds")
    try:
        seeds = [whole_number(x) for x in items]
    except ValueError:
        seeds = []
    if not seeds or any(not 0 <= x < SEED_LIMIT for x in seeds):
        raise ValueError(f"seeds must be one or more non-negative integers below 2**63 (a list, 0, or '0,1,2'): "
                         f"got {value!r}")
    return tuple(dict.fromkeys(seeds))


def whole_number(v) -> int:
    """An integer from what a user types, in Python, papermill, YAML or the shell: an int
    (numpy's too), a float with no fraction (``2.0``) or a string of digits; anything else,
    ``True`` included, raises ``ValueError``."""
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, str):
        v = v.strip()
        if not re.fullmatch(r"[+-]?\d+", v):
            raise ValueError(v)
        return int(v)
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise ValueError(v)
    try:
        return operator.index(v)
    except TypeError:
        raise ValueError(v) from None


def _float(v) -> float:
    if isinstance(v, bool):
        raise ValueError(v)
    if isinstance(v, (int, float, str)):
        x = float(v)  # ValueError for "three"
        if math.isfinite(x):
            return x
    raise ValueError(v)


def _field_kind(annotation) -> tuple[type, bool, bool]:
    """(element type, optional, tuple) of a Profile field's annotation."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        annotation = next(a for a in args if a is not type(None))
    if typing.get_origin(annotation) is tuple:
        return typing.get_args(annotation)[0], optional, True
    return annotation, optional, False


def check_overrides(overrides, scenario: S.Scenario, profile: str) -> dict:
    """Overrides as plain typed values, each a Profile field of the right type and range; the
    backbone they give is checked too (e.g. a WRN depth must be 6n+2)."""
    if overrides is None:
        return {}
    if not isinstance(overrides, dict):
        raise ValueError(f"overrides must be a mapping of profile settings, e.g. {{'epochs': 1}} "
                         f"(papermill: -y \"overrides: {{epochs: 1}}\"): got {overrides!r}")
    clean = check_settings(overrides)
    if clean:
        s = S.with_profile(scenario, profile, **clean)
        s.backbone(profile)  # raises for a depth or width the backbone does not have
    return clean


def check_settings(settings: dict, valid: typing.Iterable[str] | None = None) -> dict:
    """Training settings as plain typed values, each one of ``valid`` (default: every Profile
    field) of the right type and range: what ``check_overrides`` and ``dvnlib.fit`` accept."""
    hints = typing.get_type_hints(S.Profile)
    valid = [f.name for f in fields(S.Profile)] if valid is None else list(valid)
    clean = {}
    for key, value in settings.items():
        if key not in valid:
            raise ValueError(f"unknown override {key!r}: valid profile settings are {', '.join(valid)}")
        clean[key] = _check_value(key, value, hints[key])
    return clean


def _check_value(key: str, value, annotation):
    kind, optional, many = _field_kind(annotation)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null")):
        if optional:
            return None
        raise ValueError(f"override {key}: None is not allowed")
    convert = {int: whole_number, float: _float}.get(kind)
    if convert is None:  # a field of another type: passed on as given
        return value
    if key in _RANGES:
        test, expected = _RANGES[key]
    elif kind is int:
        test, expected = (lambda v: v >= 1), "an integer of 1 or more"
    else:
        test, expected = (lambda v: True), "a finite number"
    if optional:
        expected += ", or None"
    items = _items(value, key) if many else [value]
    try:
        converted = [convert(v) for v in items]
    except (ValueError, TypeError, OverflowError):
        converted = None
    if converted is None or not all(test(v) for v in converted) or (many and key == "seeds" and not converted):
        shape = f"a list of {expected}" if many else expected
        raise ValueError(f"override {key}={value!r}: expected {shape}")
    return tuple(converted) if many else converted[0]


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def check_device(device) -> str:
    """The device to train on, resolved (``auto``: CUDA when available) and tried now, so that a
    missing driver or a wrong index is a clear error before any data is read."""
    d = "auto" if device in (None, "") else str(device).strip().lower()
    if not _DEVICE.fullmatch(d):
        raise ValueError(f"unknown device {device!r}: valid devices are {', '.join(DEVICES)}")
    import torch
    if d == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if d.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {d!r} was asked for but CUDA is not available here: use 'cpu' or 'auto'")
        n, index = torch.cuda.device_count(), int(d.partition(":")[2] or 0)
        if index >= n:
            raise ValueError(f"device {d!r} does not exist: this machine has {n} CUDA device(s), "
                             f"cuda:0 to cuda:{n - 1}")
    if d == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but is not available here: use 'cpu' or 'auto'")
    try:
        torch.zeros(1, device=d) + 1
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"device {d!r} cannot be used: {first}") from None
    return d


# The parameters every notebook's `parameters` cell declares: each is passed on to ``runner.run``.
NOTEBOOK_PARAMETERS = ("scenario", "profile", "methods", "seeds", "data_root", "download", "out_dir", "device",
                       "workers", "overrides")
# What a Jupyter kernel itself defines in a notebook's namespace.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_notebook_parameters(namespace: dict) -> None:
    """Raise if a notebook's namespace holds a name its parameters cell does not declare:
    papermill injects ``-p seed 1`` as a new variable beside ``seeds`` and only warns, so the
    notebook would silently run its defaults. The notebooks call this with ``globals()`` first."""
    import types
    unknown = sorted(n for n, v in namespace.items()
                     if not n.startswith("_") and n not in _KERNEL_NAMES and n not in NOTEBOOK_PARAMETERS
                     and not isinstance(v, types.ModuleType))
    if unknown:
        raise ValueError(f"unknown notebook parameter{'s' * (len(unknown) > 1)} {', '.join(map(repr, unknown))}: "
                         f"valid parameters are {', '.join(NOTEBOOK_PARAMETERS)} (papermill -p NAME VALUE)")
