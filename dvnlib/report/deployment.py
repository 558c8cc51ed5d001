"""The deployment page (``book/deploy.md``), a call per section: the model zoo, the exported
files against their runs, accuracy against bytes, int8 against float32 at each top level, and the
live demo's frame. They share one reading of ``results/deploy/zoo.csv`` (``load_zoo``; ``zoo.py``
makes its tables and figure) and, while the zoo's models are not the current runs', says so wherever its numbers are shown."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import pandas as pd

from ..paper import project_root
from .pages import _display, _md, show_figure, show_table
from .records import is_current_run
from .sources import read_csv, results_dir
from .zoo import (INT8_MAX_ACCURACY_LOSS, INT8_MAX_BYTES_SHARE, export_agreement, int8_check, int8_table, zoo_figure,
                  zoo_source, zoo_source_text, zoo_summary, zoo_table)

ZOO_COMMAND = "bash scripts/deploy_zoo.sh"
DEMO_COMMAND = "python -m dvnlib demo FJ2 --profile study"
QUANTISATION = ("ONNX Runtime's static quantisation, QDQ: per-channel int8 weights, uint8 activations calibrated "
                "on 512 training images of the task")


def zoo_csv():
    return results_dir() / "deploy" / "zoo.csv"


@dataclass(frozen=True)
class Zoo:
    """The zoo as written, its summary over seeds and which of its models are the current runs'
    (``zoo_source``): read once for the page's sections."""
    rows: pd.DataFrame
    summary: pd.DataFrame
    source: dict

    @property
    def not_current_text(self) -> str:
        """What a table of the zoo's numbers opens with while its models are not the current runs'."""
        return zoo_source_text(self.source) + " " if self.source["other"] else ""


def load_zoo() -> Zoo | None:
    """The zoo, or None where it has not been measured; read again only when the file changes."""
    f = zoo_csv()
    return _load_zoo(str(f), f.stat().st_mtime_ns) if f.is_file() else None


@lru_cache(maxsize=2)
def _load_zoo(path: str, mtime_ns: int) -> Zoo:
    rows = read_csv(path)
    return Zoo(rows, zoo_summary(rows), zoo_source(rows))


def show_zoo():
    """Every (task, level, precision) of the zoo, averaged over seeds, with what each column is."""
    zoo = load_zoo()
    if zoo is None:
        _md(f"**Not measured:** `results/deploy/zoo.csv` is missing. `{ZOO_COMMAND}` writes it from the kept models.")
        return
    summary = zoo.summary
    profiles = ", ".join(sorted(set(summary["profile"])))
    whose = (zoo_source_text(zoo.source) if profiles == "study" else
             "These models were trained for this page at that profile (not the study's), so their accuracies "
             "are this page's own.")
    _md(f"Every (task, level) of every kept `dvn` model of the Fashion-MNIST twins, at the **{profiles}** profile "
        f"({summary['seeds'].max()} seeds), from `zoo.csv` (written by `{ZOO_COMMAND}`, which runs "
        f"`python -m dvnlib zoo`). {whose} *Parameters* are the output's own, as `python -m dvnlib summary` counts "
        f"them; the *ONNX file* holds that level alone, in float32 or int8 ({QUANTISATION}). The *file's test "
        "accuracy* is the exported file's through ONNX Runtime on the run's test images, from raw pixels, mean "
        "and 95% interval over seeds: what a byte budget is decided by; the *run's recorded accuracy* is the "
        "float32 network's as the run measured it (metrics). A file is *on the frontier* when it is more "
        "accurate than every smaller file of its task: the files some byte budget picks. *Latency*: one image "
        "through ONNX Runtime's CPU provider on one thread, median over timed rounds, on "
        f"{zoo.rows['hardware'].iloc[0]} (onnxruntime {zoo.rows['onnxruntime'].iloc[0]}).")
    show_table(zoo_table(summary), "Model zoo: every (task, level) of the twins' kept DVN models "
               "(results/deploy/zoo.csv)", "deploy")


def show_export_check():
    """Whether the exported float32 files give their runs' recorded accuracies."""
    zoo = load_zoo()
    if zoo is None:
        return
    rows = zoo.rows
    f32 = rows[rows["precision"] == "float32"] if "precision" in rows else rows
    _md(f"The exported float32 files reproduce the runs: {export_agreement(f32)}. The resize inside the file is "
        "exactly the training resize at 32 and 64 px; at 96 px (FJ3's third task) under 1% of the pixels differ "
        "by at most two grey levels, because torch quantises that resize's weights (the bound "
        "`tests/test_deploy.py` holds the export to).")


def show_zoo_figure():
    zoo = load_zoo()
    if zoo is not None:
        show_figure(zoo_figure(zoo.summary))


def show_int8():
    """The deployment targets at each task's top level, met or missed."""
    zoo = load_zoo()
    check = int8_check(zoo.rows) if zoo is not None else None
    if check is None or check.empty:
        _md(f"**Not measured:** the zoo has no int8 files. `{ZOO_COMMAND}` exports every level in both precisions.")
        return
    met = int((check["bytes_met"] & check["accuracy_met"]).sum())
    _md(zoo.not_current_text + "The deployment targets, at the top level of every task of every twin: the int8 "
        f"file at most {INT8_MAX_BYTES_SHARE:.0%} of the float32 file's bytes (the largest share over seeds "
        f"decides), and its test accuracy within {INT8_MAX_ACCURACY_LOSS} points of the float32 file's, mean over "
        f"seeds of the per-seed difference on the whole test split. **{met} of {len(check)} top levels meet "
        "both.** The top level is where int8 saves the most bytes; at the lowest levels the graph, scales and "
        "preprocessing that every file carries weigh more (the figure above).")
    show_table(int8_table(check), "int8 against float32 at each task's top level (results/deploy/zoo.csv)", "deploy")


def show_demo():
    """What the demo runs, and the elements its script (``book/_extra/demo/demo.js``) fills: the
    budget, the tables it measures, and its results as JSON in ``#dvn-demo-results``."""
    from IPython.display import HTML
    demo_json = project_root() / "book" / "_extra" / "demo" / "demo.json"
    if not demo_json.is_file():
        _md(f"**Not built:** `book/_extra/demo/demo.json` is missing. `{DEMO_COMMAND}` writes the demo from the "
            "kept models.")
        return
    demo = json.loads(demo_json.read_text())
    sizes = sorted(f["onnx_bytes"] for f in demo["files"])
    whose = ("a model of the study's current runs" if is_current_run(
                 demo["scenario"], demo["profile"], demo["seed"], demo.get("config")) else
             f"**a {demo['profile']}-profile model that is not among the runs the result pages show**: "
             "`python -m dvnlib demo` rebuilds the demo from a current run's model")
    _md(f"The levels of {demo['scenario']}'s kept `dvn` model (seed {demo['seed']}; {whose}), every task, level and "
        f"precision ({len(demo['files'])} ONNX files, {sizes[0] / 1024:.0f} to {sizes[-1] / 1024:.0f} kB), run in "
        f"this browser by ONNX Runtime Web on {demo['images_per_task']} real test images per task, shipped with the "
        "page. Set a byte budget: for each task the page picks the (level, precision) that `net.level_for(task, "
        "max_bytes=...)` picks, the best accuracy the zoo measured (on the run's test images) whose file fits, and "
        "shows every file's accuracy and latency as measured here. Nothing is fetched from the network: the "
        "WebAssembly engine is served with the book (`scripts/get_onnxruntime_web.sh`); browsers refuse it from "
        "`file://`, so serve the book over HTTP (the README gives the command).")
    _display(HTML(
        '<div id="dvn-demo"><p><label>Byte budget per task: <input id="dvn-demo-budget" type="number" '
        f'min="0" step="1000" value="{sizes[len(sizes) // 2]}"></label></p>'
        '<p id="dvn-demo-status">The demo runs when this page is served over HTTP with JavaScript on.</p>'
        '<div id="dvn-demo-tables"></div>'
        '<details><summary>What this browser measured (JSON)</summary>'
        '<pre id="dvn-demo-results"></pre></details></div>'))
