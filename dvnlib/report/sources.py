"""Where the book's inputs are, and reading them: our runs, the learning curves, the benchmark,
the paper's numbers. Nothing here computes a statistic or draws anything.

Where the book looks for our runs: ``$DVN_BOOK_RESULTS`` (default: the project's ``results/``)
at profile ``$DVN_BOOK_PROFILE``. Without that variable the book renders ``study``, the profile
its verdicts rest on, as soon as any ``results/<scenario>/study/metrics.csv`` is committed, and
``quick`` until then; every page then says that ``quick`` is not evidence (``EVIDENCE_PROFILE``).
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import scenarios as S
from ..paper import paper_dir, project_root, reported_cost
from ..scenarios import ABLATIONS, FAMILY_METHODS, STUDY_ABLATIONS, ablations_for  # noqa: F401 - the book's names for them

KEYS = ["method", "task", "task_name", "level", "units"]  # one output of one method

BOOK_SCENARIOS: dict[str, tuple[str, ...]] = {
    "joint": ("FJ1", "FJ2", "FJ3"),
    "hierarchical": ("FH1",),
    "sequential": ("FS1",),
}
METHOD_LABELS = {
    "dvn": "DVN", "baseline": "Baseline", "nestednet": "NestedNet", "packnet": "PackNet+",
    "feature_extraction": "Feature Extraction", "lwf": "LwF", "dacnn": "DA-CNN",
    "dvn-shared-bn": "DVN, one shared BN (ablation)", "dvn-prefix": "DVN, plain order 1..k (ablation)",
    "dvn-shared-affine": "DVN, shared BN scale and shift, statistics per output (ablation)",
    "dvn-random-expansion": "DVN, level 2 of the old task grown at random (ablation)",
    "nestednet-me": "NestedNet, one network per task", "baseline-full": "Baseline, full width only",
    "lwf-no-head-stage": "LwF without its head-only stage (ablation)",
}
EVIDENCE_PROFILE = "study"  # the only profile the book draws verdicts from
FALLBACK_PROFILE = "quick"  # rendered, labelled "not evidence", until study results exist
# The study's two capacities (book/preregistration.md, "What is run"): the standard one is the
# study profile, the capacity-limited one a profile of its own, run on FJ1 and FJ2 only.
NARROW_PROFILE = S.NARROW


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def is_ablation(method: str) -> bool:
    """A method with one of its choices switched off: the registered ablations, and any ``dvn-*``."""
    return method in ABLATIONS or method.startswith("dvn-")


def order_methods(present, wanted=()) -> list[str]:
    """``present`` methods, those in ``wanted`` first and in its order."""
    present = list(dict.fromkeys(present))
    return [m for m in wanted if m in present] + [m for m in present if m not in wanted]


# --------------------------------------------------------------------------------------------
# Where things are

def results_dir() -> Path:
    env = os.environ.get("DVN_BOOK_RESULTS")
    return Path(env).resolve() if env else project_root() / "results"


def book_profile(root=None) -> str:
    """The profile the book renders: ``$DVN_BOOK_PROFILE``, else ``study`` once any of its
    results exist, else ``quick``."""
    env = os.environ.get("DVN_BOOK_PROFILE")
    if env:
        return env
    root = Path(root or results_dir())
    return EVIDENCE_PROFILE if any(root.glob(f"*/{EVIDENCE_PROFILE}/metrics.csv")) else FALLBACK_PROFILE


def is_evidence(profile: str | None = None) -> bool:
    return (profile or book_profile()) == EVIDENCE_PROFILE


def capacities(profile: str | None = None) -> dict[str, str]:
    """The capacities the book compares, each with its profile: the rendered profile is the
    standard capacity; the narrow one exists beside the study profile only."""
    profile = profile or book_profile()
    return {"standard": profile, **({"narrow": NARROW_PROFILE} if profile == EVIDENCE_PROFILE else {})}


def twin_name(scenario: str, profile: str | None = None, root=None) -> str:
    """A twin as the pages name it. FJ3 ran twice with different training sizes, so its name says
    which: J3's data sizes (a different count per task) or equal sizes (the first study), as its
    ``run.json`` records them (the registry's profile where no run exists)."""
    if scenario != "FJ3":
        return scenario
    profile = profile or book_profile(root)
    f = Path(root or results_dir()) / scenario / profile / "run.json"
    if f.is_file():
        sizes = ((read_json(f).get("configuration") or {}).get("settings") or {}).get("train_sizes")
    else:
        try:
            sizes = getattr(S.get(scenario).profile(profile), "train_sizes", None)
        except ValueError:
            sizes = None
    return "FJ3 (J3's data sizes)" if sizes and len(set(sizes)) > 1 else "FJ3 (equal sizes, first study)"


def rerun_command(scenario: str, profile: str | None = None, ablations: bool = False) -> str:
    """The exact papermill command (from the repository root, with the project's environment) that
    produces ``results/<scenario>/<profile>/``. It trains only what is missing: a (method, seed)
    that already finished is read back."""
    s = S.get(scenario)
    profile = profile or book_profile()
    name = "ablations" if ablations else s.family
    cmd = (f"papermill notebooks/{s.family}.ipynb results/{s.id}/{profile}/{name}.ipynb -k python3 "
           f"-p scenario {s.id} -p profile {profile}")
    # the notebook's default is its family's methods: a twin's extra compared methods are named
    methods = ablations_for(s.id) or ABLATIONS if ablations else S.compared_methods(s.id)
    if ablations or methods != FAMILY_METHODS[s.family]:
        cmd += f' -y "methods: [{", ".join(methods)}]"'
    return cmd


# --------------------------------------------------------------------------------------------
# Reading a book input: checked by content, and named when it is wrong

class BadInput(ValueError):
    """A book input that is there but wrong (garbage, truncated, a non-numeric or out-of-range
    cell): one line naming the file, what is wrong, and the command that writes it again."""


def _fix(path: Path) -> str:
    """The command that rewrites ``path``, from where it lies under the results folder."""
    parts = Path(path).parts
    if "bench" in parts:
        return f"rerun `{BENCH_COMMAND}` to rewrite it"
    if "deploy" in parts:
        return "rerun `python -m dvnlib zoo --profile PROFILE --out results/deploy/zoo.csv` to rewrite it"
    if "runs" in parts:  # <results>/<scenario>/<profile>/runs/<method>/<config>/seed<N>.*
        i = parts.index("runs")
        seed = Path(path).name.split(".")[0][len("seed"):]
        return (f"delete it and rerun `python -m dvnlib run {parts[i - 2]} --profile {parts[i - 1]} --methods "
                f"{parts[i + 1]} --seeds {seed}` to train that run again")
    if path.name in ("metrics.csv", "run.json") and len(parts) >= 3:
        return (f"rerun `python -m dvnlib run {parts[-3]} --profile {parts[-2]}` to rewrite it (finished runs "
                "are read back, not trained)")
    return "write it again with the command that produced it (see the reproducibility page)"


def read_json(path) -> dict:
    """A JSON object from ``path``; ``BadInput`` naming the file if it is not one."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{path} is not valid JSON (truncated or garbage: {e}); {_fix(path)}") from None
    if not isinstance(obj, dict):
        raise BadInput(f"{path} holds a JSON {type(obj).__name__}, not an object; {_fix(path)}")
    return obj


# Columns of the book's CSVs whose every value must be a number in range: (test, what is expected).
_POSITIVE = (lambda v: v > 0, "a number above 0")
_COUNT = (lambda v: v >= 1 and float(v).is_integer(), "a whole number of at least 1")
_PERCENT = (lambda v: 0 <= v <= 100, "a percentage in [0, 100]")
RANGES: dict[str, tuple] = {
    "seed": (lambda v: v >= 0 and float(v).is_integer(), "a whole number of 0 or more"),
    "repeat": (lambda v: v >= 0 and float(v).is_integer(), "a whole number of 0 or more"),
    **{c: _COUNT for c in ("task", "level", "params", "params_total", "n_test", "macs", "batch_size", "batch",
                          "threads", "repeats", "rounds", "onnx_bytes")},
    "steps": (lambda v: v >= 0 and float(v).is_integer(), "a whole number of 0 or more"),
    "epochs": (lambda v: v >= 0, "a number of 0 or more"),
    **{c: _PERCENT for c in ("accuracy", "train_accuracy", "onnx_accuracy")},
    **{c: _POSITIVE for c in ("density", "ms_per_image", "ms_per_image_min", "ms_per_image_max", "latency_ms",
                             "latency_ms_min", "latency_ms_max", "step_ms", "step_ms_min", "step_ms_max",
                             "data_ms", "data_ms_min", "data_ms_max", "full_step_ms", "masked_step_ms",
                             "masked_step_ms_min", "masked_step_ms_max", "speedup", "speedup_paired",
                             "speedup_vs_masked", "speedup_vs_masked_paired", "speedup_vs_first", "mac_ratio",
                             "masked_mac_ratio", "ratio_to_ideal", "ratio_to_ideal_paired")},
    "fraction_of_step": (lambda v: v >= 0, "a number of 0 or more"),
}


def read_csv(path, **kw) -> pd.DataFrame:
    """``pd.read_csv`` of a book input, checked by content: every column of ``RANGES`` it has
    holds a finite number in range in every row (an empty or non-numeric cell would be averaged
    away while the tables still count it). Raises ``BadInput`` naming the file, the line, the
    column, the value and the fix."""
    path = Path(path)
    try:
        df = pd.read_csv(path, **kw)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise BadInput(f"{path} is not a readable CSV ({' '.join(str(e).split())[:200]}); {_fix(path)}") from None
    for col in (c for c in df.columns if c in RANGES):
        test, expected = RANGES[col]
        values = pd.to_numeric(df[col], errors="coerce")
        ok = values.apply(lambda v: bool(pd.notna(v) and np.isfinite(v) and test(v)))
        if not ok.all():
            i = int(np.flatnonzero(~ok.to_numpy())[0])
            raw = df[col].iloc[i]
            shown = "an empty cell" if pd.isna(raw) else repr(raw) if isinstance(raw, str) else f"{float(raw):g}"
            raise BadInput(f"{path}, line {i + 2}, column {col}: {shown} is not {expected}; {_fix(path)}")
    return df


# --------------------------------------------------------------------------------------------
# Our runs

def load_metrics(scenario: str, profile: str | None = None, root=None) -> pd.DataFrame | None:
    """``metrics.csv`` (``results.COLUMNS``), or None. Older files lack ``train_accuracy``: it is
    then absent, and the tables leave it out."""
    path = Path(root or results_dir()) / scenario / (profile or book_profile(root)) / "metrics.csv"
    if not path.is_file():
        return None
    df = read_csv(path, dtype={"units": str, "task_name": str, "method": str})
    return df if len(df) else None


def book_data(profile: str | None = None, root=None) -> dict[str, pd.DataFrame]:
    """Every book scenario's metrics that exist, by scenario id."""
    out = {}
    for scs in BOOK_SCENARIOS.values():
        for sc in scs:
            df = load_metrics(sc, profile, root)
            if df is not None:
                out[sc] = df
    return out


CURVE_COLUMNS = ("scenario", "method", "seed", "steps", "epochs", "task", "level", "train_accuracy", "accuracy")


def curves_path(scenario: str, root=None) -> Path:
    return Path(root or results_dir()) / scenario / "curves" / "curve.csv"


def load_curves(root=None) -> pd.DataFrame | None:
    """Every ``<results>/<scenario>/curves/curve.csv`` in one frame (``CURVE_COLUMNS``: test and
    train accuracy of one output after ``steps`` SGD steps of one seed), or None if there is none."""
    parts = [read_csv(f) for f in sorted(Path(root or results_dir()).glob("*/curves/curve.csv"))]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else None


def load_records(scenario: str, profile: str, method: str = "*", root=None) -> pd.DataFrame | None:
    """The rows of each run record under ``<results>/<scenario>/<profile>/runs/<method>/`` (every
    key's ``seed*.json`` and ``.csv``) with the run's overrides and SGD steps per task beside them,
    or None if there is none."""
    parts = []
    for rec in sorted((Path(root or results_dir()) / scenario / profile / "runs").glob(f"{method}/*/seed*.json")):
        meta = read_json(rec)
        rows = read_csv(rec.with_suffix(".csv"), dtype={"units": str})
        steps = meta.get("steps_per_task", {})
        # None, for a size, is the whole split: said so, not printed raw
        rows["overrides"] = ", ".join(f"{k}={'all' if v is None else v}"
                                      for k, v in sorted(meta.get("overrides", {}).items())) or "none"
        rows["steps"] = [max(steps.get(str(t), {}).values(), default=None) for t in rows["task"]]
        parts.append(rows)
    return pd.concat(parts, ignore_index=True) if parts else None


def load_anchor(root=None) -> pd.DataFrame | None:
    """The probes that set FH1's study budget (``<results>/FH1/anchor/``), as ``load_records``."""
    return load_records("FH1", "anchor", root=root)


# --------------------------------------------------------------------------------------------
# The paper's numbers, always the project's own copy (copied from the study brief)

@lru_cache(maxsize=4)
def _read_reported(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"units_used": str, "note": str})


def load_reported() -> pd.DataFrame:
    return _read_reported(paper_dir() / "reported.csv").copy()


def load_reported_cost() -> pd.DataFrame:
    """``reported_cost.csv`` as ``dvnlib.paper`` reads it for the benchmark too."""
    return pd.DataFrame(reported_cost())


# --------------------------------------------------------------------------------------------
# The benchmark's files, as ``bench.write`` writes them under ``<results>/bench/``

BENCH_COMMAND = "python -m dvnlib bench --out results/bench"
BENCH_KEYS = ["scenario", "network", "task", "batch_size", "engine"]  # inference.csv: one timed group


def bench_dir(root=None) -> Path:
    return Path(root or results_dir()) / "bench"


def load_bench(root=None) -> pd.DataFrame | None:
    """``bench/inference.csv`` (``bench.CSV_COLUMNS``), or None: one row per timed round of every
    extracted level under the benchmark's headline engine. Within a group of ``BENCH_KEYS``, rows
    with the same ``repeat`` were timed in the same round."""
    f = bench_dir(root) / "inference.csv"
    return read_csv(f, dtype={"units": str}) if f.is_file() else None


def load_bench_meta(root=None) -> dict | None:
    """``bench/bench.json`` (``bench.public``), or None: device, hardware, versions, git, date,
    the headline ``engine``, ``plan``, ``quick``, ``wall_seconds``, ``switches``."""
    f = bench_dir(root) / "bench.json"
    return read_json(f) if f.is_file() else None


def load_bench_table(name: str, root=None) -> pd.DataFrame | None:
    """``bench/tables/<name>.csv``, or None: ``levels`` (every engine), ``training``, ``data``,
    ``targets`` (target, value, threshold, met)."""
    f = bench_dir(root) / "tables" / f"{name}.csv"
    return read_csv(f, dtype={"units": str}) if f.is_file() else None


# --------------------------------------------------------------------------------------------
# Per-image predictions, as each run keeps them beside its record

Correct = dict[tuple[str, int, int, int], np.ndarray]  # (method, seed, task, level) -> correct per image


def predictions_paths(scenario: str, profile: str, root=None) -> list[Path]:
    """Every run's ``seed<N>.predictions.npz`` under ``<results>/<scenario>/<profile>/runs/<method>/<config>/``,
    ``<config>`` the configuration key ``run.json`` names (every key where it names none)."""
    base = Path(root or results_dir()) / scenario / profile
    key = "*"
    if (base / "run.json").is_file():
        key = read_json(base / "run.json").get("configuration_key") or "*"
    return sorted(base.glob(f"runs/*/{key}/seed*.predictions.npz"))


def load_predictions(scenario: str, profile: str, root=None) -> tuple[Correct, dict[int, np.ndarray]] | None:
    """Whether each output of each run classified each test image correctly, and each task's test
    labels (in the test split's order), from the runs' ``.predictions.npz`` files (arrays
    ``labels_t{t}`` and ``pred_t{t}_l{l}``); None where no run kept any. Runs of one scenario and
    profile see the same test images in the same order: a run whose labels differ is an error."""
    correct: Correct = {}
    labels: dict[int, np.ndarray] = {}
    for f in predictions_paths(scenario, profile, root):
        method, seed = f.parent.parent.name, int(f.name[len("seed"):].split(".")[0])
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files}
        for name, pred in arrays.items():
            if not name.startswith("pred_t"):
                continue
            task, level = (int(x) for x in name[len("pred_t"):].split("_l"))
            y = arrays.get(f"labels_t{task}")
            if y is None or len(y) != len(pred):
                raise ValueError(f"{f}: {name} has no labels_t{task} of its length; rerun this run to rewrite "
                                 "its predictions")
            if task in labels and not np.array_equal(labels[task], y):
                raise ValueError(f"{f}: task {task}'s test labels differ from the other runs' of {scenario} "
                                 f"({profile}); rerun this run so that every method sees the same test images")
            labels[task] = y
            correct[(method, seed, task, level)] = pred == y
    return (correct, labels) if correct else None
