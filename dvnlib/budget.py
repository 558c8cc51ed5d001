"""Choosing what to deploy under a memory budget. In parameters: the largest level that fits
(``accounting.level_for``). In bytes: among the files the zoo measured for one kept model
(``dvnlib/zoo.py`` writes them), the (level, precision) of the best measured accuracy whose file
fits (``choose``), which ``net.level_for(task, max_bytes=...)`` asks. This module holds the zoo
file's format and reads it; it needs neither torch nor ONNX, so a network can ask it.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from . import results as R

COLUMNS = ("scenario", "profile", "method", "seed", "config", "key", "task", "task_name", "level", "precision",
           "units", "params",
           "onnx_bytes", "accuracy", "onnx_accuracy", "n_test", "latency_ms", "latency_ms_min",
           "latency_ms_max", "rounds", "threads", "hardware", "onnxruntime", "commit")
DEFAULT = Path("deploy") / "zoo.csv"  # under a results folder: the zoo of the models kept there


class Choice(NamedTuple):
    """What a byte budget picks: a level and the precision to export it at."""
    level: int
    precision: str


def recorded(net, zoo=None) -> list[dict]:
    """The zoo's rows of the kept model ``net`` (``dvnlib.load``): those of its scenario, profile,
    method, seed, configuration and run key, from ``zoo`` (a CSV path, or rows already read;
    default: ``DEFAULT`` under the results folder ``net`` was loaded from)."""
    info = getattr(net, "info", None)
    if not info:
        raise ValueError("a byte budget is decided by the zoo's measured files of a kept model (dvnlib.load); "
                         "for another network give max_params, or zoo=<rows of task, level, precision, "
                         "onnx_bytes, onnx_accuracy>")
    root = Path(info["record"]).parents[5]  # <root>/<scenario>/<profile>/runs/<method>/<config>/seed.json
    if zoo is None or isinstance(zoo, (str, Path)):
        path = Path(zoo) if zoo is not None else root / DEFAULT
        if not path.is_file():
            raise FileNotFoundError(f"no zoo at {path} to decide a byte budget by: "
                                    f"`{_zoo_command(info, root, path)}` measures it")
        zoo = read(path)
    ident = {k: str(info[k]) for k in ("scenario", "profile", "method", "seed", "config", "key")}
    rows = [r for r in zoo if all(str(r.get(k)) == v for k, v in ident.items())]
    if not rows:
        raise ValueError(f"the zoo has no rows of the kept {info['method']} model of {info['scenario']} "
                         f"({info['profile']}, seed {info['seed']}, this run's key): "
                         f"`{_zoo_command(info, root, root / DEFAULT)}` measures it")
    return rows


def _zoo_command(info, root, path) -> str:
    sets = "".join(f" --set {k}={v}" for k, v in info["overrides"].items())
    return (f"python -m dvnlib zoo --scenarios {info['scenario']} --profile {info['profile']}{sets} "
            f"--results {root} --out {path}")


def choose(rows, task: int, max_bytes: int) -> Choice:
    """Among the zoo's ``rows`` of one model, the (level, precision) of ``task`` with the best
    measured accuracy (``onnx_accuracy``) whose file (``onnx_bytes``) is at most ``max_bytes``;
    ties go to the smaller file. A budget below every file raises one line listing the sizes."""
    mine = [r for r in rows if int(r["task"]) == task]
    if not mine:
        raise ValueError(f"unknown task {task!r}: the zoo records tasks "
                         f"{', '.join(map(str, sorted({int(r['task']) for r in rows})))}")
    fits = [r for r in mine if int(r["onnx_bytes"]) <= max_bytes]
    if not fits:
        sizes = ", ".join(f"level {r['level']} {r['precision']}: {int(r['onnx_bytes']):,}"
                          for r in sorted(mine, key=lambda r: int(r["onnx_bytes"])))
        raise ValueError(f"no file of task {task} fits {max_bytes:,} bytes; the files are ({sizes}) bytes")
    best = max(fits, key=lambda r: (float(r["onnx_accuracy"]), -int(r["onnx_bytes"])))
    return Choice(int(best["level"]), str(best["precision"]))


def read(path) -> list[dict]:
    """A zoo CSV's rows, checked to have ``COLUMNS`` (a damaged or older file is one line naming it)."""
    import csv
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows, header = list(reader), tuple(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error) as e:
        raise R.CorruptFile(path, f"not CSV: {e}") from None
    if header != COLUMNS:
        raise R.CorruptFile(path, f"columns {', '.join(header) or 'none'}, expected {', '.join(COLUMNS)} "
                                  "(`python -m dvnlib zoo` writes it again)")
    return rows
