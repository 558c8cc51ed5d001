"""Where and how every result was produced: run records, the commands behind the book's results,
what this build found, and the benchmark's and the whole study's records."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import scenarios as S
from .sources import (BENCH_COMMAND, BOOK_SCENARIOS, STUDY_ABLATIONS, book_profile,
                      load_bench, load_bench_meta, load_metrics, order_methods, read_json, rerun_command, results_dir)


def run_records(root=None) -> pd.DataFrame:
    """One row per ``<results>/<scenario>/<profile>/run.json``: what produced it, where, when."""
    root = Path(root or results_dir())
    rows = []
    for f in sorted(root.glob("*/*/run.json")):
        j = read_json(f)
        runs = j.get("runs", {})
        seeds = sorted({r["seed"] for rs in runs.values() for r in rs})
        finished = max((r.get("finished", "") for rs in runs.values() for r in rs), default=j.get("finished", ""))
        hw = j.get("hardware", {})
        v = j.get("versions", {})
        git = j.get("git", {})
        commit = (git.get("commit") or "")[:10] + (" (dvnlib modified)" if git.get("dvnlib_dirty") else "")
        # Runs recorded since per-run provenance exists carry their own training commit.
        trained = sorted({r["commit"][:10] for rs in runs.values() for r in rs if r.get("commit")})
        if trained:
            commit = f"trained at {', '.join(trained)}; collected at {commit}"
        rows.append({
            "scenario": j.get("scenario", f.parent.parent.name), "profile": j.get("profile", f.parent.name),
            "methods (seeds)": "; ".join(f"{m} ({', '.join(str(r['seed']) for r in sorted(rs, key=lambda r: r['seed']))})"
                                         for m, rs in runs.items()),
            "seeds": ", ".join(map(str, seeds)), "finished (UTC)": str(finished)[:16].replace("T", " "),
            "device": j.get("device", ""),
            "trained on": "; ".join(run_facts(f.parent.parent.name, f.parent.name, root)["machines"]),
            "collected on": f"{hw.get('gpu') or hw.get('cpu', '')}, {hw.get('cpu_count', '?')} cores",
            # each run's own record: the process that collected run.json may have used another count
            "torch threads per run": threads_text(run_facts(f.parent.parent.name, f.parent.name, root)),
            "python / torch / torchvision": f"{v.get('python')} / {v.get('torch')} / {v.get('torchvision')}",
            "numpy / pandas / dvnlib": f"{v.get('numpy')} / {v.get('pandas')} / {v.get('dvnlib')}",
            "commit": commit or "unknown",
            # each method's training source hash (provenance.code_version) and runs of this
            # configuration that other code trained, left out of metrics.csv
            "code": (_codes(j.get("code"))
                     + (f"; {len(j['stale_runs'])} stale runs left out" if j.get("stale_runs") else "")),
            "train s": round(sum(r.get("train_seconds", 0) for rs in runs.values() for r in rs), 1),
            "wall s": round(sum(r.get("wall_seconds", 0) for rs in runs.values() for r in rs), 1),
        })
    return pd.DataFrame(rows)


RETRAINED = "reproducibility"  # results/reproducibility/<name>/: study runs retrained elsewhere


def retrain_check(root=None) -> pd.DataFrame:
    """Every study run retrained on another machine from the same configuration, code and seed
    (``results/reproducibility/<name>/<scenario>/<profile>/``, as ``python -m dvnlib run ...
    --out`` writes it) against the study's own run: per output, both accuracies, their difference
    and how many test images the two predict differently, with each run's machine
    (``provenance.machine``). A retrained run whose study run is missing, or was trained by other
    code, is listed as such."""
    import numpy as np

    from ..provenance import machine
    root = Path(root or results_dir())
    rows = []
    for rec in sorted((root / RETRAINED).glob("*/*/*/runs/*/*/seed*.json")):
        name, sc, prof, method, key = rec.parts[-7], rec.parts[-6], rec.parts[-5], rec.parts[-3], rec.parts[-2]
        study = root / sc / prof / "runs" / method / key / rec.name
        mine = read_json(rec)
        what = {"retrained as": name, "scenario": sc, "profile": prof, "method": method, "seed": mine.get("seed")}
        theirs = read_json(study) if study.is_file() else None
        if theirs is None or theirs.get("code") != mine.get("code"):
            rows.append({**what, "note": "no study run of this configuration" if theirs is None else
                         "the study's run was trained by other code"})
            continue
        a, b = pd.read_csv(study.with_suffix(".csv")), pd.read_csv(rec.with_suffix(".csv"))
        with np.load(study.with_suffix(".predictions.npz")) as za, np.load(rec.with_suffix(".predictions.npz")) as zb:
            differ = {f: int((za[f] != zb[f]).sum()) for f in za.files if f.startswith("pred_")}
        for r in a.merge(b, on=["task", "level"], suffixes=("", "_retrained")).itertuples():
            rows.append({**what, "task": r.task, "level": r.level,
                         "study's run %": r.accuracy, "trained on": machine(theirs.get("hardware") or {}),
                         "retrained %": r.accuracy_retrained, "retrained on": machine(mine.get("hardware") or {}),
                         "difference": r.accuracy_retrained - r.accuracy,
                         "test images predicted differently": differ.get(f"pred_t{r.task}_l{r.level}"),
                         "test images": r.n_test, "note": ""})
    return pd.DataFrame(rows)


def run_facts(scenario: str, profile: str, root=None) -> dict | None:
    """How a twin's runs were configured, as their records say (never the registry's intent):
    backbone, epochs per task (``epochs_per_task`` of every ``runs/*/*/seed*.json``), training and
    test images per task (``run.json``'s resolved settings, None for the whole split), seeds, torch
    threads per run, and the first and last finishing dates. None when there is no ``run.json``."""
    d = Path(root or results_dir()) / scenario / profile
    if not (d / "run.json").is_file():
        return None
    j = read_json(d / "run.json")
    conf = j.get("configuration") or {}
    settings = conf.get("settings") or {}
    runs = [read_json(f) for f in sorted(d.glob("runs/*/*/seed*.json"))]
    epochs = sorted({e for r in runs for per in (r.get("epochs_per_task") or {}).values() for e in per.values()})
    threads = sorted({(r.get("hardware") or {}).get("torch_threads") for r in runs} - {None})
    done = sorted(str(r.get("finished", ""))[:10] for rs in (j.get("runs") or {}).values() for r in rs if r.get("finished"))
    return {"backbone": (conf.get("backbone") or {}).get("name"), "epochs": epochs or [settings.get("epochs")],
            "train_per_task": settings.get("train_per_task"), "train_sizes": settings.get("train_sizes"),
            "test_per_task": settings.get("test_per_task"),
            "seeds": sorted({r["seed"] for rs in (j.get("runs") or {}).values() for r in rs}),
            "threads": threads, "finished": (done[0], done[-1]) if done else None,
            # the machines the current runs were trained on (run.json keeps each run's)
            "machines": sorted({r["machine"] for rs in (j.get("runs") or {}).values() for r in rs if r.get("machine")})}


def current_runs(scenario: str, profile: str, method: str = "dvn", root=None) -> tuple[str | None, set[int]]:
    """The configuration key of a twin's current runs (``run.json``'s ``configuration_key``) and
    the seeds of ``method`` it lists: the runs the result pages show. (None, no seeds) without a
    ``run.json``."""
    f = Path(root or results_dir()) / scenario / profile / "run.json"
    if not f.is_file():
        return None, set()
    j = read_json(f)
    return j.get("configuration_key"), {int(r["seed"]) for r in (j.get("runs") or {}).get(method, [])}


def is_current_run(scenario: str, profile: str, seed: int, config: str | None, method: str = "dvn",
                   root=None) -> bool:
    """Whether a file made from a kept model (the zoo's rows, the demo) is of a run the result
    pages show: its configuration key is the twin's current one and its seed is among the current
    runs. A file that names no configuration (a zoo written before its rows named one) is not."""
    return of_current(current_runs(scenario, profile, method, root), seed, config)


def of_current(runs: tuple[str | None, set[int]], seed: int, config: str | None) -> bool:
    """``is_current_run`` on a twin's ``current_runs``, read once for many models."""
    key, seeds = runs
    return isinstance(config, str) and config == key and int(seed) in seeds


def images_text(facts: dict) -> str:
    """Training images per task as the records give them."""
    sizes = facts.get("train_sizes")
    if sizes and len(set(sizes)) > 1:
        return f"{' / '.join(f'{n:,}' for n in sizes)} training images per task"
    n = facts.get("train_per_task") or (sizes[0] if sizes else None)
    return f"{n:,} training images per task" if n else "every training image"


def epochs_text(facts: dict) -> str:
    e = facts["epochs"]
    return f"{' or '.join(map(str, e))} epoch{'s' * (e != [1])}"


def threads_text(facts: dict) -> str:
    t = facts["threads"]
    return f"{' or '.join(map(str, t))} torch thread{'s' * (t != [1])} per run" if t else "threads not recorded"


def configuration_table(profile: str | None = None, root=None) -> pd.DataFrame:
    """Per twin, how its runs were configured, from their records (``run_facts``)."""
    profile = profile or book_profile()
    rows = []
    for sc in (sc for scs in BOOK_SCENARIOS.values() for sc in scs):
        f = run_facts(sc, profile, root)
        if f is None:
            continue
        test = f["test_per_task"]
        rows.append({"twin": sc, "profile": profile, "backbone": f["backbone"], "epochs": epochs_text(f),
                     "training images": images_text(f),
                     "test images": f"{test:,} per task" if test else "the whole test split",
                     "seeds": ", ".join(map(str, f["seeds"])), "threads": threads_text(f),
                     "finished (UTC)": " to ".join(dict.fromkeys(f["finished"])) if f["finished"] else "—"})
    return pd.DataFrame(rows)


def _codes(code) -> str:
    """run.json's code hash: one per method (a mapping), or one for all its runs (a string)."""
    if isinstance(code, dict):
        return ", ".join(f"{m} {str(c)[:8]}" for m, c in sorted(code.items())) or "—"
    return str(code or "—")[:10]


def book_arms(profile: str) -> list[tuple[str, str]]:
    """The (twin, profile) results the book renders at ``profile``: every twin, and at the study
    profile also the capacity-limited arms beside the standard ones."""
    arms = [(sc, profile) for scs in BOOK_SCENARIOS.values() for sc in scs]
    return arms + ([(sc, S.NARROW) for sc in S.STUDY_PROFILES[S.NARROW]] if profile == "study" else [])


def commands_table(profile: str | None = None) -> pd.DataFrame:
    """The command behind each of the book's results (the study's script runs them all)."""
    profile = profile or book_profile()
    rows = []
    for sc, prof in book_arms(profile):
        rows.append({"results": f"results/{sc}/{prof}/", "methods": ", ".join(S.compared_methods(sc)),
                     "command (from the repository root)": rerun_command(sc, prof),
                     "in this build": "present" if load_metrics(sc, prof) is not None else "missing"})
    for sc, abl in STUDY_ABLATIONS.items():
        df = load_metrics(sc, profile)
        rows.append({"results": f"results/{sc}/{profile}/ (ablations)", "methods": ", ".join(abl),
                     "command (from the repository root)": rerun_command(sc, profile, ablations=True),
                     "in this build": "present" if df is not None and set(abl) <= set(df["method"]) else "missing"})
    rows.append({"results": "results/bench/ (cost page, claim 4)", "methods": "extracted levels of J2 and J1",
                 "command (from the repository root)": BENCH_COMMAND,
                 "in this build": "present" if load_bench() is not None else "missing"})
    return pd.DataFrame(rows)


def bench_record(root=None) -> pd.DataFrame:
    """Where and when the benchmark ran, from ``results/bench/bench.json``."""
    rows = []
    for m in filter(None, [load_bench_meta(root)]):
        hw, v, git = m.get("hardware") or {}, m.get("versions") or {}, m.get("git") or {}
        rows.append({"benchmark": "quick" if m.get("quick") else "full", "date (UTC)": str(m.get("date", ""))[:16],
                     "device": m.get("device", ""), "torch threads": hw.get("torch_threads", ""),
                     "python / torch": f"{v.get('python')} / {v.get('torch')}",
                     "commit": (git.get("commit") or "unknown")[:10] + (" (dvnlib modified)" if git.get("dvnlib_dirty") else ""),
                     "wall s": round(float(m.get("wall_seconds") or 0), 1)})
    return pd.DataFrame(rows)


def study_record(root=None, profile: str | None = None) -> dict | None:
    """The whole study's record for ``profile`` (wall time, hardware, versions), as the study's
    script writes it: ``results/quick_study.json`` for ``quick``, ``results/study.json`` for
    ``study``, ``results/<profile>_study.json`` otherwise; None if there is none."""
    root, profile = Path(root or results_dir()), profile or book_profile(root)
    names = (["quick_study.json"] if profile == "quick" else ["study.json"] if profile == "study" else
             [f"{profile}_study.json", f"quick_study_{profile}.json"])
    for name in names:
        if (root / name).is_file():
            return read_json(root / name)
    return None


STOPPED_FIELDS = ("twin", "profile", "method", "seed", "outcome", "message")


def stopped_runs(scenario: str | None = None, profile: str | None = None, root=None) -> list[dict]:
    """The runs the training guard stopped (an outcome of their method, not a result: see the
    preregistration's addendum), as the study driver's record lists them (``stopped_runs``), of
    ``scenario`` (None: every twin) at ``profile``. The study's record covers every profile of the
    preregistered plan; a record without the list (written before it existed) names none. An entry
    without its fields raises ``BadInput`` naming the file."""
    from .sources import BadInput
    profile = profile or book_profile(root)
    record = study_record(root, profile) or (study_record(root, "study") if profile in S.STUDY_PROFILES else None)
    entries = (record or {}).get("stopped_runs", [])
    where = Path(root or results_dir()) / ("study.json" if profile in S.STUDY_PROFILES else f"{profile}_study.json")
    if not isinstance(entries, list):
        raise BadInput(f"{where}: stopped_runs is not a list; rerun scripts/run_study.py --status to check it "
                       "and let the driver rewrite the record")
    for e in entries:
        if not (isinstance(e, dict) and all(k in e for k in STOPPED_FIELDS)):
            raise BadInput(f"{where}: an entry of stopped_runs lacks one of {', '.join(STOPPED_FIELDS)} ({e!r:.120}); "
                           "the study driver rewrites the record when it next runs")
    return sorted((e for e in entries if e["profile"] == profile and scenario in (None, e["twin"])),
                  key=lambda e: (e["twin"], e["method"], e["seed"]))


def stopped_text(entries: list[dict], what: str = "") -> str:
    """A sentence naming ``entries`` (``stopped_runs``) and what becomes of them; empty if none."""
    if not entries:
        return ""
    named = "; ".join(f"{e['twin']} {e['method']} seed {e['seed']} ({e['outcome']}: {_what_stopped(e['message'])})"
                      for e in entries)
    return (f"**Stopped by the training guard**{what}: {named}. A stopped run writes no result, so it is in "
            "no mean and no interval: each comparison pairs the seeds every output has. It is not trained "
            "again, on any machine, so that no seed is drawn again until it passes; the preregistration's "
            "addenda of 2026-12-07 say why this is an outcome, not a failure.")


def _what_stopped(message: str) -> str:
    """The guard's finding from its message, without the run's name or the advice to the person
    who launched it."""
    return message.split(": ", 1)[-1].split(". Nothing of this run")[0]


def status(profile: str | None = None, root=None) -> pd.DataFrame:
    """Which of the book's results are present, with which methods and seeds."""
    profile = profile or book_profile()
    rows = []
    for sc, prof in book_arms(profile):
        df = load_metrics(sc, prof, root)
        want = S.study_methods(sc, prof)
        have = sorted(set(df["method"])) if df is not None else []
        per = df.groupby("method")["seed"].nunique() if df is not None else pd.Series(dtype=int)
        rows.append({"scenario": sc, "profile": prof, "twin of": S.get(sc).twin_of, "family": S.get(sc).family,
                     "methods present": ", ".join(order_methods(have, want)) or "—",
                     "methods missing": ", ".join(m for m in want if m not in have) or "—",
                     "seeds per method": 0 if per.empty else f"{per.min()}" if per.min() == per.max()
                     else f"{per.min()} to {per.max()}",
                     "stopped by the guard": ", ".join(f"{e['method']} seed {e['seed']}"
                                                       for e in stopped_runs(sc, prof, root)) or "—"})
    return pd.DataFrame(rows)


BUILD_PACKAGES = ("jupyter-book", "myst-nb", "sphinx", "numpy", "pandas", "scipy", "matplotlib", "ipykernel")


def build_record() -> pd.DataFrame:
    """This build of the book: when, at which commit, with which Python and packages (the page
    that shows it executes in the build's own kernel, so these are the versions that rendered it)."""
    import platform
    import subprocess
    from datetime import datetime, timezone
    from importlib import metadata

    from .. import __version__
    from .sources import project_root
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=project_root(), capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown (no git)"
    rows = [("built (UTC)", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")), ("commit", commit),
            ("python", platform.python_version()), ("dvnlib", __version__)]
    for name in BUILD_PACKAGES:
        try:
            rows.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    return pd.DataFrame(rows, columns=["what", "value"])
