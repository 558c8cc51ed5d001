"""The model zoo: every (task, level, precision) of every kept ``dvn`` model of some scenarios at
one configuration (their default settings, unless told), exported (``deploy.PRECISIONS``), its
accuracy measured through ONNX Runtime on the run's own test images (the whole test split at the
study profile), its file size and its batch-1 latency. ``python -m dvnlib zoo`` writes the CSV
(``COLUMNS``) that the book's deployment page reads (its tables and figure: ``report/zoo.py``).

The zoo is also what a byte budget is decided by: ``choose`` picks, among one model's recorded
rows (``recorded``), the (level, precision) of the best measured accuracy whose file fits
(``net.level_for(task, max_bytes=...)``)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import NamedTuple, Sequence

from . import deploy
from . import provenance as P
from . import results as R
from . import scenarios as S
from . import timing
from . import trained

COLUMNS = ("scenario", "profile", "method", "seed", "config", "key", "task", "task_name", "level", "precision",
           "units", "params",
           "onnx_bytes", "accuracy", "onnx_accuracy", "n_test", "latency_ms", "latency_ms_min",
           "latency_ms_max", "rounds", "threads", "hardware", "onnxruntime", "commit")
WARMUP = 2  # untimed rounds before the timed ones
DEFAULT = Path("deploy") / "zoo.csv"  # under a results folder: the zoo of the models kept there


def build(scenarios: Sequence[str], profile: str, root="results", data_root=None, rounds: int = 30,
          threads: int = 1, log=None, overrides: dict | None = None) -> list[dict]:
    """The zoo's rows: every (task, level) of every kept ``dvn`` model of ``scenarios`` at
    ``profile`` (with ``overrides``, as the runs were given them); see ``model_rows``."""
    log = log or (lambda s: None)
    rows = []
    for sc in scenarios:
        for seed in deploy.kept_seeds(sc, profile, root=root, overrides=overrides):
            net = deploy.load(sc, profile, seed, root=root, overrides=overrides)
            rows += model_rows(net, data_root, rounds, threads)
            log(f"{sc} {profile} seed {seed}: {len(net.outputs)} outputs")
    return rows


def model_rows(net, data_root=None, rounds: int = 30, threads: int = 1,
               precisions: Sequence[str] = deploy.PRECISIONS, keep=None) -> list[dict]:
    """One row per (task, level, precision) of a kept network (``deploy.load``): exported (int8
    calibrated on the task's training images, ``deploy.calibration_images``), its accuracy
    through ONNX Runtime on the run's test images from raw pixels (``onnx_accuracy``) beside the
    one its run recorded for that output in float32 (``accuracy``), its file size, and its batch-1
    latency on ``threads`` threads (``timing.interleaved``: every file of the network timed in
    the same ``rounds`` rounds, after ``WARMUP`` untimed ones; median, min and max). ``keep``: a
    folder where the files stay (``t<task>l<level>-<precision>.onnx``, named in ``file``)."""
    import onnxruntime as ort

    from . import accounting
    from .data import load_task
    info = net.info
    s = S.with_profile(info["scenario"], info["profile"], **info["overrides"])
    test_per_task = s.profile(info["profile"]).test_per_task
    cost = {(c.task, c.level): c for c in accounting.costs(trained.layout_from_json(info["layout"]))}
    data = {t: load_task(task, "test", data_root, test_per_task, native=True) for t, task in enumerate(s.tasks, 1)}
    calib = ({t: deploy.calibration_images(net, t, data_root) for t in data} if "int8" in precisions else {})
    sessions, sizes = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep if keep is not None else tmp)
        for (t, l) in cost:
            for p in precisions:
                f = deploy.export(net, t, l, folder / f"t{t}l{l}-{p}.onnx", precision=p, calibration=calib.get(t))
                sessions[(t, l, p)], sizes[(t, l, p)] = deploy.session(f, threads), f.stat().st_size
    one = {t: d.x[:1].numpy() for t, d in data.items()}
    times = timing.interleaved({o: (lambda s=sess, x=one[o[0]]: s.run(None, {deploy.INPUT: x}))
                                for o, sess in sessions.items()}, rounds, warmup=WARMUP)
    hw, commit = P.hardware("cpu"), P.git_state().get("commit")
    rows = []
    for (t, l, p), sess in sessions.items():
        x, y = data[t].x, data[t].y
        acc = 100 * float((deploy.predict(sess, x).argmax(1) == y.numpy()).mean())
        ms = times[(t, l, p)]
        rows.append({"scenario": info["scenario"], "profile": info["profile"], "method": info["method"],
                     "seed": info["seed"], "config": info["config"], "key": info["key"], "task": t,
                     "task_name": info["tasks"][t - 1]["name"], "level": l, "precision": p,
                     "units": ",".join(map(str, cost[(t, l)].units)), "params": cost[(t, l)].params,
                     "onnx_bytes": sizes[(t, l, p)], "onnx_accuracy": round(acc, 4),
                     "accuracy": deploy.recorded_accuracy(net, t, l), "n_test": len(y),
                     "latency_ms": 1000 * ms.median, "latency_ms_min": 1000 * ms.min,
                     "latency_ms_max": 1000 * ms.max, "rounds": rounds, "threads": threads,
                     "hardware": hw.get("cpu"), "onnxruntime": ort.__version__, "commit": commit,
                     **({"file": f"t{t}l{l}-{p}.onnx"} if keep is not None else {})})
    return rows


class Choice(NamedTuple):
    """What a byte budget picks: a level and the precision to export it at."""
    level: int
    precision: str


def recorded(net, zoo=None) -> list[dict]:
    """The zoo's rows of the kept model ``net`` (``deploy.load``): those of its scenario, profile,
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


def write(rows: Sequence[dict], path) -> Path:
    """The zoo CSV, written atomically (``results.write_rows``)."""
    R.write_rows(path, rows, COLUMNS)
    return Path(path)
