"""Results on disk: atomic writes, checkpoints that cannot run code, run metadata, result rows.

Layout of one scenario run (``<out>/<scenario>/<profile>/``):

* ``metrics.csv``: one row per method, seed, task and level (``COLUMNS``);
* ``run.json``: resolved configuration, library versions, device, hardware, git commit, times
  (``provenance``);
* ``runs/<method>/<config>/seed<seed>.csv`` + ``.json``: each finished (method, seed), kept apart
  by configuration (``<config>``: the id of the scenario's resolved settings), with the key of its
  identity (configuration, method, seed and ``provenance.code_version`` of the method), so a
  finished run is recognised and skipped, and a run trained by other code is not;
* ``checkpoints/<config>/`` (not committed): per-stage checkpoints for resuming an interrupted run.

A file that cannot be read (a truncated checkpoint, garbage in a run record) is never a dead end:
``quarantine`` renames it to ``<name>.corrupt-<time>`` beside itself and the run trains again.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import os
import pickle
import tempfile
import zipfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

log = logging.getLogger("dvnlib")

COLUMNS = ("scenario", "profile", "method", "seed", "task", "task_name", "level", "units",
           "params", "params_total", "density", "accuracy", "train_accuracy", "n_test")


@dataclass(frozen=True)
class Row:
    """One output of one trained method. ``params`` is what this output uses (N_O's share),
    ``params_total`` what the method stores for all its outputs (N_T), ``density`` is ``params``
    over the parameters of the task's full-width network, ``accuracy`` is task-aware test
    accuracy in percent after the final epoch."""
    method: str
    seed: int
    task: int
    task_name: str
    level: int
    units: str  # unit ids in the order the hierarchy adds them, e.g. "2,1"; "" where not applicable
    params: int
    params_total: int
    density: float
    accuracy: float
    train_accuracy: float  # the same output on a fixed subset of its task's training split (eval mode)
    n_test: int


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> None:
    """``write(f)`` into a temporary file beside ``path``, then rename: readers never see half a
    file, and a full disk or a kill leaves the previous file intact. For data too large to hold
    twice in memory; ``atomic_write_bytes`` otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:
            e.filename = str(path)  # a full disk fails a write on a descriptor, which names no file
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_rows(path, rows: Iterable[dict], columns: Iterable[str] = COLUMNS) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="raise", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    atomic_write_text(path, buf.getvalue())


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def predictions_path(record) -> Path:
    """Where a run keeps its per-image test predictions: ``seed<N>.predictions.npz`` beside its
    record ``seed<N>.json``."""
    record = Path(record)
    return record.with_name(f"{record.stem}.predictions.npz")


def write_predictions(path, predictions) -> str:
    """Keep every output's predicted class of every test image, in the test split's order, as
    numpy arrays ``pred_t{task}_l{level}`` beside each task's labels ``labels_t{task}`` (int16,
    compressed; ``predictions`` maps (task, level) to (predicted, labels) tensors). Returns the
    file's sha256, which the run record holds."""
    import numpy as np
    arrays = {}
    for (t, l), (pred, labels) in sorted(predictions.items()):
        y = labels.cpu().numpy().astype(np.int16)
        if f"labels_t{t}" in arrays and not np.array_equal(arrays[f"labels_t{t}"], y):
            raise ValueError(f"task {t}'s outputs were evaluated on different test images")
        arrays[f"labels_t{t}"] = y
        arrays[f"pred_t{t}_l{l}"] = pred.cpu().numpy().astype(np.int16)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def check_predictions(record, entry) -> str | None:
    """What is wrong with the per-image predictions a run record names (``entry``: its file and
    sha256), or None: a record that names none, a missing file and a file of other content all
    mean the run must train again."""
    if not isinstance(entry, dict) or not {"file", "sha256"} <= set(entry):
        return "it names no per-image predictions"
    path = Path(record).with_name(str(entry["file"]))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return f"its predictions {path.name} are missing"
    return None if digest == entry["sha256"] else f"its predictions {path.name} are not the ones it wrote"


def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` through a temporary file; tensors, numbers, strings and containers only."""
    import torch
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


class CorruptFile(ValueError):
    """A results file (checkpoint, run record, its CSV) is present but cannot be read."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path} cannot be read ({reason})")
        self.path, self.reason = Path(path), reason


def load_checkpoint(path, map_location="cpu") -> dict:
    """``weights_only=True``: a results folder received from elsewhere cannot run code. A file
    that is not a complete checkpoint of ours raises ``CorruptFile`` naming it."""
    import torch
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError, KeyError, RuntimeError) as e:
        # torch's own message may advise weights_only=False, which would run the file's code:
        # report only what is wrong. A RuntimeError from a readable archive is not the file's
        # fault (a device error, say) and is raised as it is.
        if isinstance(e, RuntimeError) and _intact_zip(path):
            raise
        raise CorruptFile(path, f"not a complete PyTorch checkpoint: {type(e).__name__}") from None
    if not isinstance(state, dict):
        raise CorruptFile(path, "not a checkpoint written by dvnlib")
    return state


def _intact_zip(path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def quarantine(path, reason: str = "") -> Path:
    """Move an unreadable file aside (never delete it: it may be all that is left of a long run)
    to ``<name>.corrupt-<UTC time>``, and say so. Returns the new path."""
    from datetime import datetime, timezone
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, dest)
    log.warning("%s cannot be read%s: moved aside to %s; what it held is trained again",
                path, f" ({reason})" if reason else "", dest.name)
    return dest


def resume_checkpoint(path, map_location="cpu") -> dict | None:
    """The checkpoint at ``path``, or None where there is none or it is unreadable (then it is
    moved aside by ``quarantine``, and the stage it held starts again)."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        return load_checkpoint(path, map_location)
    except CorruptFile as e:
        quarantine(path, e.reason)
        return None


def read_record(path) -> dict:
    """A run record (``runs/.../seed<N>.json``); ``CorruptFile`` if it is not a JSON object."""
    try:
        meta = json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptFile(path, f"not JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CorruptFile(path, "not a JSON object")
    return meta


def check_rows(path, record: dict) -> list[dict]:
    """A run's rows, checked by their content against ``record`` (what ``rows_summary`` kept when
    the run was written): exactly ``COLUMNS``; every (task, level) the run produced exactly once;
    scenario, profile, method and seed the record's; every value in range (``check_values``).
    ``CorruptFile`` names what is wrong; the caller sets the file aside and trains the run again."""
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = tuple(reader.fieldnames or ())
    except (UnicodeDecodeError, csv.Error) as e:
        raise CorruptFile(path, f"not CSV: {e}") from None
    if header != COLUMNS:
        raise CorruptFile(path, f"columns {', '.join(header) or 'none'}, expected {', '.join(COLUMNS)}")
    if not rows or any(None in r or None in r.values() for r in rows):
        raise CorruptFile(path, "no rows, or rows of the wrong length")
    if not isinstance(record.get("rows"), dict):
        raise CorruptFile(path, f"its record {Path(path).with_suffix('.json').name} does not say which rows its run "
                                "produced (written by older code): run it again")
    for i, r in enumerate(rows, 2):  # line numbers: the header is line 1
        for col in ("scenario", "profile", "method", "seed"):
            if r[col] != str(record.get(col)):
                raise CorruptFile(path, f"line {i}: {col} {r[col]!r}, but its record {Path(path).with_suffix('.json').name} "
                                        f"says {record.get(col)!r}")
        problem = check_values(r)
        if problem:
            raise CorruptFile(path, f"line {i}: {problem}")
    want = sorted(tuple(o) for o in record["rows"]["outputs"])
    found = sorted((int(r["task"]), int(r["level"])) for r in rows)
    if found != want or len(rows) != record["rows"]["count"]:
        missing = sorted(set(want) - set(found))
        extra = sorted(o for o in set(found) if found.count(o) > want.count(o))
        raise CorruptFile(path, f"{len(rows)} rows where its record expects {record['rows']['count']}, one per "
                                f"(task, level)" + (f"; missing {missing}" if missing else "")
                          + (f"; more than once or unexpected {extra}" if extra else ""))
    return rows


# What a value of each numeric column may be: (type, test, what is expected).
_VALUES = {
    "seed": (int, lambda v: v >= 0, "an integer of 0 or more"),
    "task": (int, lambda v: v >= 1, "an integer of 1 or more"),
    "level": (int, lambda v: v >= 1, "an integer of 1 or more"),
    "params": (int, lambda v: v >= 1, "a positive integer"),
    "params_total": (int, lambda v: v >= 1, "a positive integer"),
    "density": (float, lambda v: math.isfinite(v) and v > 0, "a finite number above 0"),
    "accuracy": (float, lambda v: math.isfinite(v) and 0 <= v <= 100, "a percentage in [0, 100]"),
    "train_accuracy": (float, lambda v: math.isfinite(v) and 0 <= v <= 100, "a percentage in [0, 100]"),
    "n_test": (int, lambda v: v >= 1, "a positive integer"),
}


def check_values(row: dict, columns=None) -> str | None:
    """What is wrong with the numeric values of one result row (as read from a CSV, or written),
    or None. ``columns``: the ones to check (default: every numeric column of ``COLUMNS``)."""
    for col in _VALUES if columns is None else columns:
        kind, test, expected = _VALUES[col]
        value = row[col]
        try:
            v = kind(value) if kind is float else int(str(value).strip())
        except (TypeError, ValueError):
            return f"{col} {value!r} is not {expected}"
        if not test(v):
            return f"{col} {value!r} is not {expected}"
    return None


def rows_summary(rows: list[dict]) -> dict:
    """What a run record keeps of its rows, so that the CSV beside it can be checked against it:
    the row count and each row's (task, level)."""
    return {"count": len(rows), "outputs": [[int(r["task"]), int(r["level"])] for r in rows]}


class NotWritable(OSError):
    """The results folder cannot be created or written."""


def check_writable(folder) -> Path:
    """Create ``folder`` and write a file in it, so that a run finds out now, not after an epoch."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise NotWritable(f"cannot write to the results folder {folder}: {e.strerror or e}; "
                          "choose another folder (out_dir=, or --out)") from None
    return folder


def config_key(obj: Any) -> str:
    """A short stable hash of a JSON-able configuration."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def row_dicts(rows: Iterable[Row], scenario: str, profile: str) -> list[dict]:
    return [{"scenario": scenario, "profile": profile, **asdict(r)} for r in rows]


ROW_FIELDS = tuple(f.name for f in fields(Row))
