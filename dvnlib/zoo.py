"""The model zoo: every (task, level) of every kept ``dvn`` model of some scenarios at one
configuration (their default settings, unless told), exported, its accuracy measured through
ONNX Runtime on the run's own test images, its file size and its batch-1 latency. ``python -m
dvnlib zoo`` writes the CSV (``COLUMNS``) that the book's deployment page reads (its tables and
figure: ``report/zoo.py``)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Sequence

from . import deploy
from . import provenance as P
from . import results as R
from . import scenarios as S
from . import trained

COLUMNS = ("scenario", "profile", "method", "seed", "task", "task_name", "level", "units", "params",
           "onnx_bytes", "accuracy", "onnx_accuracy", "n_test", "latency_ms", "latency_ms_min",
           "latency_ms_max", "rounds", "threads", "hardware", "onnxruntime", "commit")


def build(scenarios: Sequence[str], profile: str, root="results", data_root=None, rounds: int = 30,
          threads: int = 1, log=None, overrides: dict | None = None) -> list[dict]:
    """The zoo's rows: every (task, level) of every kept ``dvn`` model of ``scenarios`` at
    ``profile`` (with ``overrides``, as the runs were given them), exported, its accuracy measured through ONNX Runtime on the run's test images
    (``onnx_accuracy``) beside the recorded one (``accuracy``), its file size and its batch-1
    latency (median of ``rounds`` single-image calls after warm-up, every output of one model timed
    in the same rounds)."""
    import time

    import numpy as np
    import onnxruntime as ort

    from . import accounting
    from .data import load_task
    log = log or (lambda s: None)
    hw, commit = P.hardware("cpu"), P.git_state().get("commit")
    rows = []
    for sc in scenarios:
        for seed in deploy.kept_seeds(sc, profile, root=root, overrides=overrides):
            net = deploy.load(sc, profile, seed, root=root, overrides=overrides)
            info = net.info
            s = S.with_profile(sc, profile, **info["overrides"]) if info["overrides"] else S.get(sc)
            p = s.profile(profile)
            lay = trained.layout_from_json(info["layout"])
            cost = {(c.task, c.level): c for c in accounting.costs(lay)}
            sessions = {}
            with tempfile.TemporaryDirectory() as tmp:
                for (t, l), c in cost.items():
                    f = deploy.export(net, t, l, Path(tmp) / f"t{t}l{l}.onnx")
                    sessions[(t, l)] = (deploy.session(f, threads), f.stat().st_size)
                data = {t: load_task(s.tasks[t - 1], "test", data_root, p.test_per_task, native=True)
                        for t in range(1, len(s.tasks) + 1)}
                one = {t: data[t].x[:1].numpy() for t in data}
                times = {o: [] for o in sessions}
                for r in range(rounds + 2):  # two warm-up rounds
                    order = list(sessions)
                    order = order[r % len(order):] + order[:r % len(order)]
                    for o in order:
                        t0 = time.perf_counter()
                        sessions[o][0].run(None, {deploy.INPUT: one[o[0]]})
                        if r >= 2:
                            times[o].append(time.perf_counter() - t0)
                for (t, l), (sess, size) in sessions.items():
                    x, y = data[t].x, data[t].y
                    acc = 100 * float((deploy.predict(sess, x).argmax(1) == y.numpy()).mean())
                    ms = 1000 * np.asarray(times[(t, l)])
                    rows.append({"scenario": sc, "profile": profile, "method": "dvn", "seed": seed, "task": t,
                                 "task_name": info["tasks"][t - 1]["name"], "level": l,
                                 "units": ",".join(map(str, cost[(t, l)].units)), "params": cost[(t, l)].params,
                                 "onnx_bytes": size, "onnx_accuracy": round(acc, 4),
                                 "accuracy": deploy.recorded_accuracy(net, t, l),
                                 "n_test": len(y), "latency_ms": float(np.median(ms)),
                                 "latency_ms_min": float(ms.min()), "latency_ms_max": float(ms.max()),
                                 "rounds": rounds, "threads": threads, "hardware": hw.get("cpu"),
                                 "onnxruntime": ort.__version__, "commit": commit})
            log(f"{sc} {profile} seed {seed}: {len(cost)} outputs")
    return rows


def write(rows: Sequence[dict], path) -> Path:
    R.write_rows(path, rows, COLUMNS)
    return Path(path)
