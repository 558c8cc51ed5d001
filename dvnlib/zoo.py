"""The model zoo: every (task, level, precision) of every kept ``dvn`` model of some scenarios at
one configuration (their default settings, unless told), exported (``deploy.PRECISIONS``), its
accuracy measured through ONNX Runtime on the run's own test images (the whole test split at the
study profile), its file size and its batch-1 latency. ``python -m dvnlib zoo`` writes the CSV
(``COLUMNS``) that the book's deployment page reads (its tables and figure: ``report/zoo.py``).

The zoo is also what a byte budget is decided by (``budget.choose``, which
``net.level_for(task, max_bytes=...)`` asks); ``budget.py`` holds the file's format and reads it."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from . import deploy, kept
from .budget import COLUMNS
from . import provenance as P
from . import results as R
from . import scenarios as S
from . import timing
from . import trained

WARMUP = 2  # untimed rounds before the timed ones


def build(scenarios: Sequence[str], profile: str, root="results", data_root=None, rounds: int = 30,
          threads: int = 1, log=None, overrides: dict | None = None) -> list[dict]:
    """The zoo's rows: every (task, level) of every kept ``dvn`` model of ``scenarios`` at
    ``profile`` (with ``overrides``, as the runs were given them); see ``model_rows``."""
    log = log or (lambda s: None)
    rows = []
    for sc in scenarios:
        for seed in kept.kept_seeds(sc, profile, root=root, overrides=overrides):
            net = kept.load(sc, profile, seed, root=root, overrides=overrides)
            rows += model_rows(net, data_root, rounds, threads)
            log(f"{sc} {profile} seed {seed}: {len(net.outputs)} outputs")
    return rows


def model_rows(net, data_root=None, rounds: int = 30, threads: int = 1,
               precisions: Sequence[str] = deploy.PRECISIONS, keep=None) -> list[dict]:
    """One row per (task, level, precision) of a kept network (``kept.load``): exported (int8
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
                     "accuracy": kept.recorded_accuracy(net, t, l), "n_test": len(y),
                     "latency_ms": 1000 * ms.median, "latency_ms_min": 1000 * ms.min,
                     "latency_ms_max": 1000 * ms.max, "rounds": rounds, "threads": threads,
                     "hardware": hw.get("cpu"), "onnxruntime": ort.__version__, "commit": commit,
                     **({"file": f"t{t}l{l}-{p}.onnx"} if keep is not None else {})})
    return rows


def write(rows: Sequence[dict], path) -> Path:
    """The zoo CSV, written atomically (``results.write_rows``)."""
    R.write_rows(path, rows, COLUMNS)
    return Path(path)
