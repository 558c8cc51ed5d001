"""The book's one number format: every number a page prints goes through ``num`` (ours) or
``paper_num`` (the paper's, as transcribed).

Ours: a fixed number of decimals, two by default so that a difference shows where it meets its
margin or boundary (-0.25 ± 0.18 must not read -0.2 ± 0.2); nothing that rounds to zero keeps its
minus sign; a missing value is a dash, never "None" or "nan". The paper's: exactly the digits
``results/paper/reported.csv`` holds (96.95 stays 96.95)."""
from __future__ import annotations

import math

DASH = "—"
DECIMALS = 2  # differences, intervals, margins: where a verdict turns
ACCURACY_DECIMALS = 1  # an accuracy on its own, in a results table


def missing(x) -> bool:
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def num(x, decimals: int = DECIMALS, signed: bool = False, unit: str = "") -> str:
    """``x`` to ``decimals`` places (``signed``: with "+" for positive), never "-0.00"."""
    if missing(x):
        return DASH
    r = round(float(x), decimals) + 0.0  # adding 0.0 turns -0.0 into 0.0
    return f"{r:{'+' if signed else ''}.{decimals}f}{unit}"


def ci(mean, half, decimals: int = DECIMALS, signed: bool = False) -> str:
    """``mean ± half``: one decimal count for both, so the interval's width reads as printed."""
    if missing(mean):
        return DASH
    m = num(mean, decimals, signed)
    return m if missing(half) else f"{m} ± {num(half, decimals)}"


def interval(low, high, decimals: int = DECIMALS, signed: bool = False, unit: str = "") -> str:
    if missing(low) or missing(high):
        return DASH
    if math.isinf(float(low)) or math.isinf(float(high)):
        return "unbounded"
    return f"[{num(low, decimals, signed, unit)}, {num(high, decimals, signed, unit)}]"


def paper_num(x, unit: str = "") -> str:
    """A number the paper reports, with the digits it was transcribed with and no others."""
    if missing(x):
        return DASH
    return f"{float(x):g}{unit}"


def p_value(p, floor: float = 0.0) -> str:
    """Two significant digits; a p of exactly 0 that stands for "below ``floor``" (a bootstrap
    whose resamples all fell on one side) says so, in words: no "<", the cells are HTML."""
    if missing(p):
        return DASH
    return f"under {floor:.1g}" if float(p) == 0 and floor > 0 else f"{float(p):.2g}"


def plain(x) -> str:
    """A table cell of unknown kind: integers as integers, other floats with ``DECIMALS``
    places (trailing zeros dropped), text as it is, nothing as a dash."""
    if missing(x):
        return DASH
    if isinstance(x, str) or type(x).__name__ in ("bool", "bool_"):
        return str(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    s = num(f, DECIMALS + 1 if abs(f) < 1 else DECIMALS)
    return s.rstrip("0").rstrip(".") if "." in s else s
