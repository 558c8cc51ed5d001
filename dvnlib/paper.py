"""The paper's reported numbers (Kim et al., CVPR 2019): where the project's copies are, and its
cost figures read once for the benchmark and the book alike.

``results/paper/reported.csv`` (accuracies, Tables 1 and 3-5) and ``reported_cost.csv`` (Table 2
and Section 4.3: parameters, density, time per image, speed-up) are transcribed from the paper
and copied verbatim from the study brief. This module imports neither torch nor pandas: the
benchmark reads Table 2's speed-ups here without the book's report package, and the report turns
the same rows into its tables.
"""
from __future__ import annotations

import csv
import math
from functools import lru_cache
from pathlib import Path

# reported_cost.csv: the numeric columns (empty where the paper gives no figure: NaN) and the rest
COST_NUMBERS = ("params_M", "density_pct", "compression_x", "inference_ms_per_image", "speedup_x")
COST_TEXT = ("source", "scenario", "backbone", "units_used", "hardware")
TABLE2 = "Table 2"  # the ``source`` of the rows with the paper's speed-ups
# The engine whose speed-ups are set against Table 2's, fixed before any timing by the book's
# preregistration: ONNX Runtime's CPU provider at one intra-op thread, what ``dvnlib.export`` ships.
# The benchmark names it in its output and the book's claim 4 is decided by it.
DECIDING_ENGINE = ("onnxruntime", 1)


def project_root() -> Path:
    """The project checkout: the folder holding ``results/paper/reported.csv`` above this file
    (an editable install) or above the working directory (the book's pages run in ``book/``)."""
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for d in (start, *start.parents):
            if (d / "results" / "paper" / "reported.csv").is_file():
                return d
    return Path(__file__).resolve().parents[1]


def paper_dir() -> Path:
    return project_root() / "results" / "paper"


def reported_cost() -> list[dict]:
    """Every row of ``reported_cost.csv``: ``level`` an int, ``COST_NUMBERS`` floats (NaN where
    the paper gives none), ``COST_TEXT`` strings."""
    return [dict(r) for r in _read_cost(paper_dir() / "reported_cost.csv")]


@lru_cache(maxsize=4)
def _read_cost(path: Path) -> tuple[dict, ...]:
    fix = "restore the project's copy (git checkout -- results/paper)"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: {fix}")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"level", *COST_NUMBERS, *COST_TEXT} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} has no column {', '.join(sorted(missing))}: {fix}")
        rows = list(reader)

    def value(k: str, v: str):
        return int(v) if k == "level" else (float(v) if v else math.nan) if k in COST_NUMBERS else v
    try:  # in the file's column order, as the book shows it
        return tuple({k: value(k, v) for k, v in r.items()} for r in rows)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} holds a figure that is not a number ({e}): {fix}") from None


def paper_speedups() -> dict[tuple[str, int], float]:
    """Table 2's speed-ups, keyed by (scenario, level)."""
    return {(r["scenario"], r["level"]): r["speedup_x"] for r in reported_cost()
            if r["source"] == TABLE2 and not math.isnan(r["speedup_x"])}


def is_deciding(engine: str, threads) -> bool:
    """Whether the benchmark's ``engine`` (its name, an ``@Nthreads`` suffix allowed) run at
    ``threads`` intra-op threads is ``DECIDING_ENGINE``; an engine with no thread count is not."""
    if threads is None or threads != threads:  # None, or NaN read back from a CSV
        return False
    return (str(engine).split("@")[0], int(threads)) == DECIDING_ENGINE
