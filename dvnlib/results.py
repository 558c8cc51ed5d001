"""Results on disk: atomic writes, checkpoints that cannot run code, run metadata, result rows.

Layout of one scenario run (``<out>/<scenario>/<profile>/``):

* ``metrics.csv``: one row per method, seed, task and level (``COLUMNS``);
* ``run.json``: resolved configuration, library versions, device, hardware, git commit, times;
* ``runs/<method>/seed<seed>.csv`` + ``.json``: each finished (method, seed), with the key of the
  configuration that produced it, so a finished run is recognised and skipped;
* ``checkpoints/`` (not committed): per-stage checkpoints for resuming an interrupted run.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable

COLUMNS = ("scenario", "profile", "method", "seed", "task", "task_name", "level", "units",
           "params", "params_total", "density", "accuracy", "n_test")


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
    n_test: int


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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


def save_checkpoint(path, state: dict) -> None:
    """``torch.save`` through a temporary file; tensors, numbers, strings and containers only."""
    import torch
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path, map_location="cpu") -> dict:
    """``weights_only=True``: a results folder received from elsewhere cannot run code."""
    import torch
    return torch.load(path, map_location=map_location, weights_only=True)


def config_key(obj: Any) -> str:
    """A short stable hash of a JSON-able configuration."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_state(cwd: str | os.PathLike | None = None) -> dict:
    here = Path(cwd or Path(__file__).resolve().parent)

    def git(*args):
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "dvnlib"))
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dvnlib_dirty": None}
    return {"commit": commit or None, "dvnlib_dirty": dirty}


def hardware(device: str = "cpu") -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform()}
    if str(device).startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


def versions() -> dict:
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "pandas", "dvnlib"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def row_dicts(rows: Iterable[Row], scenario: str, profile: str) -> list[dict]:
    return [{"scenario": scenario, "profile": profile, **asdict(r)} for r in rows]


ROW_FIELDS = tuple(f.name for f in fields(Row))
