"""The deployment page's live demo: the exported levels of one kept model, in both precisions,
and a few hundred of its test images, for ONNX Runtime Web to run in the reader's browser.

``python -m dvnlib demo FJ2 --profile quick --seed 0`` writes ``DEMO_DIR`` (``book/_extra/``,
which the book copies to the top of its HTML; the page's script is ``book/_extra/demo/demo.js``):

* ``models/t<task>l<level>-<precision>.onnx``: every (task, level, precision), as the zoo exports
  and measures them (``zoo.model_rows``);
* ``images.bin``: ``IMAGES_PER_TASK`` raw uint8 test images of each task, one task after the
  other (a fixed subset balanced over labels, ``data.load_task``'s, drawn by seed 0);
* ``demo.json``: the model's identity (scenario, profile, seed, configuration, run key), each
  task's classes, image shape, offset in ``images.bin`` and labels, and per file its bytes and the
  accuracy the zoo measured on the run's test images (what the page's byte budget decides by, as
  ``net.level_for(task, max_bytes=...)`` does: ``budget.choose``) and its batch-1 latency through
  ONNX Runtime in Python on one thread (median of ``LATENCY_ROUNDS``).

The folder is built beside its target and swapped in whole: a failed build leaves the previous
demo as it was.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import deploy
from . import scenarios as S
from . import kept, zoo

DEMO_DIR = Path(__file__).resolve().parents[1] / "book" / "_extra" / "demo"
IMAGES_PER_TASK = 75
LATENCY_ROUNDS = 10  # batch-1 rounds of ONNX Runtime in Python, shown beside the browser's
# The page's own files, kept when the assets are rebuilt.
PAGE_FILES = ("demo.js",)


def build(scenario: str, profile: str, seed: int = 0, out=DEMO_DIR, root="results", data_root=None,
          images_per_task: int = IMAGES_PER_TASK, overrides: dict | None = None, log=None) -> Path:
    """Write the demo's assets of the kept ``dvn`` model of (scenario, profile, seed) to ``out``."""
    from .data import load_task
    log = log or (lambda s: None)
    net = kept.load(scenario, profile, seed, root=root, overrides=overrides)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "models").mkdir(parents=True)
    for name in PAGE_FILES:
        if (out / name).is_file():
            shutil.copy2(out / name, tmp / name)
    log(f"exporting and measuring every (task, level, precision) of {scenario} {profile} seed {seed}")
    rows = zoo.model_rows(net, data_root, rounds=LATENCY_ROUNDS, keep=tmp / "models")
    info = net.info
    s = S.with_profile(info["scenario"], info["profile"], **info["overrides"])
    tasks, blobs, offset = [], [], 0
    for t, task in enumerate(s.tasks, 1):
        d = load_task(task, "test", data_root, images_per_task, seed=0, native=True)
        x = d.x.numpy()
        blobs.append(x.tobytes())
        tasks.append({"task": t, "name": info["tasks"][t - 1]["name"], "classes": info["tasks"][t - 1]["class_names"],
                      "shape": list(x.shape[1:]), "offset": offset, "count": len(x), "labels": d.y.tolist()})
        offset += x.nbytes
    (tmp / "images.bin").write_bytes(b"".join(blobs))
    files = [{k: r[k] for k in ("task", "level", "precision", "units", "params", "onnx_bytes", "onnx_accuracy",
                                "n_test", "latency_ms")} | {"file": f"models/{r['file']}"} for r in rows]
    meta = {**{k: info[k] for k in ("scenario", "profile", "method", "seed", "config", "key")},
            "overrides": info["overrides"], "commit": rows[0]["commit"], "onnxruntime": rows[0]["onnxruntime"],
            "input": deploy.INPUT, "output": deploy.OUTPUT,
            "images_per_task": images_per_task, "tasks": tasks, "files": files}
    (tmp / "demo.json").write_text(json.dumps(meta, indent=1) + "\n")
    if out.exists():
        old = out.with_name(out.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
    return out


def read(folder=DEMO_DIR) -> dict:
    """The demo's ``demo.json``, with each task's images (numpy uint8, N x C x H x W) as ``x``."""
    import numpy as np
    folder = Path(folder)
    meta = json.loads((folder / "demo.json").read_text())
    raw = np.frombuffer((folder / "images.bin").read_bytes(), np.uint8)
    for t in meta["tasks"]:
        n = t["count"] * int(np.prod(t["shape"]))
        t["x"] = raw[t["offset"]:t["offset"] + n].reshape(t["count"], *t["shape"])
    return meta
